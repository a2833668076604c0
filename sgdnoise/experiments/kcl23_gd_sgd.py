"""KCL23 `kcl23-gd-sgd`: "the GD–SGD discrepancy demonstrates limits to λmax's ability to
explain generalization" (Kaur, Cohen & Lipton 2023, abstract; DESIGN.md §4.5).

Under full-batch gradient descent a larger learning rate η lowers λmax — GD sits at the edge
of stability, λmax ≈ 2/η (`kcl23-eos`) — yet test accuracy hardly moves with η; under
minibatch SGD a larger η lowers λmax *and* improves accuracy.  So λmax falls with η in both,
and accuracy follows only in one: λmax does not explain the difference.

Grid: η × seeds, once with B = N (full batch: the KCL23 protocol's worker
:func:`sgdnoise.experiments._kcl23_worker.kcl23_run` with ``batch = n_train``, one step per
epoch, so its epoch cap is raised to a step budget) and once with a minibatch B; λmax and
test accuracy at the first epoch with ≥ 99% training accuracy, as in every `kcl23-*` claim.
Per seed (the unit: one initialization shared by every η and by both arms):

* ``gd-lambda-falls``, ``sgd-lambda-falls`` (direction): the slope of log λmax on log η < 0.
  Effect: slope −½, half the edge of stability's λmax ∝ 1/η.
* ``sgd-accuracy-moves`` (direction): the change of test accuracy across the η range under
  SGD (least-squares slope on log η × log(η_max/η_min)) > 0 — "the generalization benefits
  of large learning rates … for minibatch SGD".  Effect: one point
  (:data:`._kcl23_analysis.ACC_EFFECT`).
* ``gd-accuracy-flat`` (equivalence): the same change under GD lies within ± half the SGD
  change measured on the same grid (seed mean): "does not move" judged next to what η does
  under SGD.  An SGD change too small to set a margin leaves it undecided by design.

Smoke (MNIST, a tiny MLP) judges the machinery (every run at the target; Lanczos = power
iteration) and the two λmax directions; the accuracy criteria are reported there (500 test
images cannot resolve a point of accuracy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from ..errors import ParameterError
from . import _kcl23_analysis as A
from .criteria import Criterion, criteria_table, evaluate, per_seed_slopes
from .registry import ClaimResult, claim

LAMBDA_SLOPE_EFFECT = 0.5
MARGIN_FRACTION = 0.5
DISCREPANCY = (
    "the GD–SGD discrepancy demonstrates limits to λmax's ability to explain generalization"
)


@dataclass(frozen=True)
class GdSgdSettings:
    """One scale: the learning rates, the SGD batch, the seeds, GD's step budget (its epoch
    cap: one step per epoch), and protocol overrides (e.g. a smaller N at paper scale)."""

    lr: tuple[float, ...]
    sgd_batch: int
    seeds: int
    gd_epochs: int
    n_train: int | None = None

    def __post_init__(self):
        if len(set(self.lr)) < 2:
            raise ParameterError("lr", self.lr, "at least two distinct learning rates")
        if self.seeds < 3:
            raise ParameterError("seeds", self.seeds, "at least 3 (no interval from fewer)")


SETTINGS = {
    # pilot (2026-12-02, MNIST 256 × 14×14, MLP 2 × 64): GD reached 99% in 26–80 steps at
    # η = 0.1–0.4 with λmax·η/2 = 0.6–0.93; λmax fell 15 → 4.5 (GD) and 6 → 0.5 (SGD, B = 16)
    # from η = 0.1 to 0.4: per-seed slopes −0.9 and −1.5, spread ≈ 0.2, so 4 seeds give power
    # ≈ 1 at slope −½.  24 runs of ≈ 2 s.
    "smoke": GdSgdSettings((0.1, 0.2, 0.4), 16, 4, 400),
    # 1000 CIFAR-10 images, MLP 2 × 512 (the kcl23 cpu protocol).  SGD at B = 32 reaches 99%
    # within the protocol's 200 epochs for η ≥ 0.02 (kcl23-lr); GD at η = 0.025 needs ≈ 10³
    # steps (budget 3000).  The SGD accuracy change over η × 4 measured ≈ +0.6 points with
    # per-seed sd ≈ 0.015 at cpu (kcl23-lr), so 10 seeds leave sgd-accuracy-moves near power
    # 0.35 at one point — undecided by design unless the change is larger here; λmax slopes
    # have power ≈ 1.  60 runs, estimated 12–15 min on 2 cores (not yet measured).
    "cpu": GdSgdSettings((0.025, 0.05, 0.1), 32, 10, 3000),
    # ResNet-18 on a 5000-image CIFAR-10 subset: full-batch GD must fit one device batch (the
    # worker has no gradient accumulation).  Defined for a GPU, not run here.
    "paper": GdSgdSettings((0.01, 0.02, 0.05, 0.1), 128, 5, 5000, n_train=5000),
}


def change_across(ok, value: str, lrs) -> np.ndarray:
    """Per seed: the least-squares change of ``value`` across the η range — its slope on
    log η times log(η_max/η_min) (all points, less noise than the two ends); seeds with
    fewer than two η have none."""
    span = math.log(max(lrs) / min(lrs))
    out = []
    for _, sub in ok.groupby("seed"):
        if sub["lr"].nunique() >= 2:
            x, y = np.log(sub["lr"].to_numpy(float)), sub[value].to_numpy(float)
            out.append(_st.linregress(x, y).slope * span)
    return np.asarray(out, dtype=float)


def arm_values(df, n_train: int, s: GdSgdSettings) -> dict:
    """Per arm (``gd``: B = N, ``sgd``: B = the minibatch): per-seed λmax slopes and accuracy
    changes over the runs at KCL23's measurement point, and the GD edge ratios λmax·η/2."""
    ok = A.measured(df)
    out = {}
    for arm, b in (("gd", n_train), ("sgd", s.sgd_batch)):
        sub = ok[ok["batch"] == b]
        out[arm] = {
            "runs": sub,
            "lambda_slope": per_seed_slopes(sub["lr"], sub["lambda_max"], sub["seed"]),
            "acc_change": change_across(sub, "test_accuracy", s.lr),
            "edge_ratio": {
                lr: (g["lambda_max"] * lr / 2).to_numpy(float) for lr, g in sub.groupby("lr")
            },
        }
    return out


