"""KCL23 `kcl23-dropout`: higher dropout probabilities give smaller λmax, yet excessive
dropout degrades test accuracy.

Kaur, Cohen & Lipton (2023), finding (4); DESIGN.md §4.5.  Grid: p ∈ {0, 0.1, 0.2, 0.5, 0.6,
0.7} × seeds (smoke: {0, 0.2, 0.5}), through the shared protocol (:mod:`._kcl23_protocol`;
dropout is off while λmax is measured).  Criteria: λmax falls with p — Spearman ρ(p, λmax)
over runs with a bootstrap 95% interval below 0; excessive dropout hurts — test accuracy at
the largest p that reached the target is below the best p's, seed-paired 95% t interval
below 0.  Smoke checks the machinery and the λmax part only.
"""

from __future__ import annotations

from .registry import ClaimResult, claim

PS = {
    "smoke": [0.0, 0.2, 0.5],
    "cpu": [0.0, 0.1, 0.2, 0.5, 0.6, 0.7],
    "paper": [0.0, 0.1, 0.2, 0.5, 0.6, 0.7],
}
SGD = {
    "smoke": dict(lr=0.05, batch=16),
    "cpu": dict(lr=0.03, batch=32),
    "paper": dict(lr=0.05, batch=128),
}


@claim(
    "kcl23-dropout",
    paper="KCL23",
    statement="higher dropout lowers λmax, yet excessive dropout degrades test accuracy",
)
def run(ctx):
    from matplotlib.figure import Figure

    from . import _kcl23_protocol as P

    df = P.run_grid(
        ctx,
        "kcl23-dropout",
        P.fixed_for(ctx.scale, **SGD[ctx.scale]),
        {"dropout": PS[ctx.scale], "seed": P.seeds(ctx.scale, "kcl23-dropout")},
    )
    mach = P.machinery_checks(df)
    ok_mach = P.machinery_ok(mach, all_reached=ctx.scale == "smoke")
    ok = P.reached_runs(df)
    r_lam = P.rank_correlation(ok, "dropout", "lambda_max", seed=ctx.seed)
    means = ok.groupby("dropout")["test_accuracy"].mean()
    best, top = float(means.idxmax()), float(means.index.max())
    hurt = P.paired_effect(ok, "test_accuracy", "dropout", best, top)[None]
    lam_falls = r_lam[2] < 0
    statement = {
        "λmax falls with p": True if lam_falls else (False if r_lam[1] > 0 else None),
        # hurt = acc(largest p) − acc(best p): below 0 supports the statement
        "excessive p degrades accuracy": None
        if best == top
        else (True if hurt.negative else (False if hurt.positive else None)),
    }
    verdict, reason = P.decide(ctx.scale, ok_mach, {"λmax falls with p": lam_falls}, statement)
    metrics = dict(mach)
    head, head_text = P.headline(ok, ctx.seed)
    metrics.update(head)
    metrics.update(
        spearman_p_lambda=r_lam[0],
        spearman_p_lambda_ci_low=r_lam[1],
        spearman_p_lambda_ci_high=r_lam[2],
        best_p=best,
        largest_p_reached=top,
        acc_largest_minus_best=hurt.mean,
    )
    for p, sub in ok.groupby("dropout"):
        metrics[f"lambda_mean_p{p:g}"] = float(sub["lambda_max"].mean())
        metrics[f"acc_mean_p{p:g}"] = float(sub["test_accuracy"].mean())
    fig = Figure(figsize=(6.4, 3.4))
    a1, a2 = fig.subplots(1, 2)
    for ax, col, lab in ((a1, "lambda_max", "λmax"), (a2, "test_accuracy", "test accuracy")):
        ax.plot(ok["dropout"], ok[col], "o", alpha=0.5)
        m = ok.groupby("dropout")[col].mean()
        ax.plot(m.index, m.values, "k-")
        ax.set_xlabel("dropout p")
        ax.set_ylabel(lab)
    fig.suptitle("KCL23: dropout")
    ctx.savefig(fig, "kcl23_dropout")
    details = (
        P.summary_table(df, ["dropout"])
        + f"\n\nSpearman ρ(p, λmax) = {r_lam[0]:.2f} [{r_lam[1]:.2f}, {r_lam[2]:.2f}]; best p = "
        f"{best:g}, largest p that reached 99% = {top:g}, accuracy there minus at the best p = "
        f"{hurt.mean:+.4f} [{hurt.ci_low:+.4f}, {hurt.ci_high:+.4f}].  Runs that did not reach "
        f"the target within the epoch cap are excluded.  Verdict rule: {reason}.  "
        + head_text
        + (
            " Smoke scale checks the machinery and the λmax part only."
            if ctx.scale == "smoke"
            else ""
        )
    )
    summary = (
        f"λmax vs dropout p: ρ = {r_lam[0]:.2f} [{r_lam[1]:.2f}, {r_lam[2]:.2f}]; "
        f"best test accuracy at p = {best:g} ({ctx.scale} scale)."
    )
    return ClaimResult(verdict=verdict, summary=summary, metrics=metrics, details=details)
