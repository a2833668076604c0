"""Claim ``sgw23-tc``: T_c and the weight change against T and P in the lazy regime
(Sclocchi, Geiger & Wyart, ICML 2023, arXiv 2301.13703; DESIGN.md §4.2).

SGW23's abstract: "the characteristic temperature T_c where the noise of SGD starts
affecting the trained model … is a power law of P.  We relate this finding with the
observation that key dynamical quantities, such as the total variation of weights during
training, depend on both T and P as power laws … due to SGD noise, nets must develop a
stronger 'signal' … leading to a longer training time."  The (P, T) grid of α-trick MNIST
nets at one lazy α runs through :func:`sgdnoise.experiments._grid.run_grid` (a run stopped
by a cap gets status ``capped`` and enters no fit or extrapolation); T_c(P) is where the
seed's ‖Δw‖/‖w0‖ exceeds its T → 0 value by ``TC_FRACTION``
(:func:`sgdnoise.experiments._sgw23_analysis.tc_per_seed`), and only the P whose T → 0 value
is known (measured plateau, or a straight line through the three lowest T that fits them)
enter the T_c ∝ P^(−a) fits.

Criteria (per-seed values, :mod:`sgdnoise.experiments.criteria`):

* **‖Δw‖ grows with T** (direction): per seed, the mean over P of ln ‖Δw‖/‖w0‖ at the
  hottest minus the coldest fitted T;
* **t* grows with T** (direction): the same for t* (fitted runs only: a capped run has no
  t*, only a bound);
* **T_c falls with P** (direction, cpu/paper): per-seed a = −d ln T_c / d ln P > 0;
* **a = γ** (exponent, derived; cpu/paper): per seed a − γ = 0 within a tolerance, γ the
  P exponent of ‖Δw‖/‖w0‖ at the hottest T (SGW23's scaling argument: the weight change
  grows as T P^γ, so it leaves its T → 0 value at T_c ∝ P^(−γ); DESIGN.md §4.2 derives
  γ = 1/(1+χ) for the perceptron);
* **T_c located** and **runs fitted** (machinery, smoke): T_c found at every P, ≥ 75% of
  runs fitted within the caps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._sgw23_runs import Net, grid_spec
from .criteria import Criterion, evaluate
from .registry import ClaimResult, claim


@dataclass(frozen=True)
class TcSettings:
    """``sgw23-tc`` at one scale: the net (its ``n_train`` is replaced by each P), the lazy
    α, the grid axes, the seeds, the pool size (None: every core), the criteria judged."""

    net: Net
    alpha: float
    P: tuple[int, ...]
    T: tuple[float, ...]
    seeds: tuple[int, ...]
    workers: int | None
    judged: tuple[str, ...]


_SMOKE_NET = Net("mnist", "mlp", width=32, depth=2, pool=2, n_train=128, n_test=200,
                 batch_size=16, max_steps=3000, max_time=2e4)  # fmt: skip
_MNIST = dict(dataset="mnist", arch="mlp", width=128, depth=5, pool=1, n_train=1024)
MACHINERY = ("wc_grows", "tstar_grows", "located", "fitted")

TC = {
    # 3 seeds (the fewest an interval is made from); the smoke P range (4x) is too narrow
    # to judge a, so smoke checks the machinery only.
    "smoke": TcSettings(
        _SMOKE_NET, alpha=10.0, P=(32, 64, 128), T=(1e-3, 3e-3, 1e-2), seeds=(0, 1, 2),
        workers=2, judged=MACHINERY,
    ),
    # α = 10 rather than 100 raises the lazy T → 0 value of ‖Δw‖/‖w0‖ (∝ 1/α) above the noise
    # part.  The grid does not reach the plateau itself (measured: the weight change still
    # grows 40–50% from T = 3e-4 to 1e-3, and each factor 3 lower in T costs 3× the steps);
    # the T → 0 value comes from the straight line through the three lowest T, which fits
    # them within 3–6%.  T = 3e-2 is left out: most runs there hit the step cap.  Measured
    # before this criteria layer: 100 runs in 20 min (2 workers), a = 0.090 with per-seed
    # spread ≈ 0.03, so 5 seeds give power ≈ 1 at the effects below even at α/4.
    "cpu": TcSettings(
        Net(**_MNIST, n_test=1000, batch_size=16, max_steps=40000, max_time=1e6),
        alpha=10.0, P=(256, 512, 1024, 2048, 4096), T=(3e-4, 1e-3, 3e-3, 1e-2),
        seeds=(0, 1, 2, 3, 4), workers=2, judged=("wc_grows", "tstar_grows", "a", "a_gamma"),
    ),
    "paper": TcSettings(
        Net(**_MNIST, n_test=10000, batch_size=16, max_steps=2_000_000, max_time=1e8),
        alpha=1000.0, P=(512, 1024, 2048, 4096, 8192, 16384),
        T=tuple(float(f"{t:.6g}") for t in np.geomspace(1e-6, 1e-1, 11)),
        seeds=(0, 1, 2, 3), workers=None, judged=("wc_grows", "tstar_grows", "a", "a_gamma"),
    ),
}  # fmt: skip

#: the lowest fitted fraction at which the grid's T_c and growth say something (below it
#: the caps decide the outcome, not SGD).
MIN_FITTED = 0.75
#: a = γ is accepted within this distance of the per-seed interval: the finite-size drift of
#: the perceptron's exponents from their scaling values measured at cpu scale
#: (docs/perceptron.md: 0.06–0.15).
A_TOLERANCE = 0.1
#: power of the exponent criteria at a deviation of 0.25: the gap between the perceptron's
#: a = 1/(1+χ) at χ = 1 and χ = 3, the densities DESIGN.md §4.2 considers.
A_EFFECT = 0.25


def tc_criteria() -> dict[str, Criterion]:
    """Every criterion of the claim, by short name (a scale judges some of them)."""
    return {
        "wc_grows": Criterion(
            "‖Δw‖ grows with T",
            "key dynamical quantities, such as the total variation of weights during "
            "training, depend on both T and P: per seed, ln ‖Δw‖/‖w0‖ larger at the "
            "hottest than at the coldest T (mean over P)",
            "direction", effect=math.log(2), effect_reason="a doubling of ‖Δw‖/‖w0‖",
        ),
        "tstar_grows": Criterion(
            "t* grows with T",
            "due to SGD noise, nets must develop a stronger 'signal' … leading to a longer "
            "training time: per seed, ln t* larger at the hottest than at the coldest "
            "fitted T (mean over P)",
            "direction", effect=math.log(2), effect_reason="a doubling of t*",
        ),
        "a": Criterion(
            "T_c falls with P",
            "the characteristic temperature T_c … is a power law of P, T_c ∝ P^(−a): per-seed "
            "a = −d ln T_c / d ln P > 0",
            "direction", effect=A_EFFECT,
            effect_reason="the perceptron's smallest a = 1/(1+χ) over χ ∈ {0, 1, 3}",
        ),
        "a_gamma": Criterion(
            "a = γ",
            "T_c follows from the weight change growing as T P^γ: T_c ∝ P^(−γ), so per seed "
            "a − γ = 0, γ the P exponent of ‖Δw‖/‖w0‖ at the hottest T",
            "exponent", prediction=0.0, tolerance=A_TOLERANCE, effect=A_EFFECT,
            effect_reason="the gap between the perceptron's a at χ = 1 and χ = 3",
            derived=True,
        ),
        "located": Criterion(
            "T_c located", "T_c is found at every P (fraction of P)", "machinery",
            low=1.0, high=1.0,
        ),
        "fitted": Criterion(
            "runs fitted", f"at least {MIN_FITTED:.0%} of the runs fit every point within "
            "the caps", "machinery", low=MIN_FITTED, high=1.0,
        ),
    }  # fmt: skip


def tc_spec(s: TcSettings, scale: str, data_dir: str) -> dict:
    """The sweep spec of the (P, T) grid at one scale (P is the runs' ``n_train``)."""
    return grid_spec(
        "sgw23-tc", f"SGW23 weight change and t* vs (T, P), lazy regime, {scale} scale",
        s.net, {"seed": s.seeds, "n_train": s.P, "T": s.T}, data_dir, alpha=s.alpha,
    )  # fmt: skip


def judge(values: dict, s: TcSettings):
    """The judgements of the scale's criteria on :func:`tc_values`' output."""
    crits = tc_criteria()
    return evaluate([crits[k] for k in s.judged], {crits[k].name: values[k] for k in crits})


def _fmt_series(x) -> str:
    return ", ".join(f"{v:.3g}" for v in np.asarray(x, float)) or "—"


@claim(
    "sgw23-tc",
    paper="SGW23",
    statement=(
        "In the lazy regime ‖Δw‖/‖w0‖ and t* grow with T; the temperature T_c where the weight "
        "change departs from its T → 0 value is a power law of P, T_c ∝ P^(−a)"
    ),
)
def run_tc(ctx) -> ClaimResult:
    from ..nets.files import find_data_dir
    from ._grid import adopt_sibling_store, run_grid
    from ._sgw23_analysis import TC_FRACTION, curves_figure, status_counts, tc_figure, tc_values
    from ._sgw23_runs import ENSEMBLE

    s = TC[ctx.scale]
    spec = tc_spec(s, ctx.scale, str(find_data_dir(ctx.data_dir)))
    # sgw23-powerlaws trains this same grid (and runs first in `reproduce all`): train it once
    adopt_sibling_store(ctx, "sgw23-powerlaws")
    df, (summary,) = run_grid(
        ctx, [spec], workers=s.workers, failed="drop", capped="capped", ensemble=[ENSEMBLE]
    )
    v = tc_values(df)
    judged = judge(v, s)
    n = status_counts(df)
    ctx.savefig(curves_figure(df, "weight_change", hue="n_train", ylabel="‖Δw‖/‖w0‖",
                              title=f"SGW23 MNIST, α = {s.alpha:g}: ‖Δw‖/‖w0‖ vs T (fitted runs)"),
                "tc_weight_change")  # fmt: skip
    ctx.savefig(curves_figure(df, "t_star", hue="n_train", ylabel="t* = η × steps",
                              title="t* vs T (fitted runs only: a capped run has no t*)"),
                "tc_t_star")  # fmt: skip
    ctx.savefig(tc_figure(v), "tc_vs_P")
    per_P = v["per_P"]
    metrics = {k: float(x) for k, x in n.items()}
    metrics.update(
        runs=float(len(df)),
        fitted_fraction=v["fitted"],
        sweep_seconds=summary.wall_seconds,
        tc_located=float(np.isfinite(per_P["T_c"]).sum()),
        t0_value_known=float(len(v["known"])),
    )
    for _, r in per_P.iterrows():
        metrics[f"T_c_P{int(r['n_train'])}"] = float(r["T_c"])
    if len(v["a_by_seed"]):
        metrics["a_seed_mean"] = float(v["a_by_seed"].mean())
    if len(v["gamma_by_seed"]):
        metrics["gamma_seed_mean"] = float(v["gamma_by_seed"].mean())
    unknown = sorted(set(per_P["n_train"].astype(int)) - set(v["known"]))
    scope = (
        "smoke checks the machinery: ‖Δw‖/‖w0‖ and t* grow with T, T_c located at every P, "
        "runs fitted; a is not judged over this 4x range of P"
        if ctx.scale == "smoke"
        else f"{ctx.scale} scale: growth with T, T_c ∝ P^(−a) with a > 0, and a = γ (derived)"
    )
    summary_line = (
        f"{scope}; {n['capped']} capped, {n['diverged']} diverged and {n['failed']} failed of "
        f"{len(df)} runs left out of every fit; per-seed a = {_fmt_series(v['a_by_seed'])}, "
        f"γ = {_fmt_series(v['gamma_by_seed'])}"
    )
    lines = [
        f"Lazy regime α = {s.alpha:g}, T ∈ {list(s.T)}, P ∈ {list(s.P)}, seeds {list(s.seeds)}; "
        f"T_c where ‖Δw‖/‖w0‖ exceeds its T → 0 value by {TC_FRACTION:.0%}.  Runs: "
        f"{n['done']} fitted, {n['capped']} capped (no t*, only a bound: left out of every fit "
        f"and extrapolation), {n['diverged']} diverged, {n['failed']} failed.",
        "",
        "| P | capped runs | T_c (seed-mean curve) | T → 0 value (from) | line misfit "
        "| used in a |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for _, r in per_P.iterrows():
        P = int(r["n_train"])
        lines.append(
            f"| {P} | {int(r['capped'])} | {r['T_c']:.3g} | {r['q0']:.3g} ({r['q0_from']}) | "
            f"{r['line_misfit']:.1%} | {'yes' if P in v['known'] else 'no'} |"
        )
    lines += [
        "",
        f"Per seed (T_c ∝ P^(−a) over the P used; γ: ln ‖Δw‖/‖w0‖ on ln P at T = {v['T_hot']:g}):",
        "",
        "| seed | a | γ |",
        "| --- | --- | --- |",
        *[
            f"| {sd} | {v['a_by_seed'].get(sd, math.nan):.3g} | "
            f"{v['gamma_by_seed'].get(sd, math.nan):.3g} |"
            for sd in sorted(set(v["a_by_seed"].index) | set(v["gamma_by_seed"].index))
        ],
    ]
    if unknown:
        lines += ["", f"T → 0 value unknown at P = {unknown} (the two lowest T differ by ≥ "
                  f"{TC_FRACTION / 2:.0%} and no line fits the three lowest): T_c there only "
                  "marks the grid's lower end and is left out of the fits."]  # fmt: skip
    return ClaimResult(summary=summary_line, criteria=judged, metrics=metrics,
                       details="\n".join(lines))  # fmt: skip
