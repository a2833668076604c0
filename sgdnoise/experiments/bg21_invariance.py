"""bg21-invariance: SGD at equal T = η/B has one stationary law while η is small (BG21).

True minibatch SGD (batches with replacement, so the minibatch covariance is exactly Σ/B)
on a finite-sample two-minima loss, at pairs (η, B) = (T·B, B) on one line of constant T,
and one contrast run at 2T (B = 1) on the same grid.  In the SDE limit the equal-T laws
are all the Fokker–Planck law at T.  The SDE drops O(ηh) terms: near a minimum of
curvature h the exact SGD variance is TΣ/(h(2 − ηh)) instead of TΣ/(2h)
(:func:`sgdnoise.theory.ou.sgd_covariance`), and for ηh ≥ 2 the minimum is not even
linearly stable, so the laws part once η·h_max = O(1), h_max the narrow minimum's
curvature.

Measurement: ``replicates`` independent ensembles (own seeds; the sampling unit) per pair,
chains started on the FP law and run for 5 relaxation times 1/λ₁.  Two statistics of each
ensemble's final states: the wide-basin fraction, and the log variance of the chains in
the narrow basin (where ηh is largest), read from their interquartile range.

Criteria (smoke: each as a machinery check on the replicate mean):

1. ``equal-T-same-occupation``, ``equal-T-same-spread`` (equivalence): per replicate, max
   over the pairs in the SDE regime (η·h_max ≤ :data:`SDE_REGIME`, B > 1) of |statistic −
   statistic at B = 1|.  Margin: half the change of the same statistic when T doubles,
   measured on the same grid (replicate mean) — equal-T laws must be closer to each other
   than to the law at 2T by at least a factor two.
2. ``laws-part-at-large-eta`` (direction, derived): per replicate, the narrow basin's log
   variance at B = ``break_batch`` (η·h_max ≈ 1.2) minus at B = 1, minus the spread margin:
   positive when the law has moved by more than equal-T laws may differ.  Effect: the
   linear-SGD prediction log[(2 − η₀h)/(2 − ηh)] minus the margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from ..simulate.sgd import sgd_chains
from ..theory.basins import minima
from ..theory.density import StationaryDensity
from ..theory.escape import relaxation_rate
from ..theory.ou import sgd_covariance
from . import _bg21
from ._plots import log_axis, seeds_mean_ci, theory_line
from .criteria import Criterion
from .registry import ClaimResult, claim


@dataclass(frozen=True)
class Settings:
    n: int
    T: float
    batches: tuple  # B = 1 first: the reference
    break_batch: int
    replicates: int
    chains: int  # per replicate ensemble


SETTINGS = {
    "smoke": Settings(
        n=10_000, T=0.02, batches=(1, 2, 3, 4, 8, 16), break_batch=16, replicates=2,
        chains=3000,
    ),
    "cpu": Settings(
        n=10_000, T=0.02, batches=(1, 2, 3, 4, 6, 8, 12, 16, 32), break_batch=16,
        replicates=5, chains=4000,
    ),
    "paper": Settings(
        n=100_000, T=0.02, batches=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32), break_batch=16,
        replicates=10, chains=20_000,
    ),
}  # fmt: skip
SDE_REGIME = 0.25  # η·h_max at or below which equal-T laws must agree
MARGIN_FRACTION = 0.5  # of the change of a statistic when T doubles
RELAXATION_TIMES = 5.0


def statistics(x: np.ndarray, split: float, box) -> tuple[float, float]:
    """(wide-basin fraction, log variance of the narrow-basin chains) of final states
    ``x``; chains that diverged or left the potential's ``box`` (lo, hi) — escaped over the
    steep outer walls — are left out, NaN when too few remain.  The variance is read from
    the interquartile range, (IQR/1.349)² (exact for a Gaussian basin): the sample variance
    is dominated by the few chains crossing the barrier, which made it scatter 0.1 in log
    between replicates of 3000 chains."""
    x = x[np.isfinite(x) & (x >= box[0]) & (x <= box[1])]
    narrow = x[x >= split]
    if x.size < 10 or narrow.size < 10:
        return np.nan, np.nan
    q1, q3 = np.percentile(narrow, [25, 75])
    return float(np.mean(x < split)), float(2 * np.log((q3 - q1) / 1.349))


def predicted_log_var(h: float, sigma: float, T: float, lr: float) -> float:
    """log of the linear-SGD variance TΣ/(h(2 − ηh)) of a minimum (NaN when ηh ≥ 2)."""
    v = float(sgd_covariance(h, sigma, T, lr)[0, 0]) if lr * h < 2 else np.nan
    return float(np.log(v)) if v > 0 else np.nan


def criteria(margins: dict, break_effect: float, eta_h_break: float) -> list[Criterion]:
    """The claim's criteria (module doc); ``margins`` measured on the grid."""
    why = "half the change of this statistic when T doubles (measured, same grid)"
    return [
        Criterion(
            "equal-T-same-occupation",
            "SGD at several (η, B) with equal η/B has the same stationary law: wide-basin "
            "occupation", "equivalence", margin=margins["occupation"], margin_reason=why,
        ),
        Criterion(
            "equal-T-same-spread",
            "SGD at several (η, B) with equal η/B has the same stationary law: spread in "
            "the narrow minimum", "equivalence", margin=margins["spread"], margin_reason=why,
        ),
        Criterion(
            "laws-part-at-large-eta",
            f"the invariance breaks where the SDE fails (η·h_max = {eta_h_break:.2g}): the "
            "variance TΣ/(h(2 − ηh)) exceeds the equal-T margin", "direction", sign=1,
            effect=break_effect, derived=True,
            effect_reason="linear-SGD log-variance increase minus the spread margin",
        ),
    ]  # fmt: skip


