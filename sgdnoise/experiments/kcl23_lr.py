"""KCL23 `kcl23-lr`: a larger learning rate lowers λmax at every batch size, while the
generalization benefit of the larger rate fades at large batch sizes.

Kaur, Cohen & Lipton (2023), finding (1); DESIGN.md §4.5.  Grid: η × B × seeds through the
shared protocol (:mod:`._kcl23_protocol`: λmax at the first epoch with ≥ 99% training
accuracy, Lanczos on exact HVPs, fixed measurement set).  Criteria, per B, on seed-paired
differences with 95% t intervals: λmax(η_max) − λmax(η_min) < 0 at every B; the accuracy
gain Δacc(B) = acc(η_max) − acc(η_min) is smaller at the largest B than at the smallest
(the interval of Δacc(B_min) − Δacc(B_max), paired by seed, above 0).  Smoke checks only the
λmax direction (test accuracy on 500 images cannot resolve the accuracy part) and the
machinery (Lanczos = power iteration, every run at the target).
"""

from __future__ import annotations

from .registry import ClaimResult, claim

GRID = {
    "smoke": dict(lr=[0.05, 0.2], batch=[16, 64]),
    # η = 0.01 at B = 500 missed the 99% target within 200 epochs (measured): 0.02 is the
    # smallest rate whose every cell reaches it inside the 30-minute budget
    "cpu": dict(lr=[0.02, 0.05, 0.1], batch=[32, 128, 500]),
    "paper": dict(lr=[0.01, 0.02, 0.05, 0.1, 0.2], batch=[32, 128, 512, 2048]),
}


@claim(
    "kcl23-lr",
    paper="KCL23",
    statement="a larger learning rate lowers λmax at every batch size; its accuracy benefit "
    "fades at large batch sizes",
)
def run(ctx):
    from . import _kcl23_protocol as P

    g = GRID[ctx.scale]
    df = P.run_grid(
        ctx,
        "kcl23-lr",
        P.fixed_for(ctx.scale),
        {"lr": g["lr"], "batch": g["batch"], "seed": P.seeds(ctx.scale, "kcl23-lr")},
    )
    mach = P.machinery_checks(df)
    ok_mach = P.machinery_ok(mach, all_reached=ctx.scale == "smoke")
    ok = P.reached_runs(df)
    lo, hi = min(g["lr"]), max(g["lr"])
    lam = P.paired_effect(ok, "lambda_max", "lr", lo, hi, by="batch", by_values=g["batch"])
    acc = P.paired_effect(ok, "test_accuracy", "lr", lo, hi, by="batch", by_values=g["batch"])
    metrics = dict(mach)
    for b in g["batch"]:
        metrics[f"dlambda_B{b}"] = lam[b].mean
        metrics[f"dlambda_B{b}_ci_high"] = lam[b].ci_high
        metrics[f"dacc_B{b}"] = acc[b].mean
    b_lo, b_hi = min(g["batch"]), max(g["batch"])
    fade = P.gain_fade(ok, "test_accuracy", "lr", lo, hi, b_lo, b_hi)
    metrics["acc_benefit_fade"] = fade.mean
    head, head_text = P.headline(ok, ctx.seed)
    metrics.update(head)
    lower_everywhere = all(lam[b].negative for b in g["batch"])
    statement = {
        "λmax lower at larger η at every B": True
        if lower_everywhere
        else (False if any(lam[b].positive for b in g["batch"]) else None),
        "accuracy benefit fades at large B": P.tri(fade),
    }
    verdict, reason = P.decide(
        ctx.scale, ok_mach, {"λmax lower at larger η at every B": lower_everywhere}, statement
    )
    ctx.savefig(P.lambda_accuracy_figure(ok, "lr", "KCL23: learning rate"), "kcl23_lr")
    details = (
        P.summary_table(df, ["batch", "lr"])
        + "\n\n| B | Δλmax (η_max − η_min) [95% CI] | Δ test acc [95% CI] |\n| --- | --- | --- |\n"
        + "\n".join(
            f"| {b} | {lam[b].mean:.3g} [{lam[b].ci_low:.3g}, {lam[b].ci_high:.3g}] | "
            f"{acc[b].mean:+.4f} [{acc[b].ci_low:+.4f}, {acc[b].ci_high:+.4f}] |"
            for b in g["batch"]
        )
        + f"\n\nAccuracy-benefit fade Δacc(B={b_lo}) − Δacc(B={b_hi}) = {fade.mean:+.4f} "
        f"[{fade.ci_low:+.4f}, {fade.ci_high:+.4f}]. {head_text}  "
        f"Verdict rule: {reason}."
        + (
            " Smoke scale checks the machinery and the λmax direction only."
            if ctx.scale == "smoke"
            else ""
        )
    )
    summary = (
        f"Larger η {'lowered' if lower_everywhere else 'did not consistently lower'} λmax "
        "at every B "
        f"(Δλmax {', '.join(f'B={b}: {lam[b].mean:.3g}' for b in g['batch'])}); "
        f"accuracy-benefit fade {fade.mean:+.3f} ({ctx.scale} scale)."
    )
    return ClaimResult(verdict=verdict, summary=summary, metrics=metrics, details=details)
