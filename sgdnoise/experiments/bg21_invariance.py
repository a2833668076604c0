"""bg21-invariance: SGD at equal T = η/B has one stationary law while η is small (BG21).

True minibatch SGD (batches with replacement, so the minibatch covariance is exactly Σ/B)
on a finite-sample two-minima loss, at pairs (η, B) = (T·B, B) on one line of constant T.
In the SDE limit their stationary laws are all the Fokker–Planck law at temperature T.
The SDE drops O(ηh) terms; near a minimum of curvature h the exact SGD variance is
TΣ/(h(2 − ηh)) instead of TΣ/(2h) (:func:`sgdnoise.theory.ou.sgd_covariance`), and for
ηh ≥ 2 the minimum is not even linearly stable.  So the laws should part once η·h_max is
O(1), h_max the curvature of the narrow minimum.

Measurement: chains start on the FP law, run for 5 relaxation times 1/λ₁ (the exact 1-D
spectral gap), and their final states (independent across chains) are compared with the
smallest-η reference by two-sample Kolmogorov–Smirnov tests at Bonferroni level α/(k−1).

Because SGD at any η > 0 differs from the SDE at O(η), "same law" is an effect-size
statement: two laws *agree* when their KS distance D is below ε = 0.05 (five percent of
the probability mass misplaced) and *part* when D > ε and the KS test rejects.  The stated
power is the Monte Carlo power of that KS test (same n, same level) against a law at
distance ε — the FP law with ε of mass moved between the basins.  Prediction: the KS
distance between the finite-η linear-SGD laws (each basin a Gaussian with variance
TΣ/(h(2 − ηh)), FP basin masses; a basin with ηh ≥ 2 loses its mass) at η and at the
reference η; it omits the O(η) change of the basin weights, so it is a lower bound.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from ..simulate.sgd import sgd_chains
from ..theory.basins import minima
from ..theory.density import StationaryDensity
from ..theory.escape import relaxation_rate
from ..theory.ou import sgd_covariance
from ..theory.shift import mean_offset
from . import _bg21
from .registry import ClaimResult, claim

SETTINGS = {
    "smoke": dict(n=10_000, T=0.02, batches=(1, 2, 4, 8, 16, 32, 64), chains=6000, reps=200),
    "cpu": dict(
        n=10_000,
        T=0.02,
        batches=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64),
        chains=20_000,
        reps=200,
    ),
    "paper": dict(
        n=100_000,
        T=0.02,
        batches=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128),
        chains=100_000,
        reps=200,
    ),
}
ALPHA = 0.05
EPS = 0.05  # KS distance that counts as a different law
SDE_REGIME = 0.2  # η·h_max at or below which the laws must agree
RELAXATION_TIMES = 5.0


def _linear_sgd_law(prob, T, lr, mins, masses):
    """(weights, means, sds) of the finite-η linear-SGD law (module doc)."""
    P = np.polynomial.polynomial
    means, sds, w = [], [], []
    for m, wi in zip(mins, masses, strict=True):
        z, h = float(m.location[0]), float(m.hessian[0, 0])
        if lr * h >= 2:
            continue
        S0 = float(prob.noise(z))
        L3 = float(P.polyval(z, P.polyder(prob.loss_coeffs, 3)))
        means.append(z + mean_offset(h, L3, S0, 0.0, T))
        sds.append(np.sqrt(sgd_covariance(h, S0, T, lr)[0, 0]))
        w.append(wi)
    w = np.asarray(w) / np.sum(w) if w else np.zeros(0)
    return w, np.asarray(means), np.asarray(sds)


def _mixture_cdf(law, x):
    w, m, s = law
    if w.size == 0:
        return np.full_like(x, np.nan)
    return np.sum(w[:, None] * stats.norm.cdf((x[None, :] - m[:, None]) / s[:, None]), axis=0)


@claim(
    "bg21-invariance",
    paper="BG21",
    statement="SGD pairs (eta, B) with equal eta/B share one stationary law while eta*h_max "
    "is small, and part where the SDE approximation fails (eta*h_max = O(1))",
    scales=("smoke", "cpu", "paper"),
)
def run(ctx):
    cfg = SETTINGS[ctx.scale]
    T, n_ch = cfg["T"], cfg["chains"]
    prob = _bg21.problem(cfg["n"], ctx.seed)
    pot = prob.potential
    mins = minima(pot)
    h_max = max(float(m.hessian[0, 0]) for m in mins)
    dens = StationaryDensity(pot, T)
    masses = dens.basin_masses()
    t_total = RELAXATION_TIMES / relaxation_rate(pot, T)
    rng = np.random.default_rng(ctx.seed + 1)
    batches = cfg["batches"]
    lrs = [T * b for b in batches]
    k = len(batches)
    alpha_b = ALPHA / (k - 1)

    draw_fp = _bg21.stationary_sampler(pot, T)
    finals, diverged = [], []
    for i, (lr, b) in enumerate(ctx.tqdm(list(zip(lrs, batches, strict=True)), desc="pairs")):
        x0 = draw_fp(n_ch, rng)
        steps = int(np.ceil(t_total / lr))
        res = sgd_chains(
            prob, lr=lr, batch_size=b, n_chains=n_ch, n_steps=steps, x0=x0, seed=ctx.seed * 1000 + i
        )
        finals.append(res.positions[:, 0])
        diverged.append(res.diverged_fraction)

    ref = finals[0]
    fp_cdf = lambda x: dens.marginal_cdf(np.asarray(x))
    p_ref_fp = stats.kstest(ref, fp_cdf).pvalue
    grid = np.linspace(-2.5, 2.5, 4001)
    ref_law = _linear_sgd_law(prob, T, lrs[0], mins, masses)
    ref_cdf = _mixture_cdf(ref_law, grid)
    ks_d, p_vals, parted, pred_d = [np.nan], [np.nan], [False], [0.0]
    for i in range(1, k):
        ok = finals[i][np.isfinite(finals[i])]
        if ok.size >= 2 and diverged[i] < 0.5:
            test = stats.ks_2samp(ref, ok)
            ks_d.append(float(test.statistic))
            p_vals.append(float(test.pvalue))
        else:  # most chains diverged: no stationary law at all
            ks_d.append(1.0)
            p_vals.append(0.0)
        parted.append((ks_d[-1] > EPS and p_vals[-1] < alpha_b) or diverged[i] >= 0.5)
        law = _linear_sgd_law(prob, T, lrs[i], mins, masses)
        pred_d.append(
            1.0 if law[0].size == 0 else float(np.max(np.abs(_mixture_cdf(law, grid) - ref_cdf)))
        )
    # power of the KS test against a law at distance EPS: the reference law with EPS of mass
    # moved from the narrow to the wide basin
    w0 = ref_law[0]
    moved = (np.array([w0[0] + EPS, w0[1] - EPS]), ref_law[1], ref_law[2])
    power = _bg21.ks_power(
        _bg21.mixture_sampler(*ref_law),
        _bg21.mixture_sampler(*moved),
        n_ch,
        alpha_b,
        cfg["reps"],
        np.random.default_rng(ctx.seed + 2),
    )

    parted = np.array(parted)
    pred_d = np.array(pred_d)
    eta_part = next((lrs[i] for i in range(1, k) if parted[i]), np.nan)
    eta_pred = next((lrs[i] for i in range(1, k) if pred_d[i] > EPS), np.nan)
    # Verdict (stated in the report): the reference matches the FP law; no pair in the SDE
    # regime parts; the first parting falls where the SDE fails, SDE_REGIME < η·h_max ≤ 2;
    # every pair beyond the linear stability limit η·h_max = 2 parts; and the test has
    # power ≥ 0.8 against a law at distance EPS (else the run is inconclusive).
    small = [i for i in range(1, k) if lrs[i] * h_max <= SDE_REGIME]
    unstable = [i for i in range(1, k) if lrs[i] * h_max >= 2]
    ok_small = bool(small) and all(not parted[i] for i in small)
    ok_unstable = all(parted[i] for i in unstable)
    ok_ref = p_ref_fp > ALPHA
    ok_where = bool(np.isfinite(eta_part)) and SDE_REGIME < eta_part * h_max <= 2.0
    verdict = "agree" if (ok_small and ok_unstable and ok_ref and ok_where) else "disagree"
    if verdict == "agree" and power < 0.8:
        verdict = "inconclusive"
    split = pot.split_offset
    wide = [
        float(np.mean(f[np.isfinite(f)] < split)) if np.any(np.isfinite(f)) else np.nan
        for f in finals
    ]
    first = next((i for i in range(1, k) if parted[i]), k)
    last_agree = lrs[first - 1]

    rows = [
        "| η | B | η·h_max | KS D vs ref | p | predicted D (linear SGD) | wide-basin fraction "
        "| diverged | parted |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for i in range(k):
        rows.append(
            f"| {lrs[i]:.3g} | {batches[i]} | {lrs[i] * h_max:.3g} | {ks_d[i]:.4f} | "
            f"{p_vals[i]:.3g} | {pred_d[i]:.4f} | {wide[i]:.3f} | {diverged[i]:.3f} | "
            f"{'yes' if parted[i] else 'no'} |"
        )
    details = "\n".join(
        [
            f"T = η/B = {T}; N = {prob.n} training points; {n_ch} chains per pair, started on "
            f"the FP law and run for {t_total:.1f} time units (5 relaxation times). Batches "
            "with replacement. Two-sample KS against the smallest-η pair at Bonferroni level "
            f"{alpha_b:.4f}. A pair *parts* when its KS distance D exceeds ε = {EPS} and the "
            "test rejects (or most of its chains diverge). **Power**: "
            f"{power:.3f} ({cfg['reps']} Monte Carlo replicates, same n and level) against a "
            f"law at distance ε (the reference law with ε of mass moved between basins). "
            "Verdict: agree when the reference matches the FP law (one-sample KS "
            f"p = {p_ref_fp:.3g}), no pair with η·h_max ≤ {SDE_REGIME} parts, the first "
            f"parting falls at {SDE_REGIME} < η·h_max ≤ 2, every pair with η·h_max ≥ 2 "
            "parts, and the power is ≥ 0.8 (otherwise inconclusive). 'Predicted D' is the "
            "KS distance of the finite-η linear-SGD law (per-basin variance TΣ/(h(2−ηh)), "
            "FP basin masses) from the reference one: a lower bound, since finite η also "
            f"moves basin weight (FP wide-basin mass {masses[0]:.3f}; measured fractions "
            "below).",
            "",
            f"Parting measured at η = {eta_part:.3g} (η·h_max = {eta_part * h_max:.3g}); "
            f"predicted (D > ε) at η = {eta_pred:.3g} (η·h_max = {eta_pred * h_max:.3g}); "
            f"linear stability of the narrow minimum lost at η = 2/h_max = {2 / h_max:.3g}.",
            "",
            *rows,
        ]
    )

    fig = Figure(figsize=(11, 4))
    ax1, ax2 = fig.subplots(1, 2)
    xs = np.linspace(-2.0, 2.0, 600)
    ax1.plot(xs, dens.marginal_cdf(xs), "k", lw=2.5, label="FP law (SDE)")
    cmap = __import__("matplotlib").colormaps["viridis"]
    for i in range(k):
        x = np.sort(finals[i][np.isfinite(finals[i])])
        if x.size:
            ax1.step(
                x,
                np.arange(1, x.size + 1) / x.size,
                color=cmap(i / max(k - 1, 1)),
                lw=1,
                label=f"η={lrs[i]:.3g}, B={batches[i]}",
            )
    ax1.set(
        xlabel="θ", ylabel="CDF", title=f"SGD stationary laws at T = η/B = {T}", xlim=(-2.0, 2.0)
    )
    ax1.legend(fontsize=7)
    eh = np.array(lrs[1:]) * h_max
    ax2.plot(eh, ks_d[1:], "o-", label="measured KS D vs reference")
    ax2.plot(eh, pred_d[1:], "s--", label="predicted D (linear SGD, lower bound)")
    ax2.set_xscale("log", base=2)
    ax2.axhline(EPS, color="gray", ls=":", label=f"ε = {EPS}")
    ax2.axvline(SDE_REGIME, color="g", ls=":", label=f"η·h_max = {SDE_REGIME}")
    ax2.axvline(2.0, color="r", ls=":", label="η·h_max = 2 (unstable)")
    ax2.set(xlabel="η · h_max", ylabel="KS distance", title="where equal-T laws part")
    ax2.legend(fontsize=7)
    ctx.savefig(fig, "invariance")

    summary = (
        f"At T = {T}, pairs up to η·h_max = {last_agree * h_max:.2g} share one law "
        f"(the FP law); they part at η = {eta_part:.3g} (η·h_max = "
        f"{eta_part * h_max:.2g}; KS distance > {EPS}, test power {power:.2f}), the "
        f"finite-η SGD variance alone predicts {eta_pred:.3g}; stability limit "
        f"2/h_max = {2 / h_max:.3g}."
    )
    metrics = {
        "T": T,
        "h_max": h_max,
        "eta_part_measured": eta_part,
        "eta_part_predicted": eta_pred,
        "eta_stability_limit": 2 / h_max,
        "eta_part_times_h_max": eta_part * h_max,
        "reference_vs_fp_pvalue": p_ref_fp,
        "n_chains": n_ch,
        "max_ks_small_eta": max([ks_d[i] for i in small], default=np.nan),
        "power_at_eps": power,
        "eps": EPS,
    }
    return ClaimResult(verdict=verdict, summary=summary, metrics=metrics, details=details)