def criteria(margin: float) -> list[Criterion]:
    """The four paper criteria (module docstring); ``margin`` measured on the grid."""
    lam = dict(
        kind="direction", sign=-1, effect=LAMBDA_SLOPE_EFFECT,
        effect_reason="slope −½: half of λmax ∝ 1/η at the edge of stability",
    )  # fmt: skip
    return [
        Criterion("gd-lambda-falls", "larger learning rates reduce λmax — under full-batch "
                  "GD (per-seed slope of log λmax on log η)", **lam),
        Criterion("sgd-lambda-falls", "larger learning rates reduce λmax — under minibatch "
                  "SGD (per-seed slope of log λmax on log η)", **lam),
        Criterion("sgd-accuracy-moves", "the generalization benefits of large learning rates "
                  "… for minibatch SGD (test-accuracy change across the η range)", "direction",
                  sign=1, effect=A.ACC_EFFECT, effect_reason=A.ACC_EFFECT_REASON),
        Criterion("gd-accuracy-flat", f"{DISCREPANCY}: under GD accuracy does not move with η "
                  "(test-accuracy change across the η range)", "equivalence",
                  margin=margin if margin > 0 else A.ACC_EFFECT,
                  margin_reason=f"{MARGIN_FRACTION:g} × the SGD accuracy change across the "
                  "same η range, measured on this grid (seed mean)"),
    ]  # fmt: skip


def analyse(df, s: GdSgdSettings, n_train: int, scale: str):
    """``(judged, shown, values, margin)`` from the grid's frame (tests feed synthetic
    frames).  Smoke judges the machinery and the λmax directions and shows the accuracy
    criteria; cpu and paper judge all four."""
    values = arm_values(df, n_train, s)
    sgd_acc = values["sgd"]["acc_change"]
    margin = MARGIN_FRACTION * abs(float(sgd_acc.mean())) if sgd_acc.size else math.nan
    data = {
        "gd-lambda-falls": values["gd"]["lambda_slope"],
        "sgd-lambda-falls": values["sgd"]["lambda_slope"],
        "sgd-accuracy-moves": sgd_acc,
        "gd-accuracy-flat": values["gd"]["acc_change"]
        if margin > 0
        else "no SGD accuracy change measured to set the margin by",
    }
    crits = criteria(margin)
    if scale != "smoke":
        return evaluate(crits, data), [], values, margin
    judged = A.judge(df, crits[:2], data, smoke=True)
    return judged, evaluate(crits[2:], data), values, margin


def _resolved_n_train(ctx, s: GdSgdSettings) -> int:
    from ._kcl23_worker import PROTOCOL

    return s.n_train or PROTOCOL[ctx.scale].n_train


