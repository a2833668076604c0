"""The report of `bg21-cifar`'s shift decomposition: tables, figures and metrics
(:mod:`._bg21_cifar_shift` measures, :mod:`._bg21_cifar_shift_analysis` judges)."""

from __future__ import annotations

import math

import numpy as np

from . import _bg21_cifar_shift_analysis as sa

#: (column suffix, what it is) in the order the table shows them
ROWS = (
    ("train_min_gap", "penalty L_test − L_train at θ*_train"),
    ("penalty", "shift penalty Π = L_test(θ*_train) − L*_test"),
    ("shift_curvature", "½sᵀH_t s (theory, HVP)"),
    ("line_curvature", "curvature along s at its scale, c"),
    ("line_slope", "unfinished descent along s, a"),
    ("noise", "noise contribution N = L_test(θ_T) − L_test(θ*_train)"),
    ("shift_norm", "‖s‖"),
)


def _fmt(v) -> str:
    from ._plots import mean_ci

    m, lo, hi = mean_ci(v)
    return "—" if not math.isfinite(m) else f"{m:.3g} [{lo:.3g}, {hi:.3g}]"


def details(df, settings) -> str:
    """The decomposition per T and test set (seed mean [95% t interval])."""
    sub = sa.shift_rows(df)
    if not len(sub):
        return "Shift decomposition: no complete run."
    Ts = sorted(float(t) for t in sub["T"].unique())
    head = "| quantity | test set | " + " | ".join(f"T = {T:g}" for T in Ts) + " |"
    rows = [head, "|" + " --- |" * (len(Ts) + 2)]
    for q, what in ROWS:
        for k, where in sa.SHIFTS.items():
            vals = sa.per_T(df, f"{k}_{q}")
            rows.append(f"| {what} | {where} | " + " | ".join(_fmt(vals[T]) for T in Ts) + " |")
    tn = sa.per_T(df, "train_noise")
    rows.append("| L_train(θ_T) − L_train(θ*_train) | training set | "
                + " | ".join(_fmt(tn[T]) for T in Ts) + " |")  # fmt: skip
    n = int(sub["seed"].nunique())
    return (
        "Shift decomposition (our protocol; `_bg21_cifar_shift`): at the smallest batch size "
        f"B = {int(sub['batch'].min())}, each run's final iterate θ_T is fine-tuned on the "
        f"training set by cold SGD (T = {settings.shift_T:g}, B = {settings.shift_batch}, "
        f"SDE time {settings.shift_time:g}) to θ*_train, and θ*_train on each test set by the "
        "same budget to θ*_test; s = θ*_test − θ*_train, H_t the test loss's Hessian at "
        "θ*_test (one HVP), ½sᵀH_t s from `theory.shift.expected_test_loss_quadratic` in the "
        "span of s.  Exact telescoping: L_test(θ_T) = L*_test + Π + N.  c and a: the "
        "least-squares parabola L* + a·u + c·u² of the test loss along θ*_test − u·s, u ∈ "
        "[0, 1] (Π = a + c up to the fit; on a quadratic basin a = 0 and c = ½sᵀH_t s; c "
        "includes the ReLU kinks the pointwise Hessian misses).  Seed mean [95% t interval], "
        f"{n} seeds.\n\n" + "\n".join(rows)
    )


def metrics(df) -> dict:
    """Seed means of the judged per-seed values and of the terms at each T."""
    out = {}
    for k in sa.SHIFTS:
        for q in ("train_min_gap", "penalty", "shift_curvature", "line_curvature", "noise"):
            for T, v in sa.per_T(df, f"{k}_{q}").items():
                out[f"{k}_{q}_T_{T:g}"] = float(v.mean()) if v.size else math.nan
    judged = {
        "domain_minus_sampling_penalty": sa.domain_excess(df),
        "sampling_ratio_minus_1": sa.ratio_deviation(df, "sampling"),
        "domain_ratio_minus_1": sa.ratio_deviation(df, "domain"),
        "sampling_ln_curvature_change": sa.curvature_change(df, "sampling"),
        "domain_ln_curvature_change": sa.curvature_change(df, "domain"),
        "cold_curvature_minus_noise": sa.cold_dominance(df),
    }
    out.update({k: float(v.mean()) if v.size else math.nan for k, v in judged.items()})
    return out


