"""P19 `p19-width`: the optimal normalized noise scale grows ∝ width, and wider networks
reach higher test accuracy (Park, Sohl-Dickstein, Le & Smith, ICML 2019; DESIGN.md §4.3).

The paper's abstract: "In the absence of batch normalization, the optimal normalized noise
scale is directly proportional to width.  Wider networks, with their higher optimal noise
scale, also achieve higher test accuracy. … We observe a similar trend with batch
normalization for ResNets."  The grid (:mod:`._p19_grid`; its rate × seed points of one
family, width and batch train as one batched ensemble, each member on its single run's
trajectory) and its analysis
(:mod:`._p19_analysis`) are shared with `p19-bmax`.  Criteria, per family, on per-seed
values (the seed is the sampling unit; Bonferroni over the criteria, :mod:`.criteria`):

* ``gbar-slope-<family>`` (no BN) — *exponent*: the per-seed slope of log ḡ_opt on log k
  is 1 within the grid's resolution (:func:`~._p19_analysis.rate_tolerance`: half a rate
  step at one end of the width span); power at the alternative "ḡ_opt independent of
  width" (slope 0, effect 1).  When some seed's optimum lies on the grid's η/B edge, ḡ_opt
  there is only a bound and the slope is censored: undecided, said so;
* ``accuracy-rises-<family>`` (no BN) — *direction*: the per-seed gain of the best late
  test accuracy from the smallest to the largest width is > 0;
* ``gbar-rises-<family>`` (BN, paper scale) — *direction*: the per-seed slope of log ḡ_opt
  on log k is > 0 ("a similar trend").

Smoke checks the machinery on tiny MLPs (2 seeds: no interval, so no paper criterion): an
optimum at every width and seed, the (η, B) grid moves the accuracy, the optimum beats
chance, and ḡ's fan-in convention matches the built models — each fails with a broken
ingredient (tests/experiments/test_p19_width.py).
"""

from __future__ import annotations

import numpy as np

from . import _p19_analysis as an
from ._p19_grid import SIGMA_W2
from ._p19_grid import run as run_grid
from .criteria import Criterion, evaluate
from .registry import ClaimResult, claim

PROPORTIONAL = (
    "In the absence of batch normalization, the optimal normalized noise scale is directly "
    "proportional to width"
)
ACCURACY = (
    "Wider networks, with their higher optimal noise scale, also achieve higher test accuracy"
)
BN_TREND = "We observe a similar trend with batch normalization for ResNets"

ACC_EFFECT = 0.03
ACC_REASON = (
    "3 points of accuracy over the width span, the size of the rises the 2-seed cpu pilot "
    "(2026-11-21) measured: +0.029 and +0.056 for the MLPs over k = 32 → 512"
)
BN_ACC_EFFECT = 0.02
BN_ACC_REASON = (
    "2 points of accuracy over k = 1 → 4, the rises the 2-seed pilot of the BN ResNet "
    "(2026-12-02) measured: +0.025 and +0.019"
)
SLOPE_REASON = "the alternative 'ḡ_opt independent of width' (slope 0)"

CHANCE = 0.10  # ten CIFAR-10 classes
SMOKE_CRITERIA = (
    Criterion(
        "optima-located", "(machinery) an optimum (η, B) at every width and seed", "machinery",
        low=0, high=0.5,
    ),
    Criterion(
        "grid-moves-accuracy",
        "(machinery) the (η, B) grid moves the late test accuracy at every width (least "
        "best − worst seed-mean accuracy)", "machinery", low=0.05, high=1.0,
    ),
    Criterion(
        "optimum-beats-chance",
        "(machinery) the optimum learns: least seed-mean best late accuracy over widths, "
        f"chance {CHANCE}", "machinery", low=0.15, high=1.0,
    ),
    Criterion(
        "fan-in-convention",
        "(machinery) ḡ's n is the fan-in of the built model's first hidden-to-hidden layer "
        "(largest relative gap)", "machinery", low=0.0, high=1e-12,
    ),
)  # fmt: skip


def criteria_for(fams) -> list[Criterion]:
    """The paper's criteria for these families (module docstring)."""
    out = []
    for a in fams:
        f = a.family
        if f.batch_norm:
            out.append(
                Criterion(
                    f"gbar-rises-{f.name}", BN_TREND, "direction", effect=1.0,
                    effect_reason="slope 1, the trend without BN",
                )
            )  # fmt: skip
            out.append(
                Criterion(
                    f"accuracy-rises-{f.name}", BN_TREND, "direction", effect=BN_ACC_EFFECT,
                    effect_reason=BN_ACC_REASON,
                )
            )  # fmt: skip
            continue
        out.append(
            Criterion(
                f"gbar-slope-{f.name}", PROPORTIONAL, "exponent", prediction=1.0,
                tolerance=an.rate_tolerance(f), effect=1.0, effect_reason=SLOPE_REASON,
            )
        )  # fmt: skip
        out.append(
            Criterion(
                f"accuracy-rises-{f.name}", ACCURACY, "direction", effect=ACC_EFFECT,
                effect_reason=ACC_REASON,
            )
        )  # fmt: skip
    return out


