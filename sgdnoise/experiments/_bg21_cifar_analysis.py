"""The criteria of `bg21-cifar` and the per-seed values they judge (DESIGN.md §4.1, §10).

The grid is temperatures T × batch sizes B × seeds, η = T·B, a seed being one network
initialization and batch order shared by every (T, B) — so differences between cells are
seed-paired.  For one loss column L (``test_loss``: sampling shift; ``domain_loss``: domain
shift) and each seed s:

* **equal-T change** at temperature T: ``Δ_s(T) = b_s(T) · ln(B_max/B_min)``, ``b_s(T)``
  the least-squares slope of ``L(T, B, s)`` on ``ln B`` — the change of the test loss
  across the batch range at fixed T, i.e. when η moves by the factor ``r = B_max/B_min``
  with T held (two batch sizes: simply ``L(T, B_max, s) − L(T, B_min, s)``).  BG21 (abstract:
  SGD "is largely invariant to changes in learning rate or batch size that leave its
  temperature constant") predicts Δ ≈ 0;
* **T change**: ``c_s = a_s · ln(T_max/T_min)``, ``a_s`` the least-squares slope in ``ln T``
  of the batch-mean loss ``m_s(T) = mean_B L(T, B, s)`` — the change of the test loss
  across the grid's temperature range.  BG21 ("improvement of the test loss as SGD
  temperature increases") predicts c < 0.

Equivalence margin: the equal-T change is judged against ``FRACTION`` of the change that
moving T itself by the same factor r makes on the same grid, ``|mean_s a_s| · ln r``.  With
FRACTION = ¼ the split of T into (η, B) may move the test loss at most as much as an error
of ``r^¼`` in T (±41% for r = 4, a quarter of the grid's step in ln T when the T grid steps
by r) — "largely invariant": T, not η or B, carries the test loss.  Where the grid resolves
no T effect the margin shrinks to nothing and the criterion cannot pass (undecided by
design), which is what the old "resolution" check was for.

A seed with a diverged run is dropped from the quantities that need that run (never
imputed); fewer than 3 seeds left makes a criterion undecided (criteria layer).
"""

from __future__ import annotations

import math
import sys

import numpy as np

from .criteria import MIN_UNITS, Criterion, per_seed_slopes

FRACTION = 0.25
#: the smallest fall of the test loss across the grid's T range we count as BG21's effect
DIRECTION_EFFECT = 0.1
LOSSES = {"test_loss": "sampling shift", "domain_loss": "domain shift"}

INVARIANCE_WORDS = (
    "SGD, including its stationary distribution, is largely invariant to changes in "
    "learning rate or batch size that leave its temperature constant"
)
DIRECTION_WORDS = {
    "test_loss": "experiments on CIFAR10 demonstrating … improvement of the test loss as "
    "SGD temperature increases",
    "domain_loss": "increasing SGD temperature … can enable better generalization under a "
    "shift between the training and test data distributions (CIFAR10: sampling versus "
    "domain shift)",
}


def finished(df, col: str):
    """The runs with a finite ``col`` (done, not diverged or failed)."""
    return df[(df["status"] == "done") & np.isfinite(df[col].astype(float))]


def equal_T_changes(df, col: str) -> dict[float, np.ndarray]:
    """Per T: the per-seed changes ``Δ_s(T)`` of ``col`` across the batch range."""
    bs = sorted(df["batch"].unique())
    span = math.log(bs[-1] / bs[0])
    out = {}
    for T in sorted(df["T"].unique()):
        sub = _complete_cells(df[df["T"] == T], col)
        x = np.log(sub["batch"].to_numpy(float))
        out[float(T)] = span * per_seed_slopes(x, sub[col], sub["seed"], log=False)
    return out


def _T_means(df, col: str):
    """Per (seed, T) batch-mean ``col`` over the temperatures where at least 3 seeds have
    every batch size, and the seeds complete over those temperatures (a mean over batch
    sizes must mean the same at every T; a temperature where every seed diverged drops out
    rather than emptying the fit)."""
    ok = _complete_cells(df, col)
    per_T = ok.groupby("T")["seed"].nunique()
    ok = ok[ok["T"].isin(per_T[per_T >= MIN_UNITS].index)]
    full = ok.groupby("seed")["T"].nunique()
    ok = ok[ok["seed"].isin(full[full == ok["T"].nunique()].index)]
    return ok.groupby(["seed", "T"], as_index=False)[col].mean()


def _complete_cells(df, col: str):
    """Rows of the (seed, T) pairs that have a finite ``col`` at every batch size."""
    ok = finished(df, col)
    n = ok.groupby(["seed", "T"])["batch"].transform("nunique")
    return ok[n == df["batch"].nunique()]


def T_slopes(df, col: str) -> tuple[np.ndarray, list[float]]:
    """Per-seed least-squares slopes ``a_s`` of the batch-mean ``col`` in ``ln T``, and the
    temperatures they span."""
    m = _T_means(df, col)
    Ts = sorted(float(t) for t in m["T"].unique())
    if len(Ts) < 2:
        return np.array([]), Ts
    return per_seed_slopes(np.log(m["T"].to_numpy(float)), m[col], m["seed"], log=False), Ts


