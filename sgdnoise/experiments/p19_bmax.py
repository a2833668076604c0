"""P19 `p19-bmax`: the largest stable rate is bounded, so the largest batch consistent with
the optimal noise scale falls as the width grows (Park, Sohl-Dickstein, Le & Smith, ICML
2019; DESIGN.md §4.3).

The paper's abstract: "Surprisingly, since the largest stable learning rate is bounded,
the largest batch size consistent with the optimal normalized noise scale decreases as the
width increases."  It reads the grid of `p19-width` (:mod:`._p19_grid`, trained once when
both run; :mod:`._p19_analysis`).  Per family without BN, on per-seed values:

* ``eps-max-bounded-<family>`` — *direction*: the per-seed slope of log ε_max on log k
  (ε_max the largest stable NTK-equivalent rate) is below 1: the stable rate does not keep
  pace with ḡ_opt ∝ k.  Estimate: slope − 1 (< 0 supports); power at a bounded ε_max
  (slope 0, effect 1);
* ``bmax-falls-<family>`` — *direction*: the per-seed slope of log B_max on log k,
  B_max = ε_max N/ḡ_opt, is < 0; power at P19's B_max ∝ 1/k (slope −1, effect 1).

Where nothing diverged at some (width, seed), ε_max — hence B_max — is only a lower bound;
where an optimum lies on the grid's η/B edge ḡ_opt is only a bound: the slope is censored
and the criterion undecided, said so.  Smoke checks the machinery: every (width, seed)
has a recorded divergence above some stable rate — a divergence detector that never (or
always) fires fails it (tests/experiments/test_p19_width.py).
"""

from __future__ import annotations

from . import _p19_analysis as an
from ._p19_grid import run as run_grid
from .criteria import Criterion, evaluate
from .registry import ClaimResult, claim

BOUNDED = "since the largest stable learning rate is bounded"
FALLS = (
    "the largest batch size consistent with the optimal normalized noise scale decreases as "
    "the width increases"
)
EPS_REASON = "a bounded ε_max (slope 0) against ε_max ∝ k (slope 1, B_max flat)"
BMAX_REASON = "P19's mechanism: ε_max bounded and ḡ_opt ∝ k give B_max ∝ 1/k (slope −1)"

SMOKE_CRITERIA = (
    Criterion(
        "divergence-located",
        "(machinery) the largest stable rate of every (width, seed) is located by a recorded "
        "divergence (count of those where nothing diverged)", "machinery", low=0, high=0.5,
    ),
    Criterion(
        "stable-rate-exists",
        "(machinery) some grid rate is stable at every (width, seed) (count of those where "
        "the smallest rate already diverged)", "machinery", low=0, high=0.5,
    ),
)  # fmt: skip


def criteria_for(fams) -> list[Criterion]:
    out = []
    for a in fams:
        if a.family.batch_norm:
            continue
        out.append(
            Criterion(
                f"eps-max-bounded-{a.name}", BOUNDED, "direction", sign=-1, effect=1.0,
                effect_reason=EPS_REASON,
            )
        )  # fmt: skip
        out.append(
            Criterion(
                f"bmax-falls-{a.name}", FALLS, "direction", sign=-1, effect=1.0,
                effect_reason=BMAX_REASON,
            )
        )  # fmt: skip
    return out


def criteria_data(fams) -> dict:
    data = {}
    for a in fams:
        if a.family.batch_norm:
            continue
        eps_cut = a.censoring("eps_censored")
        data[f"eps-max-bounded-{a.name}"] = eps_cut or a.slopes("eps_max") - 1.0
        data[f"bmax-falls-{a.name}"] = eps_cut or a.censoring("edge") or a.slopes("B_max")
    return data


def smoke_data(fams) -> dict:
    # batch norm bounds the loss: a BN net at too large a rate drops to chance without the
    # loss exploding, so nothing "diverges" there; the BN families are not judged here
    fams = [a for a in fams if not a.family.batch_norm]
    return {
        "divergence-located": sum(len(a.where("eps_censored")) for a in fams),
        # no optimum (every run diverged) or no rate stable at every batch
        "stable-rate-exists": sum(a.missing + int(a.per["eps_max"].isna().sum()) for a in fams),
    }


def judge(fams, scale: str):
    if scale == "smoke":
        return evaluate(SMOKE_CRITERIA, smoke_data(fams))
    return evaluate(criteria_for(fams), criteria_data(fams))


@claim(
    "p19-bmax",
    paper="P19",
    statement="the largest stable rate ε_max is bounded, so B_max = ε_max N/ḡ_opt, the largest "
    "batch consistent with the optimal noise scale, falls as the width k grows",
)
def run(ctx):
    s, df, n_train = run_grid(ctx)
    fams = an.analyse(df, s, n_train)
    an.bmax_figure(ctx, fams)
    judged = judge(fams, ctx.scale)
    metrics = {"n_runs": float(len(df)), "n_diverged": float((df["status"] == "diverged").sum())}
    lines = []
    for a in fams:
        nm = a.name.replace("-", "_")
        for col in ("eps_max", "B_max"):
            v = a.slopes(col)
            metrics[f"{nm}_{col}_slope_mean"] = float(v.mean()) if v.size else float("nan")
        metrics[f"{nm}_eps_max_lower_bounds"] = float(len(a.where("eps_censored")))
        lines.append(
            f"- {a.name}: per-seed slopes of log ε_max on log k: {an.slopes_line(a, 'eps_max')};"
            f" of log B_max: {an.slopes_line(a, 'B_max')}; (width, seed) with ε_max only a "
            f"lower bound: {len(a.where('eps_censored'))}; optima on the grid's η/B edge: "
            f"{len(a.where('edge'))}"
        )
    decided = ", ".join(f"{j.name} {j.decision}" for j in judged)
    what = "; machinery check, not the paper's result" if ctx.scale == "smoke" else ""
    details = (
        "ε_max (per seed and width): the largest grid rate, as an NTK-equivalent rate, below "
        "the smallest rate at which a run of that seed and width diverged (any batch); a "
        "lower bound when none did.  B_max = ε_max N/ḡ_opt per seed, N = "
        f"{an.n_line(n_train)}.  Effect sizes (power): ε_max — {EPS_REASON}; B_max — "
        f"{BMAX_REASON}.\n\n" + "\n".join(lines) + "\n\n" + an.optima_table(fams)
    )
    return ClaimResult(
        summary=f"{ctx.scale} ({len(df)} runs{what}): {decided}.",
        criteria=judged,
        metrics=metrics,
        details=details,
    )
