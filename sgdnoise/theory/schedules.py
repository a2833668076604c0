"""Learning-rate and batch-size schedules: the ONE definition used by theory, simulate and nets.

Umeda & Iiduka (TMLR 2025, arXiv 2409.08770, "UI25") compare four schedulers:

(i)   constant batch size b, decaying learning rate η_t (constant, diminishing η0/√(t+1),
      cosine, linear, polynomial);
(ii)  batch size multiplied by δ > 1 every stage, learning rate decaying;
(iii) batch size ×δ and learning rate ×γ per stage with γ² < δ (η capped below 2/L);
(iv)  batch size ×δ per stage, learning rate warmed up ×γ per stage, then decayed.

A :class:`Schedule` = a learning-rate rule + a batch-size rule + a stage length.  Rules are
written against a *clock*: tick index u ∈ {0, …, U−1} (U ticks in all) and the stage index
m = ⌊u / stage_length⌋.  A decay is a function η(u, U) of the clock; stage rules (×γ, ×δ)
are functions of m only.

* :meth:`Schedule.expand` (trainers with epochs): one tick is one **epoch**; the stage length
  counts epochs.  Epoch e uses the batch size b_e = b(m_e) (capped at ``n_train``) and takes
  ``ceil(n_train / b_e)`` steps, so schedulers with growing batches take fewer steps per
  epoch — results must therefore be reported per step AND per sample processed.  With
  ``lr_clock="epoch"`` (default) η is constant within an epoch (the decay runs over epochs);
  with ``lr_clock="step"`` the decays run over the global step index and the total number of
  steps (stage rules still follow epochs).
* :meth:`Schedule.expand_steps` (simulators without epochs): one tick is one **step**.

Both return :class:`Expanded`, per-step arrays ``lr`` (float64), ``batch_size`` (int64),
``epoch`` (int64) and ``stage`` (int64).

:meth:`Schedule.symbolic` gives η as a sympy expression in (u, U, m) and b in m, so that
:mod:`sgdnoise.theory.ui25` can sum them in closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from ..errors import ParameterError
from ..validation import choice, in_range, integer, nonnegative, positive
from .symbolic import numeric

#: symbols of the clock: tick u, horizon U (ticks in all), stage m
u_sym, U_sym, m_sym = sp.symbols("u U m", integer=True, nonnegative=True)


def _exact(x: float) -> sp.Expr:
    """A float as the exact rational sympy number of its decimal repr (0.1 → 1/10)."""
    return sp.nsimplify(repr(float(x)), rational=True)


def _peak_min(eta_max, eta_min):
    eta_max = positive("eta_max", eta_max)
    eta_min = nonnegative("eta_min", eta_min)
    if eta_min > eta_max:
        raise ParameterError("eta_min", eta_min, f"must be <= eta_max={eta_max}")
    return eta_max, eta_min


@cache
def _lambdified(expr: sp.Expr):
    return numeric(expr, (u_sym, U_sym, m_sym))


# --------------------------------------------------------------------------- lr rules
@dataclass(frozen=True)
class LRRule:
    """η as a function of the tick u (array), the horizon U and the stage m (array)."""

    def values(self, u: np.ndarray, U: int, m: np.ndarray) -> np.ndarray:
        """η at ticks ``u`` of ``U`` in stages ``m``: by default the symbolic form,
        lambdified, so that the formula exists once."""
        fn = _lambdified(self.symbolic())
        out = fn(np.asarray(u, dtype=float), float(U), np.asarray(m, dtype=float))
        return np.broadcast_to(np.asarray(out, dtype=float), np.shape(u)).copy()

    def symbolic(self) -> sp.Expr:
        """η in the clock symbols ``u_sym, U_sym, m_sym``."""
        raise NotImplementedError

    @property
    def depends_on_stage_only(self) -> bool:
        return False


@dataclass(frozen=True)
class Constant(LRRule):
    """η_u = η."""

    eta: float

    def __post_init__(self):
        object.__setattr__(self, "eta", positive("eta0", self.eta))

    @property
    def peak(self) -> float:
        return self.eta

    def symbolic(self):
        return _exact(self.eta)


@dataclass(frozen=True)
class Diminishing(LRRule):
    """η_u = η0 / sqrt(u + 1)."""

    eta0: float

    def __post_init__(self):
        object.__setattr__(self, "eta0", positive("eta0", self.eta0))

    @property
    def peak(self) -> float:
        return self.eta0

    def symbolic(self):
        return _exact(self.eta0) / sp.sqrt(u_sym + 1)


@dataclass(frozen=True)
class Cosine(LRRule):
    """η_u = η_min + (η_max − η_min)(1 + cos(π u / U)) / 2."""

    eta_max: float
    eta_min: float = 0.0

    def __post_init__(self):
        a, b = _peak_min(self.eta_max, self.eta_min)
        object.__setattr__(self, "eta_max", a)
        object.__setattr__(self, "eta_min", b)

    @property
    def peak(self) -> float:
        return self.eta_max

    def symbolic(self):
        a, b = _exact(self.eta_max), _exact(self.eta_min)
        return b + (a - b) * (1 + sp.cos(sp.pi * u_sym / U_sym)) / 2


@dataclass(frozen=True)
class Polynomial(LRRule):
    """η_u = η_min + (η_max − η_min)(1 − u/U)^p; p = 1 is the linear decay."""

    eta_max: float
    eta_min: float = 0.0
    power: float = 2.0

    def __post_init__(self):
        a, b = _peak_min(self.eta_max, self.eta_min)
        object.__setattr__(self, "eta_max", a)
        object.__setattr__(self, "eta_min", b)
        object.__setattr__(self, "power", positive("power", self.power))

    @property
    def peak(self) -> float:
        return self.eta_max

    def symbolic(self):
        a, b = _exact(self.eta_max), _exact(self.eta_min)
        p = _exact(self.power)
        return b + (a - b) * (1 - u_sym / U_sym) ** p


def Linear(eta_max: float, eta_min: float = 0.0) -> Polynomial:  # noqa: N802 (a rule's name)
    """η_u = η_max − (η_max − η_min) u/U: the polynomial decay with power 1."""
    return Polynomial(eta_max, eta_min, 1.0)


@dataclass(frozen=True)
class StageGeometric(LRRule):
    """η_m = min(η0 γ^m, cap): multiplied by γ every stage (UI25 scheduler iii).

    ``cap=None`` lets the rate grow without bound (used to demonstrate divergence once
    η > 2/L; the bound of :mod:`~sgdnoise.theory.ui25` refuses such schedules)."""

    eta0: float
    gamma: float
    cap: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "eta0", positive("eta0", self.eta0))
        object.__setattr__(self, "gamma", positive("gamma", self.gamma))
        if self.cap is not None:
            object.__setattr__(self, "cap", positive("eta_cap", self.cap))
            if self.cap < self.eta0:
                raise ParameterError("eta_cap", self.cap, f"must be >= eta0={self.eta0}")

    @property
    def depends_on_stage_only(self) -> bool:
        return True

    def symbolic(self):
        e = _exact(self.eta0) * _exact(self.gamma) ** m_sym
        return sp.Min(e, _exact(self.cap)) if self.cap is not None else e


@dataclass(frozen=True)
class Warmup(LRRule):
    """Warm-up then decay (UI25 scheduler iv): η = η0 γ^m for the first ``stages`` stages,
    then the rule ``then`` run on a fresh clock over the remaining ticks (u − u_w, U − u_w),
    u_w the first tick of stage ``stages``."""

    eta0: float
    gamma: float
    stages: int
    then: LRRule

    def __post_init__(self):
        object.__setattr__(self, "eta0", positive("eta0", self.eta0))
        object.__setattr__(self, "gamma", positive("gamma", self.gamma))
        object.__setattr__(self, "stages", integer("warmup_stages", self.stages, minimum=1))
        if not isinstance(self.then, LRRule) or isinstance(self.then, Warmup):
            raise ParameterError("then", self.then, "must be a decay rule (not a Warmup)")

    @property
    def peak(self) -> float:
        warm = self.eta0 * self.gamma ** (self.stages - 1)
        return max(warm, getattr(self.then, "peak", warm))

    def values(self, u, U, m):
        u = np.asarray(u)
        m = np.asarray(m)
        warm = m < self.stages
        warm_rule = StageGeometric(self.eta0, self.gamma)
        out = warm_rule.values(u, U, np.minimum(m, self.stages - 1)).astype(float)
        if np.any(~warm):
            uw = int(u[~warm].min())
            rest = self.then.values(u[~warm] - uw, U - uw, m[~warm] - self.stages)
            out = out.astype(float)
            out[~warm] = rest
        return out

    def symbolic(self):
        """Piecewise in m; the decay branch is written on its own fresh clock (u, U)."""
        warm = StageGeometric(self.eta0, self.gamma).symbolic()
        return sp.Piecewise((warm, m_sym < self.stages), (self.then.symbolic(), True))


# --------------------------------------------------------------------------- batch rules
@dataclass(frozen=True)
class BatchRule:
    """b as a function of the stage m."""

    def values(self, m: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def symbolic(self) -> sp.Expr:
        raise NotImplementedError


@dataclass(frozen=True)
class ConstantBatch(BatchRule):
    """b_m = b."""

    b: int

    def __post_init__(self):
        object.__setattr__(self, "b", integer("b0", self.b, minimum=1))

    def values(self, m):
        return np.full(np.shape(m), self.b, dtype=np.int64)

    def symbolic(self):
        return sp.Integer(self.b)


@dataclass(frozen=True)
class GeometricBatch(BatchRule):
    """b_m = round(b0 δ^m), δ > 1: multiplied by δ every stage (UI25 schedulers ii–iv).

    The symbolic form b0 δ^m is exact when b0 δ^m is an integer (e.g. δ an integer)."""

    b0: int
    delta: float

    def __post_init__(self):
        object.__setattr__(self, "b0", integer("b0", self.b0, minimum=1))
        d = in_range("delta", self.delta, 1.0, None, low_open=True)
        object.__setattr__(self, "delta", d)

    def values(self, m):
        v = np.rint(self.b0 * self.delta ** np.asarray(m, dtype=float))
        if np.any(v > 2**62):
            raise ParameterError("delta", self.delta, "batch size overflows int64 at this stage")
        return v.astype(np.int64)

    def symbolic(self):
        return sp.Integer(self.b0) * _exact(self.delta) ** m_sym


# --------------------------------------------------------------------------- schedule
@dataclass(frozen=True)
class Expanded:
    """Per-step schedule: ``lr`` (float64), ``batch_size`` (int64), ``epoch`` (int64; zeros
    for step-based expansion) and ``stage`` (int64), all of length ``n_steps``."""

    lr: np.ndarray
    batch_size: np.ndarray
    epoch: np.ndarray
    stage: np.ndarray

    @property
    def n_steps(self) -> int:
        return int(self.lr.shape[0])

    @property
    def samples(self) -> np.ndarray:
        """Samples processed *before* each step (length n_steps + 1, starting at 0)."""
        return np.concatenate([[0], np.cumsum(self.batch_size)]).astype(np.int64)

    @property
    def lr_sum(self) -> float:
        """B_T = Σ_t η_t (exact finite sum)."""
        return float(np.sum(self.lr))

    @property
    def variance_sum(self) -> float:
        """V_T = Σ_t η_t² / b_t (exact finite sum)."""
        return float(np.sum(self.lr**2 / self.batch_size))


@dataclass(frozen=True)
class Schedule:
    """A learning-rate rule, a batch-size rule and the stage length (in ticks: epochs for
    :meth:`expand`, steps for :meth:`expand_steps`).  ``max_batch`` caps the batch size."""

    lr: LRRule
    batch: BatchRule
    stage_length: int = 1
    name: str = ""
    max_batch: int | None = None

    def __post_init__(self):
        if not isinstance(self.lr, LRRule):
            raise ParameterError("lr", self.lr, "must be an LRRule (Constant, Cosine, …)")
        if not isinstance(self.batch, BatchRule):
            raise ParameterError("batch", self.batch, "must be a BatchRule")
        object.__setattr__(
            self, "stage_length", integer("stage_length", self.stage_length, minimum=1)
        )
        if self.max_batch is not None:
            object.__setattr__(self, "max_batch", integer("max_batch", self.max_batch, 1))

    # -- expansion
    def _batches(self, stage: np.ndarray, cap: int | None) -> np.ndarray:
        b = self.batch.values(stage)
        for c in (cap, self.max_batch):
            if c is not None:
                b = np.minimum(b, c)
        return b.astype(np.int64)

    def expand(self, n_train: int, epochs: int, lr_clock: str = "epoch") -> Expanded:
        """Per-step schedule for ``epochs`` epochs over ``n_train`` examples.

        Epoch e is in stage ⌊e / stage_length⌋, uses b_e = min(b(stage), n_train) and takes
        ``ceil(n_train / b_e)`` steps (the last batch of an epoch may be partial in a
        trainer; the schedule lists b_e for it).  ``lr_clock``: "epoch" (η fixed within an
        epoch, decays over epochs) or "step" (decays over the global step index)."""
        n_train = integer("n_train", n_train, minimum=1)
        epochs = integer("epochs", epochs, minimum=1)
        choice("lr_clock", lr_clock, ("epoch", "step"))
        e = np.arange(epochs, dtype=np.int64)
        stage_e = e // self.stage_length
        b_e = self._batches(stage_e, n_train)
        steps_e = -(-n_train // b_e)
        epoch = np.repeat(e, steps_e)
        stage = np.repeat(stage_e, steps_e)
        batch = np.repeat(b_e, steps_e)
        if lr_clock == "epoch":
            lr = np.repeat(self.lr.values(e, epochs, stage_e).astype(float), steps_e)
        else:
            t = np.arange(epoch.shape[0], dtype=np.int64)
            lr = self.lr.values(t, int(t.shape[0]), stage).astype(float)
        return Expanded(lr, batch, epoch, stage)

    def expand_steps(self, n_steps: int, stage_length: int | None = None) -> Expanded:
        """Per-step schedule for a simulator without epochs: one tick = one step, stage
        m = ⌊t / stage_length⌋ (default: this schedule's stage length, now in steps)."""
        n_steps = integer("n_steps", n_steps, minimum=1)
        K = self.stage_length if stage_length is None else stage_length
        K = integer("stage_length", K, minimum=1)
        t = np.arange(n_steps, dtype=np.int64)
        stage = t // K
        lr = self.lr.values(t, n_steps, stage).astype(float)
        return Expanded(lr, self._batches(stage, None), np.zeros(n_steps, np.int64), stage)

    # -- symbolic
    def symbolic(self) -> tuple[sp.Expr, sp.Expr]:
        """(η, b) as sympy expressions in the clock symbols ``u_sym, U_sym, m_sym``."""
        return self.lr.symbolic(), self.batch.symbolic()

    @property
    def peak_lr(self) -> float | None:
        """The largest η the rule can reach (None for uncapped stage growth with γ > 1)."""
        r = self.lr
        if isinstance(r, StageGeometric):
            if r.gamma <= 1:
                return r.eta0
            return r.cap
        return r.peak


# --------------------------------------------------------------------------- UI25 (i)–(iv)
DECAYS = ("constant", "diminishing", "cosine", "linear", "polynomial")


def decay(kind: str, eta_max: float, eta_min: float = 0.0, power: float = 2.0) -> LRRule:
    """A decaying rule by name: constant, diminishing, cosine, linear, polynomial."""
    choice("decay", kind, DECAYS)
    if kind == "constant":
        return Constant(eta_max)
    if kind == "diminishing":
        return Diminishing(eta_max)
    if kind == "cosine":
        return Cosine(eta_max, eta_min)
    if kind == "linear":
        return Linear(eta_max, eta_min)
    return Polynomial(eta_max, eta_min, power)


def scheduler_i(kind: str, eta0: float, b: int, **kw) -> Schedule:
    """(i) constant batch size ``b``, learning rate decaying by ``kind``."""
    return Schedule(decay(kind, eta0, **kw), ConstantBatch(b), 1, f"(i) b={b}, {kind}")


def scheduler_ii(kind: str, eta0: float, b0: int, delta: float, stage_length: int, **kw):
    """(ii) batch size ×δ every ``stage_length`` ticks, learning rate decaying by ``kind``."""
    return Schedule(
        decay(kind, eta0, **kw),
        GeometricBatch(b0, delta),
        stage_length,
        f"(ii) b×{delta:g}, {kind}",
    )


def scheduler_iii(
    eta0: float,
    gamma: float,
    b0: int,
    delta: float,
    stage_length: int,
    eta_cap: float | None = None,
) -> Schedule:
    """(iii) batch size ×δ and learning rate ×γ every stage, 1 < γ, γ² < δ (so V_T stays
    bounded); ``eta_cap`` caps η (UI25 cap it below 2/L)."""
    gamma = in_range("gamma", gamma, 1.0, None, low_open=True)
    delta = in_range("delta", delta, 1.0, None, low_open=True)
    if not gamma**2 < delta:
        raise ParameterError("gamma", gamma, f"must satisfy gamma**2 < delta={delta}")
    return Schedule(
        StageGeometric(eta0, gamma, eta_cap),
        GeometricBatch(b0, delta),
        stage_length,
        f"(iii) b×{delta:g}, η×{gamma:g}",
    )


def scheduler_iv(
    eta0: float,
    gamma: float,
    warmup_stages: int,
    kind: str,
    b0: int,
    delta: float,
    stage_length: int,
    eta_min: float = 0.0,
    power: float = 2.0,
) -> Schedule:
    """(iv) batch size ×δ every stage; η warmed up ×γ per stage for ``warmup_stages`` stages
    (η0 … η0 γ^{M_w−1}), then decayed by ``kind`` from η0 γ^{M_w} over the remaining ticks."""
    gamma = in_range("gamma", gamma, 1.0, None, low_open=True)
    eta0 = positive("eta0", eta0)
    w = integer("warmup_stages", warmup_stages, minimum=1)
    then = decay(kind, eta0 * gamma**w, eta_min, power)
    return Schedule(
        Warmup(eta0, gamma, w, then),
        GeometricBatch(b0, delta),
        stage_length,
        f"(iv) b×{delta:g}, warm-up ×{gamma:g} then {kind}",
    )


def steps_per_epoch(n_train: int, b: int) -> int:
    """ceil(n_train / b): steps an epoch takes at batch size b."""
    return math.ceil(integer("n_train", n_train, minimum=1) / integer("b", b, minimum=1))