def analyse(stats_: dict, contrast: dict, batches, sde_batches, break_batch, pred_break,
            eta_h_break: float, *, smoke: bool):  # fmt: skip
    """(judgements, margins) from per-replicate statistics: ``stats_[name]`` an array
    (replicates × batches), ``contrast[name]`` an array over replicates at 2T (B = 1);
    ``pred_break``: the predicted log-variance increase at ``break_batch``, whose η·h_max
    is ``eta_h_break``."""
    batches = list(batches)
    cols = [batches.index(b) for b in sde_batches]
    margins = {
        k: MARGIN_FRACTION * abs(float(np.nanmean(contrast[k]) - np.nanmean(stats_[k][:, 0])))
        for k in ("occupation", "spread")
    }
    data = {}
    for k, name in (("occupation", "equal-T-same-occupation"), ("spread", "equal-T-same-spread")):
        d = np.abs(stats_[k][:, cols] - stats_[k][:, [0]]).max(axis=1)
        data[name] = d[np.isfinite(d)]
    ib = batches.index(break_batch)
    d = stats_["spread"][:, ib] - stats_["spread"][:, 0] - margins["spread"]
    data["laws-part-at-large-eta"] = d[np.isfinite(d)]
    effect = max(pred_break - margins["spread"], 1e-3)
    judgements = _bg21.judge(criteria(margins, effect, eta_h_break), data, machinery=smoke)
    return judgements, margins