def criteria_data(fams) -> dict:
    """Per-seed values for :func:`criteria_for` (a string: undecided, with the reason)."""
    data = {}
    for a in fams:
        cut = a.censoring("edge")
        if a.family.batch_norm:
            data[f"gbar-rises-{a.name}"] = cut or a.slopes("g_opt")
            data[f"accuracy-rises-{a.name}"] = a.gain()
            continue
        data[f"gbar-slope-{a.name}"] = cut or a.slopes("g_opt")
        data[f"accuracy-rises-{a.name}"] = a.gain()
    return data


def smoke_data(fams, settings) -> dict:
    mean_best = [
        float(a.per.loc[a.per["width"] == w, an.SCORE].mean())
        for a in fams
        for w in a.family.widths
    ]
    ranges = [float(r) for a in fams for r in a.accuracy_range().reindex(a.family.widths)]
    return {
        "optima-located": sum(a.missing for a in fams),
        "grid-moves-accuracy": np.nanmin(ranges) if not np.isnan(ranges).all() else np.nan,
        "optimum-beats-chance": np.nanmin(mean_best) if not np.isnan(mean_best).all() else np.nan,
        "fan-in-convention": an.fan_in_gap(settings, (3, settings.image_size, settings.image_size)),
    }


def judge(fams, settings, scale: str):
    """The judged criteria of this scale."""
    if scale == "smoke":
        return evaluate(SMOKE_CRITERIA, smoke_data(fams, settings))
    return evaluate(criteria_for(fams), criteria_data(fams))


def _metrics(df, fams) -> dict:
    m = {"n_runs": float(len(df)), "n_diverged": float((df["status"] == "diverged").sum())}
    for a in fams:
        nm = a.name.replace("-", "_")
        s, g = a.slopes("g_opt"), a.gain()
        m[f"{nm}_gbar_slope_mean"] = float(s.mean()) if s.size else float("nan")
        m[f"{nm}_acc_gain_mean"] = float(g.mean()) if g.size else float("nan")
        m[f"{nm}_optima_on_edge"] = float(len(a.where("edge")))
    return m


@claim(
    "p19-width",
    paper="P19",
    statement="without batch norm the optimal normalized noise scale ḡ_opt = εN/B is "
    "proportional to width k (log-log slope 1), and wider networks reach higher test accuracy",
)
def run(ctx):
    s, df, n_train = run_grid(ctx)
    fams = an.analyse(df, s, n_train)
    an.heatmaps(ctx, df, fams)
    an.gbar_figure(ctx, fams)
    an.accuracy_figure(ctx, fams)
    an.rate_curves_figure(ctx, fams, df)
    judged = judge(fams, s, ctx.scale)
    lines = [
        f"- {a.name} (k = {', '.join(map(str, a.family.widths))}; {len(a.seeds)} seeds): "
        f"per-seed slopes of log ḡ_opt on log k: {an.slopes_line(a, 'g_opt')}; per-seed "
        f"accuracy gains k={min(a.family.widths)}→{max(a.family.widths)}: "
        + (", ".join(f"{v:+.3f}" for v in a.gain()) or "none")
        + f"; optima on the grid's η/B edge: {len(a.where('edge'))}"
        for a in fams
    ]
    decided = ", ".join(f"{j.name} {j.decision}" for j in judged)
    what = (
        "machinery check on tiny MLPs and a tiny BN ResNet, not the paper's result"
        if ctx.scale == "smoke"
        else ""
    )
    summary = f"{ctx.scale} ({len(df)} runs{'; ' + what if what else ''}): {decided}."
    details = (
        "Per family, width k and seed: the optimum (η*, B*) of that seed's late test "
        "accuracy; ḡ_opt = ε*N/B* with ε the NTK-equivalent rate (standard: ε = ηn/σ_w², "
        f"n = fan-in of the first hidden-to-hidden layer, σ_w² = {SIGMA_W2}); N = "
        f"{an.n_line(n_train)}.  "
        "An optimum with its width's largest or smallest non-diverged η/B is on the grid's "
        "edge: ḡ_opt is then a bound and a slope through it is censored (undecided).  "
        "Slope tolerance = half the rate grid's largest log step / log(k_max/k_min).  "
        "Smoke ranges: accuracy moved by ≥ 0.05 (a trainer that ignores η or the data gives "
        "a flat grid, within the ≈ 0.02 test-set noise); best accuracy ≥ 0.15 (chance 0.10, "
        "test-set sd ≈ 0.013); fan-in gap ≤ 1e-12.  Effect sizes (power): slope — "
        f"{SLOPE_REASON}; accuracy — {ACC_EFFECT}, {ACC_REASON}; with BN, ḡ_opt rising — "
        f"slope 1, the trend without BN; accuracy — {BN_ACC_EFFECT}, {BN_ACC_REASON}.\n\n"
        + "\n".join(lines)
        + "\n\n"
        + an.optima_table(fams)
    )
    return ClaimResult(
        summary=summary, criteria=judged, metrics=_metrics(df, fams), details=details
    )
