"""KCL23 `kcl23-scaling`: "by scaling batch size and learning rate simultaneously, we can
change λmax without affecting generalization" (Kaur, Cohen & Lipton 2023, abstract,
finding (2); DESIGN.md §4.5).

Grid (two ``zip`` groups × seeds, through :mod:`._kcl23_worker`): the ladder (η, B) =
(k η0, k B0) for k = 1, 2, 4, 8 (η/B fixed), plus the control (k_max η0, B0): η alone
changed by the ladder's full factor.  Per seed, the change of a quantity across the
ladder is its least-squares line against log k, read between k = 1 and k_max (all four
points, less noise than the two ends).  Criteria (:mod:`.criteria`):

* ``lambda-changes`` (direction): the change of log λmax across the ladder < 0.  KCL23
  say only that λmax changes; the sign is ours (*derived*): λmax stays below the edge of
  stability 2/η, which falls k-fold along the ladder.
* ``accuracy-unaffected`` (cpu/paper; equivalence): the change of test accuracy across
  the ladder lies within ± half the accuracy change that the same k_max-fold change of η
  *alone* causes on this grid (the control; seed mean of its paired difference).  "Without
  affecting generalization" means next to what a learning-rate change does, not
  "not significantly different"; a grid where η alone does not move accuracy gives a tiny
  margin and the criterion is undecided by design (no power), as it should be.

Smoke judges the machinery and the λmax direction; the accuracy equivalence is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from . import _kcl23_analysis as A
from .criteria import Criterion, paired
from .registry import ClaimResult, claim

MARGIN_FRACTION = 0.5


@dataclass(frozen=True)
class Settings:
    lr0: float
    batch0: int
    ks: tuple[int, ...]
    seeds: int


SETTINGS = {
    # smoke: the ladder's log λmax change spread by sd ≈ 0.15 over seeds (measured): power
    # ≈ 0.75 at a 25% change with 5 seeds.  cpu: 20 seeds for the accuracy equivalence
    "smoke": Settings(0.025, 8, (1, 2, 4, 8), seeds=5),
    "cpu": Settings(0.0125, 25, (1, 2, 4, 8), seeds=20),
    "paper": Settings(0.0125, 64, (1, 2, 4, 8, 16), seeds=5),
}


def zip_axes(s: Settings) -> tuple[dict, dict]:
    """The ladder (k η0, k B0), and the control (k_max η0, B0)."""
    ladder = {"lr": [k * s.lr0 for k in s.ks], "batch": [k * s.batch0 for k in s.ks]}
    return ladder, {"lr": [max(s.ks) * s.lr0], "batch": [s.batch0]}


def ladder(ok, s: Settings):
    """The runs on the ladder η/B = η0/B0."""
    return ok[np.isclose(ok["lr"] / ok["batch"], s.lr0 / s.batch0)]


def ladder_change(ok, value: str, s: Settings) -> np.ndarray:
    """Per seed: the least-squares change of ``value`` across the ladder, slope in log k
    times log k_max (seeds with at least two ladder points)."""
    lad = ladder(ok, s)
    span = math.log(max(s.ks))
    out = []
    for _, sub in lad.groupby("seed"):
        k = sub["lr"].to_numpy(float) / s.lr0
        if np.unique(k).size >= 2:
            out.append(_st.linregress(np.log(k), sub[value].to_numpy(float)).slope * span)
    return np.asarray(out, dtype=float)


def control_change(ok, value: str, s: Settings) -> np.ndarray:
    """Per seed: ``value`` at (k_max η0, B0) minus at (η0, B0) — η alone changed."""
    sub = ok[ok["batch"] == s.batch0]
    return paired(sub, value, "lr", max(s.ks) * s.lr0, s.lr0)


def figure_frame(ok, s: Settings):
    """The runs as two arms against k: the ladder, and η alone (its k = 1 is the ladder's)."""
    import pandas as pd

    ok = ok.assign(k=ok["lr"] / s.lr0)
    alone = ok[(ok["batch"] == s.batch0)].assign(arm="η alone ×k")
    return pd.concat([ladder(ok, s).assign(arm="η and B ×k"), alone], ignore_index=True)


def criteria(s: Settings, smoke: bool, margin: float | None) -> list[Criterion]:
    """The claim's criteria at a scale; ``margin`` is the equivalence margin measured on the
    grid (None: no control measurement; a placeholder margin, the criterion is undecided)."""
    kmax = max(s.ks)
    out = [
        Criterion(
            "lambda-changes",
            f"scaling batch size and learning rate simultaneously changes λmax (k = 1 → {kmax}, "
            "per-seed change of log λmax; sign: lowered)",
            "direction", sign=-1, effect=A.LAMBDA_EFFECT, derived=True,
            effect_reason=A.LAMBDA_EFFECT_REASON,
        )
    ]  # fmt: skip
    if not smoke:
        out.append(
            Criterion(
                "accuracy-unaffected",
                f"… without affecting generalization (test-accuracy change across k = 1 → "
                f"{kmax})",
                "equivalence", margin=margin if margin else A.ACC_EFFECT,
                margin_reason=f"{MARGIN_FRACTION:g} × the accuracy change of η alone ×{kmax} "
                "at B0, measured on this grid (seed mean)",
            )
        )  # fmt: skip
    return out


def analyse(df, s: Settings, scale: str):
    """Criteria, metrics, report and summary from the grid's frame."""
    smoke = scale == "smoke"
    ok = A.measured(df)
    lam = ladder_change(ok, "log_lambda", s)
    acc = ladder_change(ok, "test_accuracy", s)
    ctrl_acc = control_change(ok, "test_accuracy", s)
    ctrl_lam = control_change(ok, "log_lambda", s)
    eta_effect = A.mean_interval(ctrl_acc)[0]
    margin = MARGIN_FRACTION * abs(eta_effect) if np.isfinite(eta_effect) else None
    crits = criteria(s, smoke, margin or None)
    data = {"lambda-changes": lam}
    data["accuracy-unaffected"] = (
        acc if margin else "no accuracy change of η alone measured to set the margin by"
    )
    judged = A.judge(df, crits, data, smoke)
    metrics = {
        "ladder_dloglambda": A.mean_interval(lam)[0],
        "ladder_dacc": A.mean_interval(acc)[0],
        "eta_alone_dacc": eta_effect,
        "eta_alone_dloglambda": A.mean_interval(ctrl_lam)[0],
        "acc_margin": margin if margin else math.nan,
    }
    head, head_text = A.headline(ladder(ok, s))
    metrics |= head
    kmax = max(s.ks)
    details = (
        A.summary_table(df, ["lr", "batch"])
        + f"\n\n| change (per seed, mean [95% t interval]) | log λmax | test accuracy |\n"
        "| --- | --- | --- |\n"
        f"| ladder k = 1 → {kmax} (η/B = {s.lr0 / s.batch0:g}, fitted) | {A.effect_cell(lam)} | "
        f"{A.effect_cell(acc, '+.4f')} |\n"
        f"| control: η alone ×{kmax} at B = {s.batch0} | {A.effect_cell(ctrl_lam)} | "
        f"{A.effect_cell(ctrl_acc, '+.4f')} |\n\n"
        f"Equivalence margin = {MARGIN_FRACTION:g} × |control accuracy change| = "
        + (f"{margin:.4f}" if margin else "—")
        + (" (reported, not judged at smoke)." if smoke else ".")
        + f"  Ladder runs only: {head_text}"
    )
    summary = (
        f"Along η/B = {s.lr0 / s.batch0:g} (k = 1 → {kmax}) λmax changed by "
        f"×{math.exp(metrics['ladder_dloglambda']):.2f} and test accuracy by "
        f"{metrics['ladder_dacc']:+.4f}; η alone ×{kmax} changed accuracy by {eta_effect:+.4f}."
    )
    return judged, metrics, details, summary


@claim(
    "kcl23-scaling",
    paper="KCL23",
    statement="scaling η and B together (η/B fixed) changes λmax but not test accuracy",
)
def run(ctx):
    from . import _kcl23_worker as W

    s = SETTINGS[ctx.scale]
    df = W.run_grid(
        ctx, "kcl23-scaling", W.fixed_for(ctx.scale), {"seed": list(range(s.seeds))},
        zips=zip_axes(s),
    )  # fmt: skip
    judged, metrics, details, summary = analyse(df, s, ctx.scale)
    fig = A.figure(figure_frame(A.measured(df), s), "k", "arm", "KCL23: η and B scaled together")
    ctx.savefig(fig, "kcl23_scaling")
    return ClaimResult(summary=summary, criteria=judged, metrics=metrics, details=details)