def T_changes(df, col: str, fit=None) -> np.ndarray:
    """Per-seed changes ``c_s`` of ``col`` across the temperature range the slopes span
    (``fit``: :func:`T_slopes`'s result, when already computed)."""
    a, Ts = fit or T_slopes(df, col)
    return a * math.log(Ts[-1] / Ts[0]) if a.size else a


def margin_scale(df, col: str, fit=None) -> float:
    """``|mean_s a_s| · ln(B_max/B_min)``: the change of ``col`` when T moves by the factor
    the batch range moves η at fixed T (NaN without a seed)."""
    a, _ = fit or T_slopes(df, col)
    bs = df["batch"].unique()
    return abs(float(a.mean())) * math.log(max(bs) / min(bs)) if a.size else math.nan


# -- criteria ---------------------------------------------------------------------------


def equal_T_name(T: float) -> str:
    return f"equal T gives equal test loss (T = {T:g})"


def paper_criteria(df) -> tuple[list[Criterion], dict]:
    """cpu / paper scale: one equivalence per T (in-distribution test loss) and the
    headline direction for both test sets; returns ``(criteria, data by name)``."""
    r = max(df["batch"].unique()) / min(df["batch"].unique())
    fits = {col: T_slopes(df, col) for col in LOSSES}
    scale = margin_scale(df, "test_loss", fits["test_loss"])
    # no T effect measured (fewer than 2 usable T): nothing to be invariant against, the
    # margin is 0 (the smallest positive float, so that no equivalence can pass)
    margin = FRACTION * scale if scale > 0 else sys.float_info.min
    reason = (
        f"{FRACTION:g} × the change of the test loss when T itself moves by the factor "
        f"B_max/B_min = {r:g} on this grid ({scale:.3g}: seed-mean slope in ln T × ln {r:g}): "
        f"the (η, B) split may matter at most as much as a factor {r**FRACTION:.2f} error in T"
    )
    crits, data = [], {}
    for T, d in equal_T_changes(df, "test_loss").items():
        name = equal_T_name(T)
        crits.append(
            Criterion(name, INVARIANCE_WORDS, "equivalence", margin=margin, margin_reason=reason)
        )
        data[name] = d
    for col, where in LOSSES.items():
        name = f"higher T lowers the test loss ({where})"
        crits.append(
            Criterion(
                name, DIRECTION_WORDS[col], "direction", sign=-1, effect=DIRECTION_EFFECT,
                effect_reason=f"a fall of {DIRECTION_EFFECT:g} nats across the grid's T range "
                "(≈ 5% of these nets' ≈ 2-nat test loss): the smallest fall we would call "
                "BG21's improvement",
            )
        )  # fmt: skip
        data[name] = T_changes(df, col, fits[col])
    return crits, data


#: smoke: the accepted largest ratio of an equal-T change to the T change per factor r
SMOKE_RATIO = 0.5
#: smoke: the smallest mean |domain − sampling| test loss that shows the shift was applied
SMOKE_SHIFT = 0.01


def smoke_criteria(df, n_expected: int) -> tuple[list[Criterion], dict]:
    """smoke: machinery checks (DESIGN.md §5), each able to fail (tests/experiments/
    test_bg21_cifar.py breaks an ingredient for each)."""
    scale = margin_scale(df, "test_loss")
    # the median over T: one temperature whose seeds scatter widely (the hottest, η near
    # instability, spreads ±0.3 over 3 seeds at smoke) cannot decide a machinery check
    gaps = [abs(d.mean()) for d in equal_T_changes(df, "test_loss").values() if d.size]
    ratio = float(np.median(gaps)) / scale if gaps and scale > 0 else math.inf
    done = finished(finished(df, "test_loss"), "domain_loss")
    shift = float((done["domain_loss"] - done["test_loss"]).abs().mean()) if len(done) else 0
    crits = [
        Criterion(
            "runs finished", "(machinery) every grid run trains to its last epoch with finite "
            "test losses", "machinery", low=n_expected - 0.5, high=n_expected + 0.5,
            derived=True,
        ),
        Criterion(
            "equal-T change ≪ T change", INVARIANCE_WORDS + " (machinery: the median over "
            f"T of |equal-T change| is at most {SMOKE_RATIO:g} × the change a factor "
            "B_max/B_min in T makes; with η = T·B broken it is ≈ 1)", "machinery", low=0.0,
            high=SMOKE_RATIO,
        ),
        Criterion(
            "domain shift applied", "(machinery) the domain-shifted test set changes the "
            f"test loss: mean |domain − sampling| ≥ {SMOKE_SHIFT:g}", "machinery",
            low=SMOKE_SHIFT, derived=True,
        ),
    ]  # fmt: skip
    data = {"runs finished": [len(done)], crits[1].name: [ratio], crits[2].name: [shift]}
    return crits, data