@claim(
    "bg21-invariance",
    paper="BG21",
    statement="SGD pairs (eta, B) with equal eta/B share one stationary law while eta*h_max "
    "is small, and part where the SDE approximation fails (eta*h_max = O(1))",
    scales=("smoke", "cpu", "paper"),
)
def run(ctx):
    cfg = SETTINGS[ctx.scale]
    T = cfg.T
    prob = _bg21.problem(cfg.n, ctx.seed)
    pot = prob.potential
    mins = minima(pot)
    h = [float(m.hessian[0, 0]) for m in mins]
    h_max = max(h)
    narrow = int(np.argmax(h))
    sig_n = float(prob.noise(float(mins[narrow].location[0])))
    split = pot.split_offset
    draw_fp = _bg21.stationary_sampler(pot, T)
    batches = cfg.batches
    runs = [(T, b) for b in batches] + [(2 * T, 1)]
    out = {k: np.full((cfg.replicates, len(runs)), np.nan) for k in ("occupation", "spread")}
    diverged = np.zeros((cfg.replicates, len(runs)))
    finals = {}
    jobs = [(i, r) for i in range(len(runs)) for r in range(cfg.replicates)]
    for i, r in ctx.tqdm(jobs, desc="bg21-invariance"):
        t, b = runs[i]
        lr = t * b
        t_total = RELAXATION_TIMES / relaxation_rate(pot, t)
        rng = np.random.default_rng([ctx.seed, r, i])
        x0 = (draw_fp if t == T else _bg21.stationary_sampler(pot, t))(cfg.chains, rng)
        res = sgd_chains(
            prob, lr=lr, batch_size=b, n_chains=cfg.chains, n_steps=int(np.ceil(t_total / lr)),
            x0=x0, seed=ctx.seed * 100_000 + 1000 * r + i,
        )  # fmt: skip
        x = res.positions[:, 0]
        out["occupation"][r, i], out["spread"][r, i] = statistics(x, split, pot.domain[0])
        diverged[r, i] = float(np.mean(~(np.abs(x) <= max(map(abs, pot.domain[0])))))
        if r == 0:
            finals[i] = x
    k = len(batches)
    stats_ = {key: v[:, :k] for key, v in out.items()}
    contrast = {key: v[:, k] for key, v in out.items()}
    sde = [b for b in batches[1:] if T * b * h_max <= SDE_REGIME]
    pred = np.array([predicted_log_var(h[narrow], sig_n, T, T * b) for b in batches])
    pred_break = float(pred[list(batches).index(cfg.break_batch)] - pred[0])
    eta_h = np.array(batches) * T * h_max
    judgements, margins = analyse(
        stats_, contrast, batches, sde, cfg.break_batch, pred_break,
        T * cfg.break_batch * h_max, smoke=ctx.scale == "smoke",
    )  # fmt: skip

    fp_wide = float(StationaryDensity(pot, T).basin_masses()[0])
    fp_wide2 = float(StationaryDensity(pot, 2 * T).basin_masses()[0])
    rows = [
        "| η | B | T | η·h_max | wide fraction (mean ± sd) | log var narrow (mean ± sd) | "
        "predicted log var (linear SGD) | diverged or escaped |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for i, (t, b) in enumerate(runs):
        o, s = out["occupation"][:, i], out["spread"][:, i]
        p = predicted_log_var(h[narrow], sig_n, t, t * b)
        rows.append(
            f"| {t * b:.3g} | {b} | {t:g} | {t * b * h_max:.3g} | {np.nanmean(o):.4f} ± "
            f"{np.nanstd(o, ddof=1) if cfg.replicates > 1 else np.nan:.4f} | "
            f"{np.nanmean(s):.4f} ± {np.nanstd(s, ddof=1) if cfg.replicates > 1 else np.nan:.4f}"
            f" | {p:.4f} | {diverged[:, i].mean():.3f} |"
        )
    details = "\n".join(
        [
            f"T = η/B = {T}; N = {prob.n} training points; {cfg.replicates} replicate "
            f"ensembles × {cfg.chains} chains per pair, started on the FP law and run for "
            f"{RELAXATION_TIMES:g} relaxation times; batches with replacement. h_max = "
            f"{h_max:.3f}. SDE regime (equivalence judged): B ∈ {sde} "
            f"(η·h_max ≤ {SDE_REGIME}). Margins (half the change when T doubles, measured): "
            f"occupation {margins['occupation']:.4f}, log-variance {margins['spread']:.4f}. "
            f"FP wide-basin mass {fp_wide:.4f} at T, {fp_wide2:.4f} at 2T. The narrow minimum "
            f"loses linear stability at η = 2/h_max = {2 / h_max:.3g}; a pair whose chains "
            "diverge has no stationary law (NaN).",
            "",
            *rows,
        ]
    )

    fig = Figure(figsize=(14, 4.2), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    xs = np.linspace(-2.0, 2.0, 600)
    ax1.plot(xs, StationaryDensity(pot, T).marginal_cdf(xs), "k--", lw=2, label="FP law (SDE)")
    cmap = __import__("matplotlib").colormaps["viridis"]
    for i in range(k):
        x = np.sort(finals[i][np.isfinite(finals[i])])
        if x.size:
            ax1.step(x, np.arange(1, x.size + 1) / x.size, color=cmap(i / max(k - 1, 1)), lw=1,
                     label=f"η={T * batches[i]:.3g}, B={batches[i]}")  # fmt: skip
    ax1.set(xlabel="θ", ylabel="CDF", title=f"SGD laws at T = {T} (replicate 0)", xlim=(-2, 2))
    ax1.legend(fontsize=6)
    for ax, key, lab in ((ax2, "occupation", "wide-basin fraction"),
                         (ax3, "spread", "log variance in the narrow basin")):  # fmt: skip
        ok = [i for i in range(k) if np.isfinite(stats_[key][:, i]).any()]
        seeds_mean_ci(ax, eta_h[ok], [stats_[key][:, i] for i in ok], label=f"T = {T}")
        ax.axhspan(np.nanmean(stats_[key][:, 0]) - margins[key],
                   np.nanmean(stats_[key][:, 0]) + margins[key], color="gray", alpha=0.15,
                   label="B = 1 ± margin")  # fmt: skip
        ax.axhline(np.nanmean(contrast[key]), color="C3", ls="-.", lw=1, label=f"2T = {2 * T}")
        ax.axvline(
            SDE_REGIME, color="g", ls=":", lw=1, label=f"η·h_max = {SDE_REGIME} (SDE regime)"
        )
        ax.axvline(2.0, color="r", ls=":", lw=1, label="η·h_max = 2")
        if key == "spread":  # the basin is anharmonic: compare changes from B = 1
            base = np.nanmean(stats_[key][:, 0]) - pred[0]
            theory_line(ax, eta_h[ok], pred[ok] + base, derived=True,
                        label="linear SGD TΣ/(h(2−ηh)), change from B = 1")  # fmt: skip
        log_axis(ax, "x", ticks=[round(v, 2) for v in eta_h[ok][::2]])
        ax.set(xlabel="η · h_max", ylabel=lab)
        ax.legend(fontsize=6)
    ctx.savefig(fig, "invariance")

    summary = "; ".join(f"{j.name} {j.decision} ({j.estimate:.3g})" for j in judgements) + (
        f". Margins: occupation {margins['occupation']:.3f}, log-variance "
        f"{margins['spread']:.3f}; the narrow basin's log variance grows by "
        f"{np.nanmean(stats_['spread'][:, list(batches).index(cfg.break_batch)] - stats_['spread'][:, 0]):.3f} "  # noqa: E501
        f"at η·h_max = {T * cfg.break_batch * h_max:.2g} (linear SGD: {pred_break:.3f})."
    )
    metrics = {
        "T": T,
        "h_max": h_max,
        "margin_occupation": margins["occupation"],
        "margin_spread": margins["spread"],
        "predicted_break_log_var": pred_break,
        "eta_stability_limit": 2 / h_max,
        "max_diverged_fraction": float(diverged.max()),
    }
    return ClaimResult(summary=summary, criteria=judgements, metrics=metrics, details=details)
