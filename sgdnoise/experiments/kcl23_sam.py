"""KCL23 `kcl23-sam`: SAM (ρ = 0.05) gives a smaller λmax than SGD at every batch size; does
test accuracy follow?  (The paper: its accuracy benefit fades at large batch sizes.)

Kaur, Cohen & Lipton (2023), finding (3); DESIGN.md §4.5.  Grid: ρ ∈ {0, 0.05} × B × seeds,
through the shared protocol (:mod:`._kcl23_protocol`); SAM is the trainer's ``rho``
(two gradient evaluations per step, :mod:`sgdnoise.nets.sam`).  Criteria, seed-paired 95% t
intervals per B: λmax(SAM) − λmax(SGD) < 0 at every B; accuracy gain of SAM at the smallest B
larger than at the largest (interval of the difference above 0).  Smoke checks the machinery
and the λmax part only.
"""

from __future__ import annotations

from .registry import ClaimResult, claim

RHO = 0.05
GRID = {
    "smoke": dict(lr=0.05, batch=[16, 64]),
    "cpu": dict(lr=0.03, batch=[32, 500]),
    "paper": dict(lr=0.05, batch=[32, 128, 512, 2048]),
}


@claim(
    "kcl23-sam",
    paper="KCL23",
    statement="SAM (ρ=0.05) lowers λmax at every batch size; its accuracy benefit fades at "
    "large batch sizes",
)
def run(ctx):
    from . import _kcl23_protocol as P

    g = GRID[ctx.scale]
    df = P.run_grid(
        ctx,
        "kcl23-sam",
        P.fixed_for(ctx.scale, lr=g["lr"]),
        {"rho": [0.0, RHO], "batch": g["batch"], "seed": P.seeds(ctx.scale, "kcl23-sam")},
    )
    mach = P.machinery_checks(df)
    ok_mach = P.machinery_ok(mach, all_reached=ctx.scale == "smoke")
    ok = P.reached_runs(df)
    lam = P.paired_effect(ok, "lambda_max", "rho", 0.0, RHO, by="batch", by_values=g["batch"])
    acc = P.paired_effect(ok, "test_accuracy", "rho", 0.0, RHO, by="batch", by_values=g["batch"])
    b_lo, b_hi = min(g["batch"]), max(g["batch"])
    fade = P.gain_fade(ok, "test_accuracy", "rho", 0.0, RHO, b_lo, b_hi)
    lower = all(lam[b].negative for b in g["batch"])
    statement = {
        "SAM lowers λmax at every B": True
        if lower
        else (False if any(lam[b].positive for b in g["batch"]) else None),
        "SAM's accuracy benefit fades at large B": P.tri(fade),
    }
    verdict, reason = P.decide(ctx.scale, ok_mach, {"SAM lowers λmax at every B": lower}, statement)
    metrics = dict(mach)
    head, head_text = P.headline(ok, ctx.seed)
    metrics.update(head)
    for b in g["batch"]:
        metrics[f"dlambda_B{b}"] = lam[b].mean
        metrics[f"dlambda_B{b}_ci_high"] = lam[b].ci_high
        metrics[f"dacc_B{b}"] = acc[b].mean
        metrics[f"dacc_B{b}_ci_low"] = acc[b].ci_low
        metrics[f"dacc_B{b}_ci_high"] = acc[b].ci_high
    metrics["acc_benefit_fade"] = fade.mean
    ctx.savefig(P.lambda_accuracy_figure(ok, "rho", "KCL23: SAM vs SGD"), "kcl23_sam")
    details = (
        P.summary_table(df, ["batch", "rho"])
        + "\n\n| B | Δλmax (SAM − SGD) [95% CI] | Δ test acc [95% CI] |\n| --- | --- | --- |\n"
        + "\n".join(
            f"| {b} | {lam[b].mean:.3g} [{lam[b].ci_low:.3g}, {lam[b].ci_high:.3g}] | "
            f"{acc[b].mean:+.4f} [{acc[b].ci_low:+.4f}, {acc[b].ci_high:+.4f}] |"
            for b in g["batch"]
        )
        + f"\n\nFade of SAM's accuracy gain, B={b_lo} minus B={b_hi}: {fade.mean:+.4f} "
        f"[{fade.ci_low:+.4f}, {fade.ci_high:+.4f}].  Verdict rule: {reason}.  "
        + head_text
        + (
            " Smoke scale checks the machinery and the λmax part only."
            if ctx.scale == "smoke"
            else ""
        )
    )
    summary = (
        f"SAM {'lowered' if lower else 'did not consistently lower'} λmax "
        f"({', '.join(f'B={b}: {lam[b].mean:+.3g}' for b in g['batch'])}); accuracy change "
        f"{', '.join(f'B={b}: {acc[b].mean:+.3f}' for b in g['batch'])} ({ctx.scale} scale)."
    )
    return ClaimResult(verdict=verdict, summary=summary, metrics=metrics, details=details)