def figures(ctx, df) -> None:
    """``bg21_cifar_shift_vs_T``: the penalties, Π beside ½sᵀHs, and their ratio vs T;
    ``bg21_cifar_shift_line``: the test loss along the shift against theory's parabola."""
    from matplotlib.figure import Figure

    from ._plots import log_axis, mean_ci, seeds_mean_ci, theory_line

    sub = sa.shift_rows(df)
    if not len(sub):
        return
    Ts = sorted(float(t) for t in sub["T"].unique())
    fig = Figure(figsize=(13.5, 3.9), layout="constrained")
    axes = fig.subplots(1, 3)
    colors = {"sampling": "tab:blue", "domain": "tab:red"}
    ax = axes[0]
    for k, where in sa.SHIFTS.items():
        v = sa.per_T(df, f"{k}_train_min_gap")
        seeds_mean_ci(ax, Ts, [v[T] for T in Ts], label=where, color=colors[k])
    ax.set(ylabel="L_test(θ*_train) − L_train(θ*_train)", title="measured penalty of the shift")
    ax = axes[1]
    for k, where in sa.SHIFTS.items():
        v = sa.per_T(df, f"{k}_penalty")
        seeds_mean_ci(ax, Ts, [v[T] for T in Ts], label=f"Π, {where}", color=colors[k])
        c = sa.per_T(df, f"{k}_shift_curvature")
        line = seeds_mean_ci(ax, Ts, [c[T] for T in Ts], label=f"½sᵀHs, {where}",
                             color=colors[k], marker="s")  # fmt: skip
        line.set_linestyle("--")
    ax.set(ylabel="nats", title="shift penalty Π and ½sᵀH_t s")
    ax = axes[2]
    for k, where in sa.SHIFTS.items():
        r = {T: sa.per_T(df, f"{k}_shift_curvature")[T] / sa.per_T(df, f"{k}_penalty")[T]
             for T in Ts}  # fmt: skip
        seeds_mean_ci(ax, Ts, [r[T] for T in Ts], label=where, color=colors[k])
    ax.axhspan(1 - sa.RATIO_MARGIN, 1 + sa.RATIO_MARGIN, color="tab:green", alpha=0.15,
               label=f"equivalence band 1 ± {sa.RATIO_MARGIN:g}")  # fmt: skip
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set(ylabel="½sᵀH_t s / Π", title="shift-curvature term / penalty")
    for ax in axes:
        log_axis(ax, "x", ticks=Ts)
        ax.set_xlabel("temperature T = η/B")
        ax.legend(fontsize=7)
    ctx.savefig(fig, "bg21_cifar_shift_vs_T")

    u = np.asarray(sa.LINE)
    fig = Figure(figsize=(9.5, 3.9), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (k, where) in zip(axes, sa.SHIFTS.items(), strict=True):
        for T in Ts:
            g = sub[sub["T"] == T]
            prof = np.stack([g[f"{k}_line_{j}"] - g[f"{k}_line_0"] for j in range(len(u))], 1)
            (ln,) = ax.plot(u, prof.mean(0), marker="o", ms=3, label=f"measured, T = {T:g}")
            half = float(mean_ci(g[f"{k}_shift_curvature"])[0])
            theory_line(ax, u, half * u**2, label=f"½u²sᵀH_t s, T = {T:g}",
                        color=ln.get_color(), lw=1)  # fmt: skip
        ax.set(xlabel="u (θ*_test − u·s: 0 = test minimum, 1 = train minimum)",
               ylabel="L_test − L*_test", title=f"test loss along the shift ({where})")  # fmt: skip
        ax.legend(fontsize=6)
    ctx.savefig(fig, "bg21_cifar_shift_line")
