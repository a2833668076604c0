"""Claim ``sgw23-perceptron``: SGD on the SGW23 perceptron follows the scaling laws of the
noise-dominated regime (DESIGN.md §4.2; Sclocchi, Geiger & Wyart, ICML 2023, §5).

The grid (χ × P × αT × seeds; d at paper scale) runs through the sweeps store (worker:
:mod:`._sgw23_perceptron_worker`), so a killed run resumes where it stopped; the criteria
(:mod:`._sgw23_perceptron_analysis`) are judged by the one layer (:mod:`.criteria`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .registry import ClaimResult, claim


@dataclass(frozen=True)
class Settings:
    """One scale's grid.  ``Ps``: (χ, sizes P) pairs; ``noise_aT``: noise-regime αT, at
    every P; ``cross_aT``: the gradient-descent and crossover αT, at :meth:`P_cross`;
    ``ds``: d (beyond the first: a d-sweep in the noise regime at the largest P);
    ``max_updates``: the per-run cap; ``machinery``: smoke (machinery criteria)."""

    Ps: tuple[tuple[float, tuple[int, ...]], ...]
    noise_aT: tuple[float, ...]
    cross_aT: tuple[float, ...]
    seeds: int
    ds: tuple[int, ...] = (16,)
    alpha: float = 1.0
    batch: int = 4
    max_updates: int = 10**8
    workers: int = 2
    machinery: bool = False

    @property
    def chis(self) -> list[float]:
        return [c for c, _ in self.Ps]

    def P_grid(self, chi: float) -> tuple[int, ...]:
        return dict(self.Ps)[chi]

    def P_cross(self, chi: float) -> int:
        """The P of the crossover arm: the second-smallest size (gradient descent at
        αT = 0.03 costs ≈ 10⁶ updates already at P = 512 for χ = 0)."""
        g = sorted(self.P_grid(chi))
        return g[min(1, len(g) - 1)]


def _pow2(lo: int, hi: int) -> tuple[int, ...]:
    return tuple(2**k for k in range(lo, hi + 1))


#: cpu: the noise regime is cheap (10¹–10⁶ updates a run), so 12 seeds over six sizes per
#: χ; with Bonferroni over 18 criteria every one had power ≥ 0.72 at its effect (per-seed
#: exponents scatter by 0.03–0.15, t* by 0.2–0.6).  Gradient descent costs ≈ 10⁶ updates
#: at P = 512, χ = 0, hence only at the second-smallest P.
SCALES = {
    "smoke": Settings(
        Ps=((0.0, _pow2(7, 10)),), noise_aT=(100.0, 1000.0), cross_aT=(), seeds=12,
        workers=1, machinery=True,
    ),
    "cpu": Settings(
        Ps=((0.0, _pow2(8, 13)), (1.0, _pow2(10, 15)), (3.0, _pow2(10, 15))),
        noise_aT=(100.0, 1000.0), cross_aT=(0.03, 0.1, 1.0, 10.0), seeds=12,
    ),
    "paper": Settings(
        Ps=((0.0, _pow2(8, 14)), (1.0, _pow2(10, 17)), (3.0, _pow2(10, 17))),
        noise_aT=(100.0, 1000.0), cross_aT=(0.03, 0.1, 1.0, 10.0), seeds=16,
        ds=(16, 32, 64, 128),
    ),
}  # fmt: skip


def _spec(s: Settings, chi: float, part: str, fixed: dict, **product) -> dict:
    from ._sgw23_perceptron_worker import FUNCTION

    fixed = dict(fixed, chi=chi, alpha=s.alpha, batch=s.batch, max_updates=s.max_updates)
    return dict(name=f"perceptron-chi{chi:g}-{part}", function=FUNCTION, fixed=fixed,
                product=product)  # fmt: skip


def specs(s: Settings, base_seed: int) -> list[dict]:
    """The sweep specs of a grid: per χ the noise regime over P, the crossover
    temperatures at :meth:`Settings.P_cross` and, with several d, the d-sweep at the
    largest P.  Largest sizes first (the expensive runs start early: load balance)."""
    seed = [base_seed + i for i in range(s.seeds)]
    out = []
    for chi, Ps in s.Ps:
        d0, hot = dict(d=s.ds[0]), list(s.noise_aT)
        out.append(_spec(s, chi, "noise", d0, P=sorted(Ps)[::-1], aT=hot, seed=seed))
        if s.cross_aT:
            f = dict(d0, P=s.P_cross(chi))
            out.append(_spec(s, chi, "crossover", f, aT=list(s.cross_aT), seed=seed))
        if len(s.ds) > 1:
            f = dict(P=max(Ps), aT=hot[0])
            out.append(_spec(s, chi, "d", f, d=sorted(s.ds[1:])[::-1], seed=seed))
    return out


def grid(ctx, s: Settings):
    """Run (or resume) the grid into ``ctx.out_dir/study.sqlite``; (frame, summaries)."""
    from ._grid import run_grid

    return run_grid(
        ctx, specs(s, int(ctx.seed) * 1000), workers=s.workers, failed="drop", capped="capped"
    )


def _details(s: Settings, df, ran: int) -> str:
    from ..theory.perceptron_scaling import table
    from ._sgw23_perceptron_analysis import GD_AT, NOISE_AT, status_counts

    n = status_counts(df)
    grid_txt = "; ".join(f"χ = {c:g}: P ∈ {list(P)}" for c, P in s.Ps)
    return "\n".join([
        "### How the exponents are measured",
        "",
        "A seed's exponent: log–log slope within each cell of the other axes (temperature; "
        "or χ and P), averaged over the cells; Student-t intervals over seeds at the "
        "Bonferroni level.  b = (3+χ)/(1+χ) for t* is **derived** (not printed in the paper).",
        "",
        f"Grid: {grid_txt}; noise regime αT ∈ {list(s.noise_aT)} (≥ {NOISE_AT:g}) at every P"
        + (f", αT ∈ {list(s.cross_aT)} at each χ's second-smallest P (gradient descent: αT ≤ "
           f"{GD_AT:g})" if s.cross_aT else "")
        + f"; d ∈ {list(s.ds)}, α = {s.alpha:g}, B = {s.batch}, {s.seeds} seeds, update cap "
        f"{s.max_updates:.0e}.",
        "",
        f"{len(df)} runs ({ran} run in this call, the rest resumed from the store): "
        + ", ".join(f"{v} {k}" for k, v in n.items())
        + f".  Capped runs ({n['capped']}) have no t* and no end-of-training weights and are "
        "left out of every fit; failed and diverged runs likewise.",
        "",
        "### Theory exponents (sympy, `sgdnoise.theory.perceptron_scaling`)",
        "",
        table(),
    ])  # fmt: skip


@claim(
    "sgw23-perceptron",
    paper="SGW23",
    statement=(
        "Perceptron SGD for T ≫ 1/α: ‖Δw_⊥‖ ∝ T√d P^0 (noise set by T), Δw₁/‖Δw_⊥‖ ∝ "
        "P^{1/(1+χ)} (a stronger signal), T_c ∝ P^{−1/(1+χ)}, Δw₁ ∝ T, and t* ∝ T d "
        "P^{(3+χ)/(1+χ)} (b derived); for T ≪ 1/α, Δw₁ independent of T"
    ),
    scales=("smoke", "cpu", "paper"),
)
def run(ctx):
    from . import _sgw23_perceptron_figures as figs
    from ._sgw23_perceptron_analysis import judge, status_counts

    s = SCALES[ctx.scale]
    df, summaries = grid(ctx, s)
    judgements = judge(df, s)
    figs.noise_regime(ctx, df, s)
    if s.cross_aT:
        figs.crossover(ctx, df, s)
    n = status_counts(df)
    ran = sum(x.ran for x in summaries)
    dec = [j.decision for j in judgements]
    summary = (
        f"{dec.count('supported')} of {len(dec)} criteria supported, "
        f"{dec.count('contradicted')} contradicted, {dec.count('undecided')} undecided; "
        f"{len(df)} runs ({n['capped']} capped, excluded from the fits)."
    )
    metrics = {
        "n_runs": len(df),
        "n_runs_now": ran,
        **{f"n_{k}": v for k, v in n.items()},
        "simulation_seconds": sum(x.wall_seconds for x in summaries),
    }
    return ClaimResult(summary, judgements, metrics, _details(s, df, ran))
