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
Prediction of where they part: each basin as a Gaussian with the finite-η SGD variance,
weighted by the FP basin masses; the Monte Carlo power of the same KS test (same n, same
level) against that predicted law is the stated power at each η.
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
    "smoke": dict(n=10_000, T=0.02, batches=(1, 2, 4, 8, 16, 32, 64), chains=3000, reps=100),
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
RELAXATION_TIMES = 5.0
POWER_HIGH = 0.8


def _predicted_sampler(prob, T, lr, mins, masses):
    """Per-basin Gaussians with the finite-η SGD variance; a basin with η h ≥ 2 is unstable
    and its mass goes to the stable one (the crude but honest limit of the linear theory)."""
    means, sds, w = [], [], []
    for m, wi in zip(mins, masses, strict=True):
        z, h = float(m.location[0]), float(m.hessian[0, 0])
        S0 = float(prob.noise(z))
        L3 = float(
            np.polynomial.polynomial.polyval(
                z, np.polynomial.polynomial.polyder(prob.loss_coeffs, 3)
            )
        )
        if lr * h >= 2:
            continue
        means.append(z + mean_offset(h, L3, S0, 0.0, T))
        sds.append(np.sqrt(sgd_covariance(h, S0, T, lr)[0, 0]))
        w.append(wi)
    if not w:
        return None
    return _bg21.mixture_sampler(w, means, sds)


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
    ks_d, p_vals, parted, power = [np.nan], [np.nan], [False], [np.nan]
    ref_pred = _predicted_sampler(prob, T, lrs[0], mins, masses)
    prng = np.random.default_rng(ctx.seed + 2)
    for i in range(1, k):
        ok = finals[i][np.isfinite(finals[i])]
        if ok.size >= 2:
            test = stats.ks_2samp(ref, ok)
            ks_d.append(float(test.statistic))
            p_vals.append(float(test.pvalue))
        else:
            ks_d.append(1.0)
            p_vals.append(0.0)
        parted.append(p_vals[-1] < alpha_b or diverged[i] > 0)
        pred = _predicted_sampler(prob, T, lrs[i], mins, masses)
        power.append(
            1.0
            if pred is None
            else _bg21.ks_power(ref_pred, pred, n_ch, alpha_b, cfg["reps"], prng)
        )

    parted = np.array(parted)
    power = np.array(power)
    eta_part = next((lrs[i] for i in range(1, k) if parted[i]), np.nan)
    eta_pred = next((lrs[i] for i in range(1, k) if power[i] >= 0.5), np.nan)
    # Verdict (stated in the report): in the SDE regime (η·h_max ≤ 0.2) no pair may part;
    # wherever the linear theory makes the departure visible (power > 0.8) every pair must
    # part; and the first parting must fall where the SDE fails, 0.2 < η·h_max ≤ 2 (beyond 2
    # the narrow minimum is linearly unstable).  The variance-only prediction is a lower
    # bound on the departure (finite η also moves basin weights), so partings at lower
    # predicted power are allowed and reported.
    confident_part = [i for i in range(1, k) if power[i] > POWER_HIGH]
    small = [i for i in range(1, k) if lrs[i] * h_max <= 0.2]
    ok_small = bool(small) and all(not parted[i] for i in small)
    ok_part = all(parted[i] for i in confident_part)
    ok_ref = p_ref_fp > ALPHA
    ok_where = np.isfinite(eta_part) and 0.2 < eta_part * h_max <= 2.0
    verdict = "agree" if (ok_small and ok_part and ok_ref and ok_where) else "disagree"
    if verdict == "agree" and not confident_part:
        verdict = "inconclusive"
    split = pot.split_offset
    wide = [
        float(np.mean(f[np.isfinite(f)] < split)) if np.any(np.isfinite(f)) else np.nan
        for f in finals
    ]

    first = next((i for i in range(1, k) if parted[i]), k)
    last_agree = lrs[first - 1]
    rows = [
        "| η | B | η·h_max | KS D vs ref | p | predicted power | wide-basin fraction "
        "| diverged | parted |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for i in range(k):
        rows.append(
            f"| {lrs[i]:.3g} | {batches[i]} | {lrs[i] * h_max:.3g} | {ks_d[i]:.4f} | "
            f"{p_vals[i]:.3g} | {power[i]:.2f} | {wide[i]:.3f} | {diverged[i]:.3f} | "
            f"{'yes' if parted[i] else 'no'} |"
        )
    details = "\n".join(
        [
            f"T = η/B = {T}; N = {prob.n} training points; {n_ch} chains per pair, started on "
            f"the FP law and run for {t_total:.1f} time units (5 relaxation times). Batches "
            "with replacement. Two-sample KS against the smallest-η pair at Bonferroni level "
            f"{alpha_b:.4f}; 'predicted power' is the Monte Carlo power ({cfg['reps']} "
            "replicates, same n and level) of that test against the finite-η linear-SGD law "
            "(per-basin variance TΣ/(h(2−ηh)), FP basin masses), i.e. the power the test "
            "has to see the predicted departure. Verdict: agree when no pair with "
            f"η·h_max ≤ 0.2 is rejected, every pair with predicted power > {POWER_HIGH} is "
            "rejected, the first rejection falls at 0.2 < η·h_max ≤ 2, and the reference "
            f"matches the FP law (one-sample KS p = {p_ref_fp:.3g}). The variance-only "
            "prediction is a lower bound on the departure: finite η also moves the basin "
            f"weights (FP wide-basin mass {masses[0]:.3f}; measured fractions below), so "
            "pairs may part where its power is still low.",
            "",
            f"Parting measured at η = {eta_part:.3g} (η·h_max = {eta_part * h_max:.3g}); "
            f"predicted (power ≥ 0.5) at η = {eta_pred:.3g} (η·h_max = {eta_pred * h_max:.3g}); "
            f"linear stability of the narrow minimum lost at η = 2/h_max = {2 / h_max:.3g}.",
            "",
            *rows,
        ]
    )

    fig = Figure(figsize=(11, 4))
    ax1, ax2 = fig.subplots(1, 2)
    grid = np.linspace(-2.0, 2.0, 600)
    ax1.plot(grid, dens.marginal_cdf(grid), "k", lw=2.5, label="FP law (SDE)")
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
    ax2.plot(eh, power[1:], "s--", label="predicted power of the test")
    ax2.set_xscale("log", base=2)
    crit = stats.kstwo.ppf(1 - alpha_b, n_ch // 2) if n_ch >= 2 else np.nan
    ax2.axhline(crit, color="gray", ls=":", label="KS critical D (approx.)")
    ax2.axvline(2.0, color="r", ls=":", label="η·h_max = 2 (unstable)")
    ax2.set(xlabel="η · h_max", ylabel="KS distance / power", title="where equal-T laws part")
    ax2.legend(fontsize=7)
    ctx.savefig(fig, "invariance")

    summary = (
        f"At T = {T}, pairs up to η·h_max = {last_agree * h_max:.2g} share one law "
        f"(the FP law); they part at η = {eta_part:.3g} (η·h_max = "
        f"{eta_part * h_max:.2g}), predicted {eta_pred:.3g} from the finite-η SGD variance "
        f"(power stated per pair); stability limit 2/h_max = {2 / h_max:.3g}."
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
        "min_power_confident_part": min([power[i] for i in confident_part], default=np.nan),
    }
    return ClaimResult(verdict=verdict, summary=summary, metrics=metrics, details=details)
