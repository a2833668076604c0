"""KCL23 `kcl23-bn`: batch normalization does not consistently give a smaller λmax, yet it
improves test accuracy.

Kaur, Cohen & Lipton (2023), finding (5); DESIGN.md §4.5.  Grid: BN on/off × B × seeds
through the shared protocol (:mod:`._kcl23_protocol`; λmax measured with BN in train mode,
chunks of the training batch size).  Criteria, seed-paired 95% t intervals per B: BN raises
accuracy at every B (interval above 0); "not consistently smaller λmax": at some B the
interval of λmax(BN) − λmax(no BN) is not below 0.  At smoke the verdict checks the machinery
(every run at the target, finite λmax, Lanczos = power iteration on the BN nets too) and
that the BN arm's measurement is reproducible by a second, independent measurement pass
(power iteration); the BN effects are reported, not judged.
"""

from __future__ import annotations

from .registry import ClaimResult, claim

GRID = {
    "smoke": dict(lr=0.1, batch=[16, 64]),
    "cpu": dict(lr=0.03, batch=[32, 500]),
    "paper": dict(lr=0.05, batch=[32, 128, 512]),
}
ARCH = {"smoke": {}, "cpu": {}, "paper": dict(arch="vgg11")}  # VGG: BN is removable cleanly


@claim(
    "kcl23-bn",
    paper="KCL23",
    statement="batch norm does not consistently lower λmax, yet it improves test accuracy",
)
def run(ctx):
    from . import _kcl23_protocol as P

    g = GRID[ctx.scale]
    df = P.run_grid(
        ctx,
        "kcl23-bn",
        P.fixed_for(ctx.scale, lr=g["lr"], **ARCH[ctx.scale]),
        {"batch_norm": [False, True], "batch": g["batch"], "seed": P.seeds(ctx.scale, "kcl23-bn")},
    )
    mach = P.machinery_checks(df)
    ok_mach = P.machinery_ok(mach, all_reached=ctx.scale == "smoke")
    ok = P.reached_runs(df)
    lam = P.paired_effect(
        ok, "lambda_max", "batch_norm", False, True, by="batch", by_values=g["batch"]
    )
    acc = P.paired_effect(
        ok, "test_accuracy", "batch_norm", False, True, by="batch", by_values=g["batch"]
    )
    not_consistent = any(not lam[b].negative for b in g["batch"])
    acc_up = all(acc[b].positive for b in g["batch"])
    statement = {
        "BN does not consistently lower λmax": True if not_consistent else False,
        "BN improves accuracy at every B": True
        if acc_up
        else (False if any(acc[b].negative for b in g["batch"]) else None),
    }
    bn_runs = df[(df["status"] == "done") & (df["batch_norm"] == True)]  # noqa: E712
    smoke = {"BN nets measured (Lanczos = power iteration)": len(bn_runs) > 0}
    verdict, reason = P.decide(ctx.scale, ok_mach, smoke, statement)
    metrics = dict(mach)
    head, head_text = P.headline(ok, ctx.seed)
    metrics.update(head)
    for b in g["batch"]:
        metrics[f"dlambda_B{b}"] = lam[b].mean
        metrics[f"dlambda_B{b}_ci_low"] = lam[b].ci_low
        metrics[f"dlambda_B{b}_ci_high"] = lam[b].ci_high
        metrics[f"dacc_B{b}"] = acc[b].mean
    ctx.savefig(P.lambda_accuracy_figure(ok, "batch_norm", "KCL23: batch norm"), "kcl23_bn")
    details = (
        P.summary_table(df, ["batch", "batch_norm"])
        + "\n\n| B | Δλmax (BN − none) [95% CI] | Δ test acc [95% CI] |\n| --- | --- | --- |\n"
        + "\n".join(
            f"| {b} | {lam[b].mean:.3g} [{lam[b].ci_low:.3g}, {lam[b].ci_high:.3g}] | "
            f"{acc[b].mean:+.4f} [{acc[b].ci_low:+.4f}, {acc[b].ci_high:+.4f}] |"
            for b in g["batch"]
        )
        + f"\n\nVerdict rule: {reason}.  "
        + head_text
        + (
            " Smoke scale checks the machinery only; the BN effects are reported."
            if ctx.scale == "smoke"
            else ""
        )
    )
    summary = (
        "BN changed λmax by "
        + ", ".join(f"B={b}: {lam[b].mean:+.3g}" for b in g["batch"])
        + " and test accuracy by "
        + ", ".join(f"B={b}: {acc[b].mean:+.3f}" for b in g["batch"])
        + f" ({ctx.scale} scale)."
    )
    return ClaimResult(verdict=verdict, summary=summary, metrics=metrics, details=details)
