"""Claim ``bg21-stationary``: the Langevin ensemble's stationary histogram is the
Fokker–Planck density ``p ∝ (1/D) exp(−∫L'/D)`` (BG21; DESIGN.md §4.1).

Three cases share one protocol: constant noise in 1-D, state-dependent noise in 1-D
(Itô, Σ = σ²(1 + κ(θ−m_w)²)), and the 2-D family (x-marginal).  Every particle starts at
the wide minimum and runs for ``relax`` relaxation times 1/λ₁ (λ₁ the exact spectral gap in
1-D; the Eyring–Kramers rate sum in 2-D), so the initial condition's trace is ≲ e^{−relax}.
Euler–Maruyama's O(dt) bias is kept small by dt·max L'' ≤ 0.04.

The particles are independent, so the sup-distance D between their empirical CDF and the
exact CDF is a Kolmogorov–Smirnov statistic.

* smoke — one ensemble per case; machinery check: D below the exact Kolmogorov critical
  value at α = 0.01 (``scipy.stats.kstwo``).  It fails when the law is wrong by more than
  ≈ 1.6/√n of probability mass.
* cpu, paper — ``replicates`` independent ensembles (own seeds) per case; equivalence of
  the per-replicate D with 0 against the margin D(p_T, p_{1.25T}), the exact KS distance
  between the FP laws at T and at 1.25 T: the histogram must sit closer to the FP law at
  its own temperature than a 25% change of T moves that law.  (D ≥ 0 has a null bias
  ≈ 0.87/√n; the settings keep it below a third of each margin.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import kstwo

from ..simulate.langevin import langevin_ensemble
from ..theory.basins import minima
from ..theory.density import StationaryDensity
from ..theory.escape import kramers_time, relaxation_rate
from ..theory.potentials import two_minima_1d, two_minima_2d
from .criteria import Criterion, evaluate
from .registry import ClaimResult, claim


@dataclass(frozen=True)
class Settings:
    n_particles: int  # per replicate ensemble
    replicates: int
    dt: float
    relax: float
    T: float = 0.4


SETTINGS = {
    "smoke": Settings(n_particles=6000, replicates=1, dt=0.004, relax=7.0),
    "cpu": Settings(n_particles=20_000, replicates=5, dt=0.004, relax=8.0),
    "paper": Settings(n_particles=200_000, replicates=10, dt=0.001, relax=10.0),
}
ALPHA = 0.01  # smoke: level of the Kolmogorov critical value
T_FACTOR = 1.25  # cpu/paper: the margin is the distance the FP law moves when T → 1.25 T
CASES = ("const1d", "state1d", "iso2d")


def _cases():
    return {
        "const1d": ("1-D, constant noise", two_minima_1d()),
        "state1d": ("1-D, state-dependent noise (κ=0.5)", two_minima_1d(kappa=0.5)),
        "iso2d": ("2-D, isotropic noise (x-marginal)", two_minima_2d()),
    }


def ks_distance(x, cdf) -> float:
    """sup |F_n − F| of the sample ``x`` against the CDF values ``cdf(sorted x)``."""
    xs = np.sort(np.asarray(x, float))
    F = cdf(xs)
    n = xs.size
    hi = np.arange(1, n + 1) / n
    return float(max(np.max(hi - F), np.max(F - (hi - 1 / n))))


def law_margin(pot, T: float) -> float:
    """D(p_T, p_{1.25T}): the exact KS distance between the FP x-marginals at T and 1.25 T."""
    grid = np.linspace(*pot.domain[0], 20001)
    a = StationaryDensity(pot, T).marginal_cdf(grid, axis=0)
    b = StationaryDensity(pot, T_FACTOR * T).marginal_cdf(grid, axis=0)
    return float(np.max(np.abs(a - b)))


def criteria(cfg: Settings, margins: dict, smoke: bool) -> list[Criterion]:
    """One criterion per case (module doc): machinery at smoke, equivalence otherwise."""
    out = []
    for key in CASES:
        label = _cases()[key][0]
        says = f"{label}: the stationary law is the Fokker–Planck density at T = η/B"
        if smoke:
            crit = float(kstwo.ppf(1 - ALPHA, cfg.n_particles))
            out.append(Criterion(f"ks-{key}", says, "machinery", low=0.0, high=crit))
        else:
            m = margins[key]
            out.append(
                Criterion(
                    f"ks-{key}", says, "equivalence", margin=m,
                    margin_reason=f"KS distance between the FP laws at T and {T_FACTOR}T "
                    "(exact): the histogram must resolve T to 25%",
                )
            )  # fmt: skip
    return out


def analyse(ks: dict, cfg: Settings, margins: dict, *, smoke: bool):
    """Judgements from ``ks[case]``: the per-replicate KS distances of each case."""
    return evaluate(criteria(cfg, margins, smoke), {f"ks-{k}": ks[k] for k in CASES})


@claim(
    "bg21-stationary",
    paper="BG21",
    statement="Langevin dynamics at temperature T=η/B settles into the Fokker–Planck "
    "stationary density p ∝ (1/D)exp(−∫L'/D) (1-D, constant and state-dependent noise; 2-D).",
)
def run(ctx) -> ClaimResult:
    cfg = SETTINGS[ctx.scale]
    smoke = ctx.scale == "smoke"
    T, n = cfg.T, cfg.n_particles
    ks, rows, panels, margins, metrics = {}, [], [], {}, {}
    jobs = [(k, r) for k in CASES for r in range(cfg.replicates)]
    for key, r in ctx.tqdm(jobs, desc="bg21-stationary"):
        label, pot = _cases()[key]
        if pot.dim == 1:
            rate = relaxation_rate(pot, T)
        else:
            rate = 1 / kramers_time(pot, T, 0, 1) + 1 / kramers_time(pot, T, 1, 0)
        n_steps = int(np.ceil(cfg.relax / rate / cfg.dt))
        res = langevin_ensemble(
            pot, T, n_particles=n, dt=cfg.dt, n_steps=n_steps,
            x0=minima(pot)[0].location, seed=ctx.seed + 1000 * CASES.index(key) + r,
        )  # fmt: skip
        dens = StationaryDensity(pot, T)
        x = res.positions[:, 0]
        d = ks_distance(x, lambda v, dens=dens: dens.marginal_cdf(v, axis=0))
        ks.setdefault(key, []).append(d)
        mass_sim = float(np.mean(x < pot.split_offset))
        rows.append((label, r, d, mass_sim, float(dens.split_masses()[0]), n_steps * cfg.dt))
        if r == 0:
            panels.append((label, pot, dens, x))
            margins[key] = np.nan if smoke else law_margin(pot, T)
    judgements = analyse(ks, cfg, margins, smoke=smoke)
    for key in CASES:
        metrics[f"ks_mean_{key}"] = float(np.mean(ks[key]))
        if not smoke:
            metrics[f"ks_margin_{key}"] = margins[key]
    metrics["ks_critical_smoke"] = float(kstwo.ppf(1 - ALPHA, n))
    metrics["ks_null_mean"] = 0.8687 / np.sqrt(n)  # E sup|B| = √(π/2)·ln 2

    fig = Figure(figsize=(12, 3.6))
    for i, (label, pot, dens, x) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        lo, hi = pot.domain[0]
        grid = np.linspace(lo, hi, 600)
        pdf = dens.pdf(grid) if pot.dim == 1 else np.gradient(dens.marginal_cdf(grid, 0), grid)
        ax.hist(x, bins=120, range=(lo, hi), density=True, alpha=0.5, label=f"Langevin, n={n}")
        ax.plot(grid, pdf, "k--", lw=1.2, label="Fokker–Planck (theory)")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("θ" if pot.dim == 1 else "x")
        ax.set_xlim(-2.2, 2.2)
        ax.legend(fontsize=7)
    fig.suptitle(f"Stationary law at T = η/B = {T} (replicate 0 of {cfg.replicates})")
    ctx.savefig(fig, "stationary_histograms")

    table = [
        "| case | replicate | KS distance D | wide-basin mass sim | FP | t_end |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    table += [f"| {a} | {r} | {d:.4f} | {m:.4f} | {f:.4f} | {t:.0f} |" for a, r, d, m, f, t in rows]
    worst = max(
        judgements, key=lambda j: j.estimate / (j.ci_high if smoke else margins[j.name[3:]])
    )
    summary = (
        f"Largest KS distance {worst.estimate:.4f} ({worst.name}); "
        + ", ".join(f"{j.name} {j.decision}" for j in judgements)
        + f" (n = {n} particles × {cfg.replicates} replicate(s), T = {T})."
    )
    details = "\n".join(
        [
            *table,
            "",
            f"Euler–Maruyama with dt = {cfg.dt}; particles start at the wide minimum and run "
            f"{cfg.relax} relaxation times. Null mean of D for n = {n}: "
            f"{metrics['ks_null_mean']:.4f}. "
            + (
                f"Smoke: D against the exact Kolmogorov critical value at α = {ALPHA}."
                if smoke
                else "Margins D(p_T, p_1.25T): "
                + ", ".join(f"{k} {margins[k]:.4f}" for k in CASES)
                + "."
            ),
        ]
    )
    return ClaimResult(summary=summary, criteria=judgements, metrics=metrics, details=details)
