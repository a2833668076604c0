"""P19 `p19-collapse`: "the optimal SGD hyper-parameters are determined by a normalized noise
scale" (Park, Sohl-Dickstein, Le & Smith, ICML 2019, abstract; DESIGN.md §4.3).

If the late test accuracy of constant SGD is a function of ḡ = εN/B alone (ε the
NTK-equivalent rate, below the largest stable rate ε_max), then at each width two grid points
of equal ḡ give the same accuracy and two of different ḡ do not.  Grid, per width: a factor-2
ladder of NTK rates ε_j crossed with batches B_0 and 2B_0, so (ε_j, B_0) and (ε_{j+1}, 2B_0)
share ḡ while (ε_j, B_0) has twice the ḡ of (ε_j, 2B_0); the ladder lies below ε_max and on
the rising side of the accuracy curve (below ḡ_opt, measured in pilots), where the sign of a
change of ḡ is known.  The runs are P19's grid worker
(:func:`sgdnoise.experiments._p19_grid.p19_point`, NTK-parameterized MLPs on CIFAR-10)
through :func:`._grid.run_grid`; the values are :mod:`._p19_collapse_analysis`'s.

Criteria per width k (cpu, paper; :mod:`.criteria`, Bonferroni over all):

* ``equal-gbar-k{k}`` (equivalence): per seed, the mean over equal-ḡ pairs of
  acc(2ε, 2B) − acc(ε, B) lies within ± the margin: half the accuracy change of one doubling
  of ḡ measured on the same grid and width (:data:`._p19_collapse_analysis.MARGIN_FRACTION`);
* ``gbar-matters-k{k}`` (direction, sign ours): per seed, the mean over ε of
  acc(ε, B) − acc(ε, 2B) (ḡ doubled) > 0 — pairs of different ḡ are not equivalent; positive
  because the ladder lies below ḡ_opt.  Effect: one point of accuracy.

Smoke (4 seeds of tiny MLPs) checks the machinery, each check able to fail
(tests/experiments/test_p19_collapse.py): the pairs have the ḡ ratios the design states,
every run of the ladder is stable, and the equal-ḡ difference is well below the ḡ-doubled one
at every width; the statistical criteria are reported there, not judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ParameterError
from . import _p19_collapse_analysis as an
from .criteria import Criterion, criteria_table, evaluate
from .registry import ClaimResult, claim

STATEMENT = "the optimal SGD hyper-parameters are determined by a normalized noise scale"
ACC_EFFECT = 0.01
ACC_REASON = (
    "one point of test accuracy: the pilots measured 1.3–4.7 points per doubling of ḡ on the "
    "rising side (smoke MLPs, 3 seeds); a change smaller than a point is not one the accuracy "
    "curve is read by"
)
#: smoke: every equal-ḡ difference below this fraction of the ḡ-doubled one (pilots: 0.05–0.2)
COLLAPSE_RATIO = 0.5


@dataclass(frozen=True)
class CollapseSettings:
    """One scale: NTK-parameterized MLPs of these widths; NTK rates ``eps`` (a factor-2
    ladder) × batches ``batch``, 2·``batch``; ``seeds`` seeds; data and training as P19's grid
    worker takes them."""

    widths: tuple[int, ...]
    eps: tuple[float, ...]
    batch: int
    seeds: int
    n_train: int
    n_test: int
    image_size: int
    epochs: int
    depth: int
    late_fraction: float
    threads: int
    workers: int | None

    def __post_init__(self):
        ratios = [b / a for a, b in zip(self.eps[:-1], self.eps[1:], strict=True)]
        if len(self.eps) < 2 or any(not math.isclose(r, 2.0) for r in ratios):
            raise ParameterError(
                "eps", self.eps, "a ladder of at least two rates, each twice the last"
            )
        if self.seeds < 3:
            raise ParameterError("seeds", self.seeds, "at least 3 (no interval from fewer)")


SETTINGS = {
    # 2 widths × 3 × 2 × 4 seeds = 48 runs of ≈ 0.3 CPU-s.  Pilot (standard MLPs, 2026-12-02):
    # the collapse holds up to ε ≈ 3 and breaks at 6 → 13 (ε_max ≈ 25); accuracy rises with ḡ
    # for ε ≤ 0.8 at widths 16 and 64 (+1.3 to +4.7 points per doubling)
    "smoke": CollapseSettings((16, 64), (0.2, 0.4, 0.8), 16, 4, 512, 512, 8, 6, 2, 0.34, 1, 2),
    # p19-width's cpu MLPs (NTK): accuracy rises from ε = 0.3 to 1 at B = 32 and peaks at 3
    # (its 8-seed store); per-run sd ≈ 0.012, so a per-seed mean of 2–3 paired differences
    # spreads by ≈ 0.01.  10 seeds: power ≈ 0.9 (direction, one point) and ≈ 0.7
    # (equivalence at a margin of ½ × 3.5 points) at α/6.  180 runs ≈ 5 CPU-min.
    "cpu": CollapseSettings(
        (32, 128, 512), (0.25, 0.5, 1.0), 32, 10, 1024, 1000, 8, 10, 2, 0.3, 1, 2
    ),
    # P19's CIFAR-10 (all 50,000 images, 32×32), 100 epochs; the ladder's ḡ (≈ 12–100) lies
    # below the cpu grid's ḡ_opt ≈ 100.  Defined for a GPU, not run here.
    "paper": CollapseSettings(
        (128, 512, 2048), (0.0625, 0.125, 0.25), 128, 5, 0, 0, 32, 100, 3, 0.1, 4, 1
    ),
}


def family(s: CollapseSettings):
    from ._p19_grid import Family

    return Family("mlp", "ntk", False, s.eps, s.widths)


def spec(ctx, s: CollapseSettings, data_dir: str) -> dict:
    """The sweep spec: P19's grid worker over width × ε × {B, 2B} × seeds."""
    from ._p19_grid import FUNCTION

    return {
        "name": "p19-collapse",
        "description": "P19: equal and different normalized noise scale, factor-2 ladders",
        "function": FUNCTION,
        "fixed": {
            "arch": "mlp", "parameterization": "ntk", "batch_norm": False,
            "data_dir": data_dir, "data_seed": int(ctx.seed), "device": ctx.device,
            "dataset": "cifar10", "n_train": s.n_train, "n_test": s.n_test,
            "image_size": s.image_size, "epochs": s.epochs, "depth": s.depth,
            "late_fraction": s.late_fraction, "threads": s.threads,
        },
        "product": {
            "width": list(s.widths),
            "lr": [float(e) for e in s.eps],
            "batch": [s.batch, 2 * s.batch],
            "seed": [int(ctx.seed) + i for i in range(s.seeds)],
        },
    }  # fmt: skip


