"""Claim ``sgw23-powerlaws``: "key dynamical quantities (including the total variations of
weights during training) depend on both T and P as power laws" and "a key effect of SGD noise
occurs late in training" (Sclocchi, Geiger & Wyart, ICML 2023, abstract; DESIGN.md §4.2).

The abstract in full on these points: "We relate this finding [T_c is a power law of P] with
the observation that key dynamical quantities, such as the total variation of weights during
training, depend on both T and P as power laws.  These results indicate that a key effect of
SGD noise occurs late in training by affecting the stopping process whereby all data are
fitted."

**Grid.**  The (P, T) grid of α-trick MNIST nets in the lazy regime is ``sgw23-tc``'s (same
worker, spec name and fixed settings, so the same sweeps-store keys: this claim starts from a
copy of its store, :func:`._grid.adopt_sibling_store`), with the temperatures of
``extra_T`` added where the joint fit needs a third temperature.  T_c and its exponent a are
``sgw23-tc``'s measurement (:func:`._sgw23_analysis.tc_values` on ``sgw23-tc``'s own
temperatures), not a second implementation.  A second, small grid of late-training runs
(:mod:`._sgw23_powerlaws_worker`: the same run, watched) at one P and two temperatures gives
when the weight change and the temperature's effect on the test error were made.

**Power laws** (:mod:`._sgw23_powerlaws_analysis`): per seed, ln y = c + δ ln T + γ ln P by
least squares over the fitted temperatures ``fit_T`` — the noise-dominated part of the grid,
T ≫ T_c (sgw23-tc measured T_c ≈ 4·10⁻⁴ at cpu scale; the fit starts at ≥ 7 T_c), y =
‖Δw‖/‖w0‖ and t* (fitted runs only).  Criteria:

* **δ > 0**, **γ > 0** for each quantity (direction; the paper: both grow with T — the noise
  — and with P — "nets must develop a stronger 'signal' … leading to a longer training time");
  effect 0.25, the gap between the perceptron's exponents at χ = 1 and χ = 3;
* **power law in T** and **product in T and P** for each quantity (equivalence within
  :data:`DRIFT_MARGIN`): per seed, the signed change of the local T exponent across the
  fitted temperatures (2κ R_u, from a quadratic term in ln T) and the signed change that the
  T×P interaction makes in an exponent (ι·max(R_u, R_v)); supported when the seeds' interval
  lies inside ±margin, contradicted when wholly outside it;
* **a = γ/δ** (exponent, derived): T^δ P^γ reaches a P-independent T → 0 value at
  T_c ∝ P^(−γ/δ) — so sgw23-tc's a minus the ratio γ/δ of ‖Δw‖/‖w0‖, per seed, is 0 within
  sgw23-tc's tolerance.

**Late training.**  The level: the training loss first ≤ ℓ·L0 with ℓ = :data:`LOSS_LEVEL`
= 0.1, L0 = 1/α the loss at initialization (the centred output is 0 there).  Why 0.1: the
paper places the effect in "the stopping process whereby all data are fitted", the stage after
the bulk of the fitting; a loss one order of magnitude below its initial value bounds the
training error by ℓ (a misclassified point has hinge loss ≥ 1/α), so at most 10% of the points
are still on the wrong side and the fit is in its stopping stage.  Why ½: "a key effect …
occurs late" is read as most of it — more after the level than in all the training before.
Criteria (seeds as the unit; the two temperatures share each seed's w0 and batch sequence):

* **late weight change** (direction): the share of Δw = w_final − w0 made after the level,
  ⟨w_final − w(t_ℓ), Δw⟩/‖Δw‖², at T_hot, minus ½ > 0; effect 0.25 (a late share of ¾);
* **late test-error effect** (direction): of D = err(T_hot) − err(T_cold), the part made
  after the level (D_end − D_ℓ, each run at its own t_ℓ) minus the part before (D_ℓ), in
  D_end's direction, > 0; effect one point of test error (sgw23-phase's ERR_EFFECT).
  Undecided when D_end's 95% interval holds 0: no difference to apportion.

Smoke judges machinery only (exponents positive, late phase located, runs fitted); the other
criteria are reported there, not judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ._sgw23_runs import grid_spec
from .criteria import Criterion, criteria_table, evaluate
from .registry import ClaimResult, claim
from .sgw23_phase import ERR_EFFECT
from .sgw23_tc import A_EFFECT, A_TOLERANCE, MIN_FITTED, TC, TcSettings, tc_spec

SIBLING = "sgw23-tc"
#: the level of the late phase, as a fraction of the initial training loss 1/α (module docstring)
LOSS_LEVEL = 0.1
#: a power law is adequate when its local exponents drift by less than this across the
#: fitted grid: the gap between the perceptron's exponents at χ = 1 and χ = 3 (A_EFFECT), the
#: smallest difference of exponent the theory tells apart (a smaller drift could not be
#: mistaken for another χ's law)
DRIFT_MARGIN = A_EFFECT
#: the power of the exponent-sign criteria at this exponent (the same gap)
EXP_EFFECT = A_EFFECT
#: why DRIFT_MARGIN and EXP_EFFECT are what they are (stated in every criterion)
GAP_REASON = "the gap between the perceptron's exponents at χ = 1 and χ = 3"
#: the power of the late-share criterion at a late share of ¾ (¼ above the threshold ½)
SHARE_EFFECT = 0.25


@dataclass(frozen=True)
class PowerLawSettings:
    """``sgw23-powerlaws`` at one scale: sgw23-tc's grid (shared runs), further temperatures
    ``extra_T`` of the same grid, the fitted temperatures ``fit_T``, the late-training grid
    (one P, (T_cold, T_hot), its seeds), the pool size (None: every core), the criteria
    judged."""

    tc: TcSettings
    extra_T: tuple[float, ...]
    fit_T: tuple[float, ...]
    late_P: int
    late_T: tuple[float, float]
    late_seeds: tuple[int, ...]
    workers: int | None
    judged: tuple[str, ...]


STATISTICAL = (
    "delta_weight_change", "gamma_weight_change", "curv_weight_change", "inter_weight_change",
    "delta_t_star", "gamma_t_star", "curv_t_star", "inter_t_star", "a_ratio", "share", "err",
)  # fmt: skip
MACHINERY = ("exponents_weight_change", "exponents_t_star", "located", "fitted")

POWERLAWS = {
    # sgw23-tc's smoke grid (27 runs; none when sgw23-tc ran first) and 6 late runs on the same
    # 128 images; tiny nets: a machinery check that the fits, the late-phase watcher and the
    # decomposition run, not the paper's result
    "smoke": PowerLawSettings(
        TC["smoke"], extra_T=(), fit_T=TC["smoke"].T, late_P=128, late_T=(1e-3, 1e-2),
        late_seeds=(0, 1, 2), workers=2, judged=MACHINERY,
    ),
    # sgw23-tc's cpu grid (100 runs, 16 min on 2 cores; adopted) plus T = 5e-3 (25 runs) so
    # that the noise-dominated range 3e-3..1e-2 (≥ 7 T_c; T_c ≈ 4e-4 measured there) has three
    # temperatures for the curvature check.  Measured on sgw23-tc's store before this claim:
    # per-seed δ of ‖Δw‖/‖w0‖ 1.1–1.3, γ 0.18–0.33 (seed spread 0.06), so 5 seeds give power
    # ≥ 0.8 at 0.25 even at α/11.  Late grid: P = 1024 (the middle of the P range), T_cold =
    # 1e-3 (2.5 T_c, ‖Δw‖/‖w0‖ 1.4× its T → 0 value; 3e-4 ≈ T_c costs 2.4× the steps, more
    # than this loaded machine's budget) and T_hot = 3e-3 (noise-dominated, still lazy:
    # ‖Δw‖/‖w0‖ ≈ 0.09); their test errors differ by ≈ 0.021 with seed spread ≈ 0.004
    # (sgw23-tc's runs), so 6 seeds resolve the split of that difference at one point.
    "cpu": PowerLawSettings(
        TC["cpu"], extra_T=(5e-3,), fit_T=(3e-3, 5e-3, 1e-2), late_P=1024,
        late_T=(1e-3, 3e-3), late_seeds=tuple(range(6)), workers=2, judged=STATISTICAL,
    ),
    # the paper-scale sgw23-tc grid (α = 1000, T = 1e-6..1e-1); T_c ∝ 1/α puts it near 4e-6,
    # so T from 3e-5 (≈ 10 T_c) to 3e-3 (where the cpu nets are still lazy) is fitted; the
    # late grid at P = 4096 between T_c and 100 T_c.  Defined for a GPU, not run here.
    "paper": PowerLawSettings(
        TC["paper"], extra_T=(), fit_T=TC["paper"].T[3:8], late_P=4096,
        late_T=(TC["paper"].T[1], TC["paper"].T[5]), late_seeds=tuple(range(8)), workers=None,
        judged=STATISTICAL,
    ),
}  # fmt: skip


def powerlaw_criteria() -> dict[str, Criterion]:
    """Every criterion of the claim, by short name (a scale judges some of them)."""
    crits = {}
    for q, name in (("weight_change", "‖Δw‖/‖w0‖"), ("t_star", "t*")):
        crits[f"delta_{q}"] = Criterion(
            f"δ > 0 ({name})",
            "key dynamical quantities (including the total variations of weights during "
            f"training) depend on both T and P as power laws: {name} ∝ T^δ P^γ with δ > 0 "
            "(more noise, more change)",
            "direction", effect=EXP_EFFECT,
            effect_reason=GAP_REASON,
        )  # fmt: skip
        crits[f"gamma_{q}"] = Criterion(
            f"γ > 0 ({name})",
            "due to SGD noise, nets must develop a stronger 'signal', i.e. larger informative "
            f"weights, to fit the data, leading to a longer training time: {name} ∝ T^δ P^γ "
            "with γ > 0",
            "direction", effect=EXP_EFFECT,
            effect_reason=GAP_REASON,
        )  # fmt: skip
        crits[f"curv_{q}"] = Criterion(
            f"power law in T ({name})",
            f"… depend on both T and P as power laws: the local T exponent of {name} is the "
            "same across the fitted temperatures (its change 2κ R_u, per seed, equals 0)",
            "equivalence", margin=DRIFT_MARGIN,
            margin_reason=GAP_REASON,
        )  # fmt: skip
        crits[f"inter_{q}"] = Criterion(
            f"product in T and P ({name})",
            f"… depend on both T and P as power laws, {name} ∝ T^δ P^γ: neither exponent moves "
            "with the other variable (the interaction's change ι·max(R_u, R_v) equals 0)",
            "equivalence", margin=DRIFT_MARGIN,
            margin_reason=GAP_REASON,
        )  # fmt: skip
        crits[f"exponents_{q}"] = Criterion(
            f"exponents positive ({name})",
            f"the joint fit of {name} runs: smallest per-seed δ and γ ≥ 0", "machinery",
            low=0.0,
        )  # fmt: skip
    crits["a_ratio"] = Criterion(
        "a = γ/δ",
        "T_c follows from the weight change growing as T^δ P^γ: T_c ∝ P^(−γ/δ), so per seed "
        "a − γ/δ = 0 (a: sgw23-tc's T_c exponent; γ, δ: the joint fit of ‖Δw‖/‖w0‖)",
        "exponent", prediction=0.0, tolerance=A_TOLERANCE, effect=A_EFFECT,
        effect_reason="the gap between the perceptron's a at χ = 1 and χ = 3", derived=True,
    )  # fmt: skip
    crits["share"] = Criterion(
        "late weight change",
        "a key effect of SGD noise occurs late in training: at the hot T, more than half of "
        f"w_final − w0 is made after the training loss first falls to {LOSS_LEVEL:g}/α "
        "(late share − ½ > 0)",
        "direction", effect=SHARE_EFFECT, effect_reason="a late share of ¾",
    )  # fmt: skip
    crits["err"] = Criterion(
        "late test-error effect",
        "a key effect of SGD noise occurs late in training: more than half of the test-error "
        f"difference between the two T arises after the loss first falls to {LOSS_LEVEL:g}/α "
        "(late part − early part, in the difference's direction, > 0)",
        "direction", effect=ERR_EFFECT, effect_reason="one point of test error",
    )  # fmt: skip
    crits["located"] = Criterion(
        "late phase located",
        f"every late-training run reaches training loss ≤ {LOSS_LEVEL:g}/α within the run "
        "(fraction of runs)", "machinery", low=1.0, high=1.0,
    )  # fmt: skip
    crits["fitted"] = Criterion(
        "runs fitted", f"at least {MIN_FITTED:.0%} of the (P, T) runs fit every point within "
        "the caps", "machinery", low=MIN_FITTED, high=1.0,
    )  # fmt: skip
    return crits


def grid_specs(s: PowerLawSettings, scale: str, data_dir: str) -> tuple[dict, dict]:
    """The (P, T) spec (sgw23-tc's, with ``extra_T`` added: same name and fixed settings,
    so the shared runs have sgw23-tc's keys) and the late-training spec."""
    from ._sgw23_powerlaws_worker import LATE_PATH

    T = tuple(sorted(set(s.tc.T) | set(s.extra_T)))
    pt = tc_spec(replace(s.tc, T=T), scale, data_dir)
    late = grid_spec(
        "sgw23-late", f"SGW23 late-training runs, P = {s.late_P}, {scale} scale",
        replace(s.tc.net, n_train=s.late_P), {"seed": s.late_seeds, "T": s.late_T}, data_dir,
        alpha=s.tc.alpha, loss_level=LOSS_LEVEL,
    )  # fmt: skip
    late["function"] = LATE_PATH
    return pt, late


def values(df, late, s: PowerLawSettings) -> dict:
    """Every criterion's per-seed values (by short name) and the tables behind them."""
    from . import _sgw23_powerlaws_analysis as an
    from ._sgw23_analysis import tc_values

    v = an.powerlaw_values(df, s.fit_T)
    tc = tc_values(df[np.isin(np.round(df["T"].astype(float), 12), np.round(s.tc.T, 12))])
    wc = v["fits"]["weight_change"]
    v["a_by_seed"] = tc["a_by_seed"]
    v["a_ratio"] = (
        an.a_versus_ratio(tc["a_by_seed"], wc) if isinstance(tc["a"], np.ndarray) else tc["a"]
    )
    for q in an.QUANTITIES:
        f = v["fits"][q]
        v[f"exponents_{q}"] = (
            float(np.min(f[["delta", "gamma"]].to_numpy())) if len(f) else math.nan
        )
    lv = an.late_values(late, *s.late_T)
    v.update(share=lv["share"], err=lv["err"], located=lv["located"], late=lv)
    v["fitted"] = float((df["status"] == "done").mean()) if len(df) else 0.0
    return v


def judge(v: dict, s: PowerLawSettings):
    """``(judged, shown)``: the scale's criteria and, for the report, the others."""
    crits = powerlaw_criteria()
    data = {c.name: v[k] for k, c in crits.items()}
    judged = evaluate([crits[k] for k in s.judged], data)
    rest = [crits[k] for k in STATISTICAL if k not in s.judged]
    return judged, (evaluate(rest, data) if rest else [])


def _series(x) -> str:
    return ", ".join(f"{float(t):.3g}" for t in np.asarray(x, float)) or "—"


@claim("sgw23-powerlaws")
def run(ctx) -> ClaimResult:
    import pandas as pd

    from ..nets.files import find_data_dir
    from ..sweeps import Store
    from ..sweeps.spec import load_spec, run_key
    from . import _sgw23_powerlaws_analysis as an
    from ._grid import adopt_sibling_store, run_grid
    from ._sgw23_analysis import status_counts
    from ._sgw23_powerlaws_worker import ENSEMBLE as LATE_ENSEMBLE
    from ._sgw23_runs import ENSEMBLE

    s = POWERLAWS[ctx.scale]
    adopted = adopt_sibling_store(ctx, SIBLING)
    pt, late_spec = grid_specs(s, ctx.scale, str(find_data_dir(ctx.data_dir)))
    both, (sum_pt, sum_late) = run_grid(
        ctx,
        [pt, late_spec],
        workers=s.workers,
        failed="drop",
        capped="capped",
        ensemble=[ENSEMBLE, LATE_ENSEMBLE],
    )
    sp = load_spec(late_spec)
    late_keys = {run_key(sp.function, c) for c in sp.configs()}
    is_late = both["key"].isin(late_keys)
    df, late = both[~is_late], both[is_late]
    curves = pd.DataFrame(columns=["key", "name", "x", "y", "T", "seed"])
    if (ctx.out_dir / "study.sqlite").is_file():  # the late runs' loss and ‖Δw‖ curves
        with Store(ctx.out_dir / "study.sqlite") as st:
            curves = st.curves_frame()
        curves = curves[curves["key"].isin(late_keys)]
    v = values(df, late, s)
    judged, shown = judge(v, s)
    fits, lv = v["fits"], v["late"]

    for q, name in an.QUANTITIES.items():
        title = f"SGW23 MNIST, α = {s.tc.alpha:g}: {name} vs T; joint fit over T ∈ {list(s.fit_T)}"
        ctx.savefig(an.powerlaw_figure(df, q, fits[q], s.fit_T, title), f"powerlaw_{q}")
    ctx.savefig(an.exponents_figure(fits, v["a_by_seed"]), "exponents")
    ctx.savefig(an.late_figure(curves, lv, LOSS_LEVEL, s.tc.alpha, s.late_T), "late_training")

    n, nl = status_counts(df), status_counts(late)
    metrics = {"adopted_sgw23_tc_store": float(adopted), "runs": float(len(df)),
               "late_runs": float(len(late)), "sweep_seconds": sum_pt.wall_seconds,
               "late_sweep_seconds": sum_late.wall_seconds}  # fmt: skip
    metrics |= {k: float(x) for k, x in n.items()}
    for q in an.QUANTITIES:
        f = fits[q]
        for col in ("delta", "gamma", "curv_T", "inter", "drift"):
            if len(f):
                metrics[f"{col}_{q}_seed_mean"] = float(np.nanmean(f[col]))
    if len(v["a_by_seed"]):
        metrics["a_seed_mean"] = float(v["a_by_seed"].mean())
    for T, sh in ((s.late_T[0], lv["share_cold"]), (s.late_T[1], lv["share_hot"])):
        if len(sh):
            metrics[f"late_share_T{T:g}"] = float(sh.mean())
    if lv["d_end"].size:
        metrics["test_err_diff_end"] = float(lv["d_end"].mean())
        metrics["test_err_diff_at_level"] = float(np.mean(lv["d_ell"]))

    levels = (0.3, 0.1, 0.03, 0.01)
    by_level = an.shares_by_level(curves, levels, s.tc.alpha)
    found = [j.name for j in judged if j.decision != "supported"]
    summary = (
        f"{ctx.scale} scale" + (" (machinery only)" if ctx.scale == "smoke" else "")
        + f"; ‖Δw‖/‖w0‖ ∝ T^δ P^γ with δ = {_series(fits['weight_change']['delta'])}, "
        f"γ = {_series(fits['weight_change']['gamma'])}; t* with δ = "
        f"{_series(fits['t_star']['delta'])}, γ = {_series(fits['t_star']['gamma'])}; late share "
        f"of ‖Δw‖ at T = {s.late_T[1]:g}: {_series(lv['share_hot'])}"
        + (f"; not supported: {', '.join(found)}" if found else "")
        + ("; (P, T) runs adopted from sgw23-tc's store" if adopted else "")
    )  # fmt: skip
    lines = [
        f"(P, T) grid: MNIST, α = {s.tc.alpha:g}, P ∈ {list(s.tc.P)}, T ∈ "
        f"{sorted(set(s.tc.T) | set(s.extra_T))}, seeds {list(s.tc.seeds)} (sgw23-tc's grid"
        + (f" plus T ∈ {list(s.extra_T)}" if s.extra_T else "")
        + f"); {n['done']} fitted, {n['capped']} capped, {n['diverged']} diverged, "
        f"{n['failed']} failed (only fitted runs enter).  Joint fit over T ∈ {list(s.fit_T)}.",
        "",
        "| quantity | seed | δ | γ | 2κ R_u | ι·max(R_u, R_v) | largest exponent drift "
        "| cells | largest residual |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for q, name in an.QUANTITIES.items():
        for _, r in fits[q].iterrows():
            lines.append(
                f"| {name} | {int(r['seed'])} | {r['delta']:.3g} | {r['gamma']:.3g} | "
                f"{r['curv_T']:.3g} | {r['inter']:.3g} | {r['drift']:.3g} | {int(r['cells'])} "
                f"| {r['max_resid']:.1%} |"
            )
    lines += [
        "",
        f"T_c's exponent a per seed (sgw23-tc's measurement): {_series(v['a_by_seed'])}; "
        f"γ/δ of ‖Δw‖/‖w0‖: "
        f"{_series(fits['weight_change']['gamma'] / fits['weight_change']['delta'])}.",
        "",
        f"Late training: P = {s.late_P}, T_cold = {s.late_T[0]:g}, T_hot = {s.late_T[1]:g}, "
        f"seeds {list(s.late_seeds)}; level: training loss ≤ {LOSS_LEVEL:g} L0, L0 = 1/α; "
        f"{nl['done']} fitted, {nl['capped']} capped, {nl['diverged']} diverged, "
        f"{nl['failed']} failed.",
        "",
        f"- late share of ‖Δw‖ per seed: T_cold {_series(lv['share_cold'])}; T_hot "
        f"{_series(lv['share_hot'])}",
        f"- test-error difference err(T_hot) − err(T_cold) per seed: at the end "
        f"{_series(lv['d_end'])}; at the level {_series(lv['d_ell'])}",
        "",
        "The late share read on the norms, 1 − ‖w(t_ℓ) − w0‖/‖w_f − w0‖, at other levels "
        "(seed mean; the judged level is " f"{LOSS_LEVEL:g}):",
        "",
        "| T | " + " | ".join(f"ℓ = {x:g}" for x in levels) + " |",
        "| --- |" + " --- |" * len(levels),
    ]  # fmt: skip
    for T, g in by_level.groupby("T"):
        m = g.groupby("level")["late_norm_share"].mean()
        lines.append(f"| {T:g} | " + " | ".join(f"{m.get(x, math.nan):.3g}" for x in levels) + " |")
    if shown:
        lines += ["", f"Not judged at {ctx.scale} scale (shown for information):", "",
                  criteria_table(shown)]  # fmt: skip
    return ClaimResult(summary=summary, criteria=judged, metrics=metrics, details="\n".join(lines))
