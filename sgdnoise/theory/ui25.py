"""UI25 convergence bounds for the four batch-size / learning-rate schedulers.

Umeda & Iiduka, TMLR 2025 (arXiv 2409.08770).  The bound (re-derived in notebooks/ui25.py):
for f L-smooth and bounded below by f*, SGD θ_{t+1} = θ_t − η_t g_t with E g_t = ∇f(θ_t)
and E‖g_t − ∇f(θ_t)‖² ≤ σ²/b_t (b_t samples drawn with replacement, per-sample variance
≤ σ²), the descent lemma f(θ_{t+1}) ≤ f(θ_t) − η_t ∇fᵀg_t + (L/2)η_t²‖g_t‖² gives, summed
over t < T and using η_t ≤ η_max < 2/L,

    min_{t<T} E‖∇f(θ_t)‖² ≤ [2(f(θ_0) − f*) + L σ² V_T] / [(2 − L η_max) B_T],
    B_T = Σ_{t<T} η_t,   V_T = Σ_{t<T} η_t² / b_t.

The bound holds for every prefix of a schedule (nothing in the derivation uses the end),
so :func:`prefix_bound` gives it at every T.

Sums are taken in the step clock: stage length K steps (a given integer), M stages
(a sympy symbol), T = K M.  :func:`sums` returns B_T, V_T and η_max in M: sympy closed
forms where ``sympy.summation`` finds them (cosine via exponentials, geometric stage rules,
polynomial decays), otherwise exact finite ``Sum`` objects evaluated term by term.

Rate classes (derived in the notebook, checked numerically by the tests):

* (i) constant b: constant η → O(1/T) + floor Lσ²η/((2−Lη)b); cosine / linear / polynomial
  (η_min = 0) → O(1/T) + floor c·Lσ²η_max/((2−Lη_max)b) with c = 3/4, 2/3, (p+1)/(2p+1);
  diminishing η0/√(t+1) → O(log T/√T), no floor.
* (ii) b ×δ per stage: V_T ≤ η_max² K δ/((δ−1) b0) stays bounded, so O(1/T) for constant,
  cosine, linear, polynomial; diminishing only O(1/√T).
* (iii) b ×δ, η ×γ per stage, γ² < δ: B_T = K η0 (γ^M − 1)/(γ − 1) grows geometrically and
  V_T stays bounded → O(γ^{−M}) while η_max = η0 γ^{M−1} < 2/L; after the cap, O(1/T).
* (iv) warm-up then decay with b ×δ: O(1/T); its constant is smaller than (ii)'s at the warm-up
  start rate when the decay starts from a larger peak while L η_peak stays well below 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import sympy as sp

from ..errors import ParameterError
from ..validation import integer, nonnegative, positive
from .schedules import (
    Constant,
    ConstantBatch,
    Cosine,
    Diminishing,
    Expanded,
    GeometricBatch,
    Polynomial,
    Schedule,
    StageGeometric,
    U_sym,
    Warmup,
    m_sym,
    u_sym,
)

M = sp.Symbol("M", integer=True, positive=True)  # number of stages
_j = sp.Symbol("j", integer=True, nonnegative=True)


# --------------------------------------------------------------------------- the bound
def bound_expr():
    """The UI25 bound as a sympy expression in (Δ, L, σ², V_T, B_T, η_max)."""
    D, L, s2, V, B, e = sp.symbols("Delta L sigma2 V_T B_T eta_max", positive=True)
    return (2 * D + L * s2 * V) / ((2 - L * e) * B), (D, L, s2, V, B, e)


def check_conditions(L: float, eta_max: float, schedule: Schedule | None = None) -> None:
    """η_max < 2/L (the step must stay in the descent regime) and, for scheduler (iii),
    γ² < δ (so V_T stays bounded); ParameterError otherwise."""
    L = positive("L", L)
    eta_max = positive("eta_max", eta_max)
    if not eta_max * L < 2:
        raise ParameterError("eta_max", eta_max, f"must be < 2/L = {2 / L:.6g} for the bound")
    if schedule is not None and isinstance(schedule.lr, StageGeometric):
        b = schedule.batch
        if isinstance(b, GeometricBatch) and not schedule.lr.gamma**2 < b.delta:
            raise ParameterError("gamma", schedule.lr.gamma, f"must satisfy gamma**2 < {b.delta}")


def bound(gap: float, L: float, sigma2: float, B: float, V: float, eta_max: float) -> float:
    """[2Δ + Lσ²V] / [(2 − Lη_max) B]; Δ = f(θ0) − f* ≥ 0."""
    gap = nonnegative("gap", gap)
    sigma2 = nonnegative("sigma2", sigma2)
    check_conditions(L, eta_max)
    B = positive("B_T", B)
    V = nonnegative("V_T", V)
    return (2 * gap + L * sigma2 * V) / ((2 - L * eta_max) * B)


def prefix_bound(sched: Expanded, gap: float, L: float, sigma2: float) -> np.ndarray:
    """The bound on min_{s<t} E‖∇f(θ_s)‖² for t = 1 … T, from the prefix sums of an
    expanded schedule (exact finite sums); requires max η < 2/L over the whole schedule."""
    check_conditions(L, float(np.max(sched.lr)))
    B = np.cumsum(sched.lr)
    V = np.cumsum(sched.lr**2 / sched.batch_size)
    emax = np.maximum.accumulate(sched.lr)
    return (2 * nonnegative("gap", gap) + L * nonnegative("sigma2", sigma2) * V) / (
        (2 - L * emax) * B
    )


# --------------------------------------------------------------------------- sums
def _closed_sum(expr: sp.Expr, var: sp.Symbol, lo, hi) -> sp.Expr:
    """sympy's closed form of Σ_{var=lo}^{hi} expr, else the unevaluated ``Sum``.

    Trigonometric terms are rewritten as exponentials (geometric series); of a Piecewise
    answer the generic branch is kept (for the cosine decay it holds for T ≥ 3)."""
    e = sp.expand(expr.rewrite(sp.exp)) if expr.has(sp.cos) else expr
    r = sp.summation(e, (var, lo, hi))
    r = r.replace(lambda x: isinstance(x, sp.Piecewise), lambda x: x.args[-1][0])
    if r.has(sp.Sum):
        return sp.Sum(expr, (var, lo, hi))
    if expr.has(sp.cos):
        r = sp.simplify(r)
    return r


@dataclass(frozen=True)
class ScheduleSums:
    """B_T, V_T and η_max as sympy expressions in the number of stages ``M`` (T = K M).

    ``closed_B``/``closed_V`` say whether sympy found a closed form; otherwise the expression
    is an exact finite Sum.  ``min_stages``: the smallest M for which the forms hold."""

    B: sp.Expr
    V: sp.Expr
    eta_max: sp.Expr
    K: int
    min_stages: int

    @property
    def closed_B(self) -> bool:
        return not self.B.has(sp.Sum)

    @property
    def closed_V(self) -> bool:
        return not self.V.has(sp.Sum)

    def numeric(self, stages: int) -> tuple[float, float, float]:
        """(B_T, V_T, η_max) at M = ``stages``."""
        stages = integer("stages", stages, minimum=self.min_stages)
        return tuple(float(f(stages)) for f in self._functions)

    @cached_property
    def _functions(self):
        # lambdify prints an unevaluated Sum as a Python loop over its terms: the exact
        # finite sum in double precision, without sympy's exact arithmetic per term
        return [sp.lambdify(M, e, modules="math") for e in (self.B, self.V, self.eta_max)]

    def bound(self, stages: int, gap: float, L: float, sigma2: float) -> float:
        B, V, e = self.numeric(stages)
        return bound(gap, L, sigma2, B, V, e)


def _decay_sums(rule, batch, K: int, offset_stages: int = 0):
    """B, V of a decay rule η(u, U) run on U = K (M − offset) steps starting at stage
    ``offset``, with batch sizes b(m)."""
    U = K * (M - offset_stages)
    eta = rule.symbolic()
    B = _closed_sum(eta, u_sym, 0, U_sym - 1).subs(U_sym, U)
    if isinstance(batch, ConstantBatch):
        V = _closed_sum(eta**2, u_sym, 0, U_sym - 1).subs(U_sym, U) / batch.b
    elif not eta.has(u_sym):
        V = K * eta**2 * _closed_sum(1 / batch.symbolic(), m_sym, offset_stages, M - 1)
    else:
        inner = (eta**2).subs({u_sym: (m_sym - offset_stages) * K + _j, U_sym: U})
        V = sp.Sum(inner / batch.symbolic(), (_j, 0, K - 1), (m_sym, offset_stages, M - 1))
    return B, V


def _stage_sums(eta0, gamma, batch, K: int, lo, hi):
    """K Σ_{m=lo}^{hi} η0γ^m and K Σ η0²γ^{2m}/b(m) (geometric series)."""
    eta = eta0 * gamma**m_sym
    B = K * _closed_sum(eta, m_sym, lo, hi)
    V = K * _closed_sum(sp.powsimp(eta**2 / batch.symbolic(), force=True), m_sym, lo, hi)
    return sp.simplify(B), sp.simplify(V)


@cache
def sums(schedule: Schedule, K: int | None = None) -> ScheduleSums:
    """Closed forms (or exact finite sums) of B_T, V_T, η_max for ``schedule`` expanded in
    steps with stage length ``K`` (default: the schedule's), as functions of M stages."""
    if not isinstance(schedule, Schedule):
        raise ParameterError("schedule", schedule, "must be a Schedule")
    K = integer("stage_length", schedule.stage_length if K is None else K, minimum=1)
    rule, batch = schedule.lr, schedule.batch
    if schedule.max_batch is not None:
        raise ParameterError("max_batch", schedule.max_batch, "closed forms need no batch cap")
    ex = sp.nsimplify
    if isinstance(rule, Constant | Diminishing | Cosine | Polynomial):
        B, V = _decay_sums(rule, batch, K)
        emax = ex(repr(rule.peak), rational=True)
        # the cosine closed form holds for T >= 3 (see _closed_sum)
        return ScheduleSums(B, V, emax, K, max(1, math.ceil(3 / K)))
    if isinstance(rule, StageGeometric):
        e0, g = ex(repr(rule.eta0), rational=True), ex(repr(rule.gamma), rational=True)
        if rule.cap is None or rule.gamma <= 1:
            B, V = _stage_sums(e0, g, batch, K, 0, M - 1)
            emax = e0 * g ** (M - 1) if rule.gamma > 1 else e0
            return ScheduleSums(B, V, emax, K, 1)
        cap = ex(repr(rule.cap), rational=True)
        mc = 0  # the first capped stage
        while rule.eta0 * rule.gamma**mc < rule.cap:
            mc += 1
        Bw, Vw = _stage_sums(e0, g, batch, K, 0, M - 1)
        Bc0, Vc0 = _stage_sums(e0, g, batch, K, 0, mc - 1)
        Bc = Bc0 + K * cap * (M - mc)
        Vc = Vc0 + K * cap**2 * _closed_sum(1 / batch.symbolic(), m_sym, mc, M - 1)
        B = sp.Piecewise((Bw, M <= mc), (Bc, True))
        V = sp.Piecewise((Vw, M <= mc), (Vc, True))
        emax = sp.Min(e0 * g ** (M - 1), cap)
        return ScheduleSums(B, V, emax, K, 1)
    if isinstance(rule, Warmup):
        e0, g = ex(repr(rule.eta0), rational=True), ex(repr(rule.gamma), rational=True)
        Mw = rule.stages
        Bw, Vw = _stage_sums(e0, g, batch, K, 0, Mw - 1)
        Bd, Vd = _decay_sums(rule.then, batch, K, offset_stages=Mw)
        emax = ex(repr(rule.peak), rational=True)
        return ScheduleSums(Bw + Bd, Vw + Vd, emax, K, Mw + max(1, math.ceil(3 / K)))
    raise ParameterError("schedule", schedule, "has no UI25 closed form")


# --------------------------------------------------------------------------- rates
@dataclass(frozen=True)
class Rate:
    """How the bound behaves as T = K M grows: ``bound ≈ floor + C · scale(T)`` with
    ``scale`` one of "1/T", "log(T)/sqrt(T)", "1/sqrt(T)", "gamma^-M"; ``floor`` in units of
    L σ² / (2 − L η_max) (multiply by those to get the bound's limit)."""

    scale: str
    floor_coefficient: float
    text: str


def rate(schedule: Schedule) -> Rate:
    """The rate class of the UI25 bound for ``schedule`` (derivations in notebooks/ui25.py).

    For (i) the floor is L σ² lim V_T/B_T / (2 − Lη_max); ``floor_coefficient`` is
    lim V_T/B_T, computed by sympy from the closed forms."""
    rule, batch = schedule.lr, schedule.batch
    if isinstance(rule, Diminishing):
        if isinstance(batch, ConstantBatch):
            return Rate("log(T)/sqrt(T)", 0.0, "O(log T / sqrt T), no floor")
        return Rate("1/sqrt(T)", 0.0, "O(1/sqrt T): V_T bounded, B_T ~ 2 η0 sqrt T")
    if isinstance(rule, Constant | Cosine | Polynomial):
        if isinstance(batch, ConstantBatch):
            s = sums(schedule, 1)
            c = float(sp.limit(s.V / s.B, M, sp.oo))
            return Rate("1/T", c, f"O(1/T) + floor L sigma^2 ({c:.4g}) / (2 - L eta_max)")
        return Rate("1/T", 0.0, "O(1/T): V_T bounded by eta_max^2 K delta/((delta-1) b0)")
    if isinstance(rule, StageGeometric):
        if rule.cap is None:
            return Rate("gamma^-M", 0.0, f"O({rule.gamma:g}^-M) while eta_max < 2/L")
        return Rate("gamma^-M", 0.0, f"O({rule.gamma:g}^-M) until the cap, then O(1/T)")
    if isinstance(rule, Warmup):
        return Rate("1/T", 0.0, "O(1/T) after warm-up; V_T bounded")
    raise ParameterError("schedule", schedule, "has no UI25 rate")


def variance_sum_limit(schedule: Schedule, K: int | None = None) -> float:
    """An upper bound on V_∞ for growing batches: η_peak² K δ / ((δ − 1) b0)."""
    b = schedule.batch
    if not isinstance(b, GeometricBatch):
        raise ParameterError("schedule", schedule, "needs a growing batch (delta > 1)")
    K = schedule.stage_length if K is None else K
    peak = schedule.peak_lr
    if peak is None:
        raise ParameterError("eta_cap", None, "uncapped geometric growth has no peak")
    return peak**2 * K * b.delta / ((b.delta - 1) * b.b0)