def criteria(s: CollapseSettings, values: dict) -> list[Criterion]:
    """The paper criteria per width (module docstring); margins measured on ``values``."""
    out = []
    for w in s.widths:
        m = an.margin(values[w]) if w in values else math.nan
        out.append(
            Criterion(
                f"equal-gbar-k{w}",
                f"{STATEMENT}: equal ḡ, equal accuracy (width {w}; acc(2ε, 2B) − acc(ε, B))",
                "equivalence", margin=m if m > 0 else ACC_EFFECT,
                margin_reason=f"{an.MARGIN_FRACTION:g} × the accuracy change of one doubling "
                "of ḡ measured on the same grid (a factor √2 in ḡ, half the ladder's step)",
            )
        )  # fmt: skip
        out.append(
            Criterion(
                f"gbar-matters-k{w}",
                f"{STATEMENT}: different ḡ, different accuracy (width {w}; acc(ε, B) − "
                "acc(ε, 2B), ḡ doubled below ḡ_opt: sign ours)",
                "direction", sign=1, effect=ACC_EFFECT, effect_reason=ACC_REASON, derived=True,
            )
        )  # fmt: skip
    return out


SMOKE_CRITERIA = (
    Criterion(
        "gbar-pairing",
        "(machinery) paired runs have the ḡ ratio the design states (1 equal, 2 doubled): "
        "largest relative deviation", "machinery", low=0.0, high=1e-12,
    ),
    Criterion(
        "runs-below-eps-max",
        "(machinery) the ladder lies below ε_max: grid runs diverged, failed or absent",
        "machinery", low=0, high=0,
    ),
    Criterion(
        "collapse-visible",
        "(machinery) |equal-ḡ difference| / |ḡ-doubled difference| of the seed means, the "
        "largest over widths", "machinery", low=0.0, high=COLLAPSE_RATIO,
    ),
)  # fmt: skip