def figure(values: dict, s: GdSgdSettings, n_train: int, scale: str):
    """λmax, test accuracy and their scatter against η for both arms (seeds as points, mean
    with t interval), with the edge of stability 2/η on the λmax panel."""
    from ._plots import theory_line

    runs = _both_arms(values)
    runs = runs.assign(arm=np.where(runs["batch"] == n_train, f"GD (B = N = {n_train})",
                                    f"SGD (B = {s.sgd_batch})"))  # fmt: skip
    fig = A.figure(runs, "lr", "arm", f"KCL23: full-batch GD vs minibatch SGD ({scale})")
    lrs = np.geomspace(min(s.lr), max(s.lr), 20)
    theory_line(fig.axes[0], lrs, 2 / lrs, label="2/η (edge of stability)")
    fig.axes[0].legend(fontsize=7)
    return fig


def _both_arms(values: dict):
    import pandas as pd

    return pd.concat([values["gd"]["runs"], values["sgd"]["runs"]], ignore_index=True)


def _report(df, values, margin, s: GdSgdSettings, n_train: int) -> str:
    rows = [
        "| arm | slope of log λmax on log η | test-accuracy change, η "
        f"{min(s.lr):g} → {max(s.lr):g} |",
        "| --- | --- | --- |",
    ]
    for arm, name in (("gd", f"GD (B = N = {n_train})"), ("sgd", f"SGD (B = {s.sgd_batch})")):
        v = values[arm]
        rows.append(
            f"| {name} | {A.effect_cell(v['lambda_slope'])} | "
            f"{A.effect_cell(v['acc_change'], '+.4f')} |"
        )
    edge = ["| η | 2/η | GD λmax·η/2 (per seed) |", "| --- | --- | --- |"]
    for lr, r in sorted(values["gd"]["edge_ratio"].items()):
        edge.append(f"| {lr:g} | {2 / lr:.3g} | {', '.join(f'{x:.2f}' for x in r)} |")
    _, head = A.headline(_both_arms(values))
    return (
        A.summary_table(df, ["batch", "lr"])
        + "\n\nPer-seed effects (mean [95% t interval]; the criteria use their own level "
        "α/k):\n\n"
        + "\n".join(rows)
        + f"\n\nEquivalence margin of gd-accuracy-flat: ±{margin:.4f} ({MARGIN_FRACTION:g} × "
        "the SGD change).\n\nGD at KCL23's measurement point against the edge of stability "
        "(λmax ≈ 2/η, `kcl23-eos`):\n\n" + "\n".join(edge) + f"\n\n{head}"
    )


@claim("kcl23-gd-sgd")
def run(ctx):
    from . import _kcl23_worker as W

    s = SETTINGS[ctx.scale]
    n_train = _resolved_n_train(ctx, s)
    over = {"n_train": n_train} if s.n_train else {}
    fixed = W.fixed_for(ctx.scale, **over)
    zips = (
        {"batch": [n_train], "max_epochs": [s.gd_epochs]},
        {"batch": [s.sgd_batch], "max_epochs": [fixed["max_epochs"]]},
    )
    product = {"lr": list(s.lr), "seed": list(range(s.seeds))}
    df = W.run_grid(ctx, "kcl23-gd-sgd", fixed, product, zips=zips)
    judged, shown, values, margin = analyse(df, s, n_train, ctx.scale)
    ctx.savefig(figure(values, s, n_train, ctx.scale), "kcl23_gd_sgd")
    metrics = {"runs": float(len(df)), "at_target": float((df["status"] == "done").sum()),
               "acc_margin": margin}  # fmt: skip
    for arm in ("gd", "sgd"):
        v = values[arm]
        metrics[f"{arm}_lambda_slope"] = A.mean_interval(v["lambda_slope"])[0]
        metrics[f"{arm}_acc_change"] = A.mean_interval(v["acc_change"])[0]
    details = _report(df, values, margin, s, n_train)
    if shown:
        details += (
            f"\n\nNot judged at {ctx.scale} scale (shown for information):\n\n"
            + criteria_table(shown)
        )
    summary = (
        f"η {min(s.lr):g} → {max(s.lr):g}: λmax slope on log η GD "
        f"{metrics['gd_lambda_slope']:.2f}, SGD {metrics['sgd_lambda_slope']:.2f}; test "
        f"accuracy change GD {metrics['gd_acc_change']:+.4f}, SGD "
        f"{metrics['sgd_acc_change']:+.4f} (seed means)"
        + ("; smoke checks the machinery and the λmax directions." if ctx.scale == "smoke"
           else ".")
    )  # fmt: skip
    return ClaimResult(summary=summary, criteria=judged, metrics=metrics, details=details)
