"""KCL23 `kcl23-scaling`: scaling the learning rate and the batch size together (η/B fixed)
moves λmax but not the test accuracy.

Kaur, Cohen & Lipton (2023), finding (2); DESIGN.md §4.5.  Grid: (η, B) = (k η0, k B0) for
k on a geometric ladder × seeds, through the shared protocol (:mod:`._kcl23_protocol`).
Criteria: λmax moves — Spearman ρ(k, λmax) over runs with a bootstrap 95% interval that
excludes 0; accuracy does not — the largest gap between the per-k seed means of test
accuracy is below the stated equivalence margin (``ACC_MARGIN``) and ρ(k, accuracy)'s interval
contains 0.  Smoke checks the machinery and the λmax part only.
"""

from __future__ import annotations

from .registry import ClaimResult, claim

LADDER = {
    "smoke": dict(lr=[0.025, 0.05, 0.1, 0.2], batch=[8, 16, 32, 64]),
    "cpu": dict(lr=[0.0125, 0.025, 0.05, 0.1], batch=[25, 50, 100, 200]),
    "paper": dict(lr=[0.0125, 0.025, 0.05, 0.1, 0.2], batch=[64, 128, 256, 512, 1024]),
}
#: Equivalence margin on test accuracy (absolute): about 2 binomial standard errors of one
#: accuracy on the cpu test set (1017 images at ≈ 50%: 2·0.016) and KCL23's "same
#: generalization" band on full CIFAR-10 (within ≈ 1 point).
ACC_MARGIN = {"smoke": 0.05, "cpu": 0.03, "paper": 0.01}


@claim(
    "kcl23-scaling",
    paper="KCL23",
    statement="scaling η and B together (η/B fixed) changes λmax but not test accuracy",
)
def run(ctx):
    from . import _kcl23_protocol as P

    lad = LADDER[ctx.scale]
    df = P.run_grid(
        ctx,
        "kcl23-scaling",
        P.fixed_for(ctx.scale),
        {"seed": P.seeds(ctx.scale, "kcl23-scaling")},
        zip_axes=lad,
    )
    mach = P.machinery_checks(df)
    ok_mach = P.machinery_ok(mach, all_reached=ctx.scale == "smoke")
    ok = P.reached_runs(df).copy()
    ok["k"] = ok["lr"] / min(lad["lr"])
    r_lam = P.rank_correlation(ok, "k", "lambda_max", seed=ctx.seed)
    r_acc = P.rank_correlation(ok, "k", "test_accuracy", seed=ctx.seed)
    means = ok.groupby("k")["test_accuracy"].mean()
    gap = float(means.max() - means.min())
    margin = ACC_MARGIN[ctx.scale]
    lam_moves = r_lam[1] > 0 or r_lam[2] < 0
    acc_flat = gap <= margin and r_acc[1] <= 0 <= r_acc[2]
    acc_moves = r_acc[1] > 0 or r_acc[2] < 0
    statement = {
        "λmax moves along η/B = const": True if lam_moves else None,
        "test accuracy does not": True if acc_flat else (False if acc_moves else None),
    }
    verdict, reason = P.decide(ctx.scale, ok_mach, {"λmax moves": lam_moves}, statement)
    metrics = dict(mach)
    head, head_text = P.headline(ok, ctx.seed)
    metrics.update(head)
    metrics.update(
        spearman_k_lambda=r_lam[0],
        spearman_k_lambda_ci_low=r_lam[1],
        spearman_k_lambda_ci_high=r_lam[2],
        spearman_k_acc=r_acc[0],
        spearman_k_acc_ci_low=r_acc[1],
        spearman_k_acc_ci_high=r_acc[2],
        acc_gap=gap,
        acc_margin=margin,
        lambda_ratio_extremes=float(
            ok[ok.k == ok.k.max()]["lambda_max"].mean()
            / ok[ok.k == ok.k.min()]["lambda_max"].mean()
        ),
    )
    ctx.savefig(
        P.lambda_accuracy_figure(ok, "batch", "KCL23: η and B scaled together"), "kcl23_scaling"
    )
    details = (
        P.summary_table(df, ["lr", "batch"])
        + f"\n\nSpearman ρ(k, λmax) = {r_lam[0]:.2f} [{r_lam[1]:.2f}, {r_lam[2]:.2f}]; "
        f"ρ(k, test acc) = {r_acc[0]:.2f} [{r_acc[1]:.2f}, {r_acc[2]:.2f}]; largest gap of "
        f"mean accuracies {gap:.4f} (margin {margin}).  Verdict rule: {reason}.  "
        + head_text
        + (
            " Smoke scale checks the machinery and the λmax part only."
            if ctx.scale == "smoke"
            else ""
        )
    )
    summary = (
        f"Along η/B = {lad['lr'][0] / lad['batch'][0]:g}, λmax changed by a factor "
        f"{metrics['lambda_ratio_extremes']:.2f} (ρ = {r_lam[0]:.2f}) while mean test accuracy "
        f"spread {gap:.3f} ({ctx.scale} scale)."
    )
    return ClaimResult(verdict=verdict, summary=summary, metrics=metrics, details=details)