def analyse(df, s: CollapseSettings, n_train: int, scale: str):
    """``(judged, shown, values)`` from the grid's frame (tests feed synthetic frames): at
    smoke the machinery is judged and the paper criteria shown; elsewhere the paper criteria
    are judged."""
    from ._p19_analysis import gbar

    f = family(s)
    values = an.pair_values(df, s, lambda e, b, w: gbar(f, e, b, w, n_train))
    crits = criteria(s, values)
    data = {}
    for w in s.widths:
        v = values[w]
        m = an.margin(v)
        data[f"equal-gbar-k{w}"] = (
            v["equal"] if m > 0 else "no ḡ-doubled accuracy change measured to set the margin"
        )
        data[f"gbar-matters-k{w}"] = v["different"]
    paper = evaluate(crits, data)
    if scale != "smoke":
        return paper, [], values
    smoke = {
        "gbar-pairing": max(v["gbar_error"] for v in values.values()),
        "runs-below-eps-max": an.incomplete_runs(df, s),
        "collapse-visible": max(an.collapse_ratio(v) for v in values.values()),
    }
    return evaluate(SMOKE_CRITERIA, smoke), paper, values


@claim("p19-collapse")
def run(ctx):
    from ..nets.files import find_data_dir
    from ._grid import run_grid
    from ._p19_grid import n_train_of

    s = SETTINGS[ctx.scale]
    data_dir = str(find_data_dir(ctx.data_dir))
    df, summaries = run_grid(ctx, [spec(ctx, s, data_dir)], workers=s.workers, failed="drop")
    n_train = n_train_of(s, data_dir)
    judged, shown, values = analyse(df, s, n_train, ctx.scale)
    ctx.savefig(an.collapse_figure(values, f"P19: late test accuracy vs ḡ ({ctx.scale})"),
                "p19_collapse_vs_gbar")  # fmt: skip
    ctx.savefig(an.pairs_figure(values), "p19_collapse_pairs")
    metrics = {"runs": float(len(df)), "incomplete": float(an.incomplete_runs(df, s)),
               "sweep_seconds": summaries[0].wall_seconds}  # fmt: skip
    for w, v in values.items():
        metrics[f"k{w}_equal_mean"] = float(v["equal"].mean()) if v["equal"].size else math.nan
        metrics[f"k{w}_doubled_mean"] = (
            float(v["different"].mean()) if v["different"].size else math.nan
        )
        metrics[f"k{w}_margin"] = an.margin(v)
        metrics[f"k{w}_ratio"] = an.collapse_ratio(v)
    ratios = ", ".join(f"k={w}: {metrics[f'k{w}_ratio']:.2f}" for w in values)
    summary = (
        f"{ctx.scale} ({len(df)} runs, NTK MLPs, ε ∈ {list(s.eps)}, B ∈ {{{s.batch}, "
        f"{2 * s.batch}}}): |equal-ḡ difference| / |ḡ-doubled difference| {ratios}"
        + ("; smoke checks the machinery, not the paper's result." if ctx.scale == "smoke" else ".")
    )
    details = [
        f"Grid per width: NTK rates ε ∈ {list(s.eps)} × B ∈ {{{s.batch}, {2 * s.batch}}} × "
        f"{s.seeds} seeds, N = {n_train}, {s.epochs} epochs, {s.image_size}×{s.image_size} "
        "CIFAR-10, MLP depth "
        f"{s.depth}; score = test accuracy averaged over the last {s.late_fraction:.0%} of "
        "the epochs.  Per seed, the mean over the ladder of the equal-ḡ and of the ḡ-doubled "
        "differences (95% t intervals below; the criteria use their own level α/k):",
        "",
        an.pairs_table(values),
        "",
        an.levels_table(values),
    ]
    if shown:
        details += ["", f"Not judged at {ctx.scale} scale (shown for information):", "",
                    criteria_table(shown)]  # fmt: skip
    return ClaimResult(summary=summary, criteria=judged, metrics=metrics,
                       details="\n".join(details))  # fmt: skip
