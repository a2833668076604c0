"""Claim ``bg21-stationary``: the Langevin ensemble's stationary histogram is the
Fokker–Planck density ``p ∝ (1/D) exp(−∫L'/D)`` (BG21; DESIGN.md §4.1).

Three cases share one protocol: constant noise in 1-D, state-dependent noise in 1-D
(Itô, Σ = σ²(1 + κ(θ−m_w)²)), and the 2-D family (x-marginal).  Every particle starts at
the wide minimum and runs for ``relax`` relaxation times 1/λ₁ (λ₁ the exact spectral gap in
1-D; the Eyring–Kramers rate sum in 2-D), so the initial condition's trace is ≲ e^{−relax}.
The particles are independent, so the sup-distance between their empirical CDF and the exact
CDF is a Kolmogorov–Smirnov statistic: at level α = 0.01 its critical value is
≈ 1.628/√n.  Euler–Maruyama's O(dt) bias is kept far below that by dt·max L'' ≤ 0.04.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import kstwo

from ..simulate.langevin import langevin_ensemble
from ..theory.basins import minima
from ..theory.density import StationaryDensity
from ..theory.escape import kramers_time, relaxation_rate
from ..theory.potentials import two_minima_1d, two_minima_2d
from .registry import ClaimResult, claim

SETTINGS = {
    "smoke": dict(n_particles=6000, dt=0.004, relax=7.0, T=0.4),
    "cpu": dict(n_particles=100_000, dt=0.002, relax=9.0, T=0.4),
    "paper": dict(n_particles=1_000_000, dt=0.001, relax=10.0, T=0.4),
}
ALPHA = 0.01


def _cases():
    return {
        "1-D, constant noise": two_minima_1d(),
        "1-D, state-dependent noise (κ=0.5)": two_minima_1d(kappa=0.5),
        "2-D, isotropic noise (x-marginal)": two_minima_2d(),
    }


@claim(
    "bg21-stationary",
    paper="BG21",
    statement="Langevin dynamics at temperature T=η/B settles into the Fokker–Planck "
    "stationary density p ∝ (1/D)exp(−∫L'/D) (1-D, constant and state-dependent noise; 2-D).",
)
def run(ctx) -> ClaimResult:
    cfg = SETTINGS[ctx.scale]
    T, n = cfg["T"], cfg["n_particles"]
    crit = kstwo.ppf(1 - ALPHA, n)
    metrics, rows, panels = {}, [], []
    for k, (label, pot) in enumerate(ctx.tqdm(list(_cases().items()), desc="bg21-stationary")):
        if pot.dim == 1:
            rate = relaxation_rate(pot, T)
        else:
            rate = 1 / kramers_time(pot, T, 0, 1) + 1 / kramers_time(pot, T, 1, 0)
        t_end = cfg["relax"] / rate
        n_steps = int(np.ceil(t_end / cfg["dt"]))
        res = langevin_ensemble(
            pot,
            T,
            n_particles=n,
            dt=cfg["dt"],
            n_steps=n_steps,
            x0=minima(pot)[0].location,
            seed=ctx.seed + k,
        )
        dens = StationaryDensity(pot, T)
        xs = np.sort(res.positions[:, 0])
        F = dens.marginal_cdf(xs, axis=0)
        ecdf_hi = np.arange(1, n + 1) / n
        ks = float(max(np.max(ecdf_hi - F), np.max(F - (ecdf_hi - 1 / n))))
        mass_sim = float(np.mean(res.positions[:, 0] < pot.split_offset))
        mass_fp = float(dens.basin_masses()[0])
        key = ["const1d", "state1d", "iso2d"][k]
        metrics |= {
            f"ks_{key}": ks,
            f"wide_mass_sim_{key}": mass_sim,
            f"wide_mass_fp_{key}": mass_fp,
            f"t_end_{key}": t_end,
        }
        rows.append((label, ks, crit, mass_sim, mass_fp, t_end, n_steps))
        panels.append((label, pot, dens, res))
    metrics["ks_critical"] = float(crit)
    ok = all(r[1] < r[2] for r in rows)

    fig = Figure(figsize=(12, 3.6))
    for i, (label, pot, dens, res) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        lo, hi = pot.domain[0]
        grid = np.linspace(lo, hi, 600)
        if pot.dim == 1:
            pdf = dens.pdf(grid)
        else:
            cdf = dens.marginal_cdf(grid, axis=0)
            pdf = np.gradient(cdf, grid)
        ax.hist(
            res.positions[:, 0],
            bins=120,
            range=(lo, hi),
            density=True,
            alpha=0.5,
            label=f"Langevin, n={n}",
        )
        ax.plot(grid, pdf, "k", lw=1.2, label="Fokker–Planck")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("θ" if pot.dim == 1 else "x")
        ax.set_xlim(-2.2, 2.2)
        ax.legend(fontsize=7)
    fig.suptitle(f"Stationary law at T = η/B = {T}")
    ctx.savefig(fig, "stationary_histograms")

    table = [
        "| case | KS distance | critical (α=0.01) | wide-basin mass sim | FP | t_end | steps |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    table += [
        f"| {r[0]} | {r[1]:.4f} | {r[2]:.4f} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:.0f} | {r[6]} |"
        for r in rows
    ]
    worst = max(rows, key=lambda r: r[1] / r[2])
    summary = (
        f"All three stationary histograms match the Fokker–Planck density (largest KS distance "
        f"{worst[1]:.4f} < {crit:.4f} at α={ALPHA}, n={n})."
        if ok
        else f"The {worst[0]} histogram departs from the Fokker–Planck density "
        f"(KS {worst[1]:.4f} ≥ {crit:.4f} at α={ALPHA}, n={n})."
    )
    details = "\n".join(table) + (
        f"\n\nEuler–Maruyama with dt = {cfg['dt']}; particles start at the wide minimum and run "
        f"{cfg['relax']} relaxation times. The KS critical value is the exact one-sample "
        "Kolmogorov quantile for n independent particles."
    )
    return ClaimResult("agree" if ok else "disagree", summary, metrics, details)
