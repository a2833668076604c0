"""KCL23 `kcl23-bn`: "while batch-normalization does not consistently produce smaller λmax,
it nevertheless confers generalization benefits" (Kaur, Cohen & Lipton 2023, abstract,
finding (5); DESIGN.md §4.5).

Grid: BN on/off × B × seeds through the KCL23 protocol (:mod:`._kcl23_worker`; λmax with BN
in train mode, in chunks of the training batch size).  Criteria (:mod:`.criteria`):

* ``not-consistently-lower`` (existence — "does not consistently"): one cell per batch
  size, per seed log λmax(BN) − log λmax(no BN).  Supported when some B shows BN *not*
  lowering λmax beyond its spread (the cell's interval, Bonferroni over the cells, above
  0); contradicted when every B shows BN lowering it beyond the spread; undecided
  otherwise.  Effect: a 25% change of λmax.
* ``improves-accuracy`` (direction): per seed, acc(BN) − acc(no BN) averaged over the
  batch sizes, > 0 (KCL23 state the benefit in general, not per B).  Effect: one point.

Smoke judges the machinery only — every run (BN nets included) at the target with a
finite λmax, Lanczos = power iteration on the BN nets too; the small MLP's BN effects are
reported there, not judged (on it BN lowers λmax at both batch sizes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _kcl23_analysis as A
from .criteria import Criterion
from .registry import ClaimResult, claim


@dataclass(frozen=True)
class Settings:
    lr: float
    batch: tuple[int, ...]
    seeds: int
    arch: str | None = None  # None: the protocol's net at the scale


SETTINGS = {
    "smoke": Settings(lr=0.1, batch=(16, 64), seeds=3),
    # BN's accuracy change had a per-seed sd ≈ 0.015 per B at cpu: one point over the
    # two-B mean has power ≈ 0.85 with 10 seeds
    "cpu": Settings(lr=0.03, batch=(32, 500), seeds=10),
    "paper": Settings(lr=0.05, batch=(32, 128, 512), seeds=5, arch="vgg11"),  # BN removable
}


def criteria(smoke: bool) -> list[Criterion]:
    """The claim's criteria at a scale (module docstring); none but machinery at smoke."""
    if smoke:
        return []
    return [
        Criterion(
            "not-consistently-lower",
            "batch-normalization does not consistently produce smaller λmax (some B where "
            "log λmax(BN) − log λmax(no BN) is not below 0)",
            "existence", sign=1, effect=A.LAMBDA_EFFECT, effect_reason=A.LAMBDA_EFFECT_REASON,
        ),
        Criterion(
            "improves-accuracy",
            "it nevertheless confers generalization benefits (test accuracy with BN minus "
            "without, mean over B)",
            "direction", sign=1, effect=A.ACC_EFFECT, effect_reason=A.ACC_EFFECT_REASON,
        ),
    ]  # fmt: skip


def mean_over_b(ok, value: str, batches) -> np.ndarray:
    """Per seed: value(BN) − value(no BN) averaged over the batch sizes (seeds with both
    arms at every B only)."""
    sub = ok[ok["batch"].isin(list(batches))]
    if sub.empty:
        return np.array([])
    piv = sub.pivot_table(index="seed", columns=["batch", "batch_norm"], values=value)
    cols = [(b, v) for b in batches for v in (True, False)]
    if any(c not in piv.columns for c in cols):
        return np.array([])
    diffs = [piv[(b, True)] - piv[(b, False)] for b in batches]
    return (sum(diffs) / len(diffs)).dropna().to_numpy(float)


def analyse(df, s: Settings, scale: str):
    """Criteria, metrics, report and summary from the grid's frame."""
    smoke = scale == "smoke"
    ok = A.measured(df)
    lam = A.paired_by(ok, "log_lambda", "batch_norm", False, True, "batch", s.batch)
    acc = A.paired_by(ok, "test_accuracy", "batch_norm", False, True, "batch", s.batch)
    crits = criteria(smoke)
    data = {
        "not-consistently-lower": {f"B={b}": v for b, v in lam.items()},
        "improves-accuracy": mean_over_b(ok, "test_accuracy", s.batch),
    }
    judged = A.judge(df, crits, data, smoke)
    metrics = {f"dloglambda_B{b}": A.mean_interval(lam[b])[0] for b in s.batch}
    metrics |= {f"dacc_B{b}": A.mean_interval(acc[b])[0] for b in s.batch}
    metrics["dacc_mean_over_B"] = A.mean_interval(data["improves-accuracy"])[0]
    head, head_text = A.headline(ok)
    metrics |= head
    details = (
        A.summary_table(df, ["batch", "batch_norm"])
        + "\n\n"
        + A.per_b_table(lam, acc, "log λmax(BN) − log λmax(none)", "Δ test acc (BN − none)")
        + "\n\nAccuracy change averaged over B: "
        + A.effect_cell(data["improves-accuracy"], "+.4f")
        + (" (BN effects reported, not judged at smoke)." if smoke else ".")
        + f"  {head_text}"
    )
    summary = (
        "BN changed log λmax by "
        + ", ".join(f"B={b}: {metrics[f'dloglambda_B{b}']:+.2f}" for b in s.batch)
        + " and test accuracy by "
        + ", ".join(f"B={b}: {metrics[f'dacc_B{b}']:+.4f}" for b in s.batch)
        + " (seed means)."
    )
    return judged, metrics, details, summary


@claim(
    "kcl23-bn",
    paper="KCL23",
    statement="batch norm does not consistently lower λmax, yet it improves test accuracy",
)
def run(ctx):
    from . import _kcl23_worker as W

    s = SETTINGS[ctx.scale]
    extra = {"arch": s.arch} if s.arch else {}
    df = W.run_grid(
        ctx, "kcl23-bn", W.fixed_for(ctx.scale, lr=s.lr, **extra),
        {"batch_norm": [False, True], "batch": list(s.batch), "seed": list(range(s.seeds))},
    )  # fmt: skip
    judged, metrics, details, summary = analyse(df, s, ctx.scale)
    fig = A.figure(A.measured(df), "batch", "batch_norm", "KCL23: batch norm")
    ctx.savefig(fig, "kcl23_bn")
    return ClaimResult(summary=summary, criteria=judged, metrics=metrics, details=details)
