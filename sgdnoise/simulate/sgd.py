"""Minibatch SGD on a finite-sum loss, many independent chains: the one SGD simulator.

Not Gaussian noise: every step draws a batch of b_t training points ξ_i and moves

    θ_{t+1} = θ_t − (η_t / b_t) Σ_{i ∈ batch_t} ∇ℓ(θ_t; ξ_i)        (DESIGN.md §3)

with ℓ the problem's symbolic per-sample loss, compiled by :mod:`.codegen` (never re-typed).
Constant SGD (``lr=``, ``batch_size=``) is the trivial schedule; a UI25 schedule
(:class:`~sgdnoise.theory.schedules.Schedule` or its per-step ``Expanded``) gives η_t, b_t.
Batches with replacement (minibatch-gradient covariance Σ/B, temperature exactly T = η/B) or
without (Σ/B·(N−B)/(N−1)); see :func:`sgdnoise.theory.conventions.minibatch_covariance`.

A problem is anything with ``coords``, ``sample_vars``, ``params``, ``param_vector``,
``samples`` (N, k) and ``grad_exprs`` (the sympy ∇_θ ℓ): a
:class:`~sgdnoise.theory.sample_loss.SampleLoss` of your own (the BG21
:class:`~sgdnoise.theory.finite_sample.FiniteSampleLoss` is one) or a UI25
:class:`~sgdnoise.theory.ui25_problems.FiniteSumProblem`.

Compilation splits the gradient in three levels (two passes of
:func:`~.codegen.hoist_invariants`): parameter-only constants (once per call), per-sample
constants — for a loss polynomial in θ, the θ-coefficients of ∇ℓ(·; ξ_i) — computed once per
training set, and the θ-dependent part (Horner in θ).  When that part is linear in the
per-sample constants (checked symbolically; true for any loss polynomial in θ) the kernel
sums the batch's constants and evaluates once: the same Σ_b ∇ℓ(θ; ξ_b), B times fewer
polynomial evaluations.  One kernel per loss family, whatever the data, values or schedule.

Parallelism and reproducibility as in :mod:`.langevin`: chains are cut into fixed chunks,
each with a PCG64 stream spawned from ``SeedSequence(seed)``, run on a thread pool (nogil
kernels), so the output depends on the seed only, not on the thread count.
Divergence is a result (:mod:`.outcome`): a chain whose state becomes non-finite (or leaves
|θ_j| ≤ ``max_abs``) is stopped with status "diverged" and its step.  Large η is not refused
here: where SGD breaks as η grows is a measurement (BG21 invariance, UI25 schedulers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from ..errors import ParameterError
from ..theory.schedules import Expanded, Schedule
from ..validation import boolean, finite, integer, positive
from . import codegen
from .outcome import Outcome, Target, as_target, passage_times, starting_points
from .parallel import chunk_streams, resolve_threads, run_chunks
from .templates import sgd as _template

#: chains per random stream for constant SGD (many chains, short per-chain work)
CHUNK = 256
#: chains per stream under a schedule (few chains, long runs: keep both cores busy)
SCHEDULE_CHUNK = 16
#: refuse scheduled runs that would take hours: per-sample gradients over all chains (batch
#: sizes grow geometrically under schedulers ii–iv, so a typo in δ or a stage length explodes)
MAX_GRADIENTS = 2e10
RECORDABLE = ("positions", "grad_sq")
_PROTOCOL = ("coords", "sample_vars", "params", "param_vector", "samples", "grad_exprs")


def _check_problem(problem) -> None:
    if not all(hasattr(problem, a) for a in _PROTOCOL):
        raise ParameterError(
            "problem",
            type(problem).__name__,
            "must be a finite-sum problem (SampleLoss, FiniteSampleLoss or FiniteSumProblem)",
        )


def compile_problem(problem):
    """The generated kernel module for the per-sample loss family of ``problem``."""
    _check_problem(problem)
    return _compile(
        tuple(problem.grad_exprs),
        tuple(problem.coords),
        tuple(problem.sample_vars),
        tuple(problem.params),
    )


def _prefix(base: str, taken: set[str]) -> str:
    """``base`` lengthened until no user symbol is named ``{prefix}{digits}`` (a data symbol
    ``c0`` must not meet the hoisted constant ``c0``)."""
    while any(t.startswith(base) and t[len(base) :].isdigit() for t in taken):
        base += "_"
    return base


@cache
def _compile(grads, coords, sample_vars, params):
    taken = {str(s) for s in (*coords, *sample_vars, *params)}
    taken |= {str(s) for g in grads for s in g.free_symbols}
    kp, sp_, cp = (_prefix(b, taken) for b in ("k", "s", "c"))
    named, blocks = codegen.name_invariant_blocks(grads, coords + sample_vars, kp)
    per_theta, sample_inv = codegen.hoist_invariants(named, coords, prefix=sp_)
    sample_exprs, param_inv = codegen.hoist_invariants(
        [e for _, e in sample_inv], sample_vars, prefix=cp
    )
    block_values = dict(blocks)
    param_inv = [(sym, e.xreplace(block_values)) for sym, e in param_inv]
    derived = tuple(sym for sym, _ in param_inv) or (sp.Symbol("c_unused", real=True),)
    s_syms = tuple(sym for sym, _ in sample_inv) or (sp.Symbol("s_unused", real=True),)
    prepare = codegen.Function(
        "prepare", tuple(e for _, e in param_inv) or (sp.Integer(0),), (params,)
    )
    sample_prepare = codegen.Function(
        "sample_prepare", tuple(sample_exprs) or (sp.Integer(0),), (sample_vars, derived)
    )
    sample_grad = codegen.Function("sample_grad", tuple(per_theta), (coords, s_syms))
    linear = all(_linear_homogeneous(e, s_syms) for e in per_theta)
    return codegen.build(
        _template,
        [prepare, sample_prepare, sample_grad],
        constants={
            "DIM": len(coords),
            "N_DERIVED": len(derived),
            "N_SAMPLE_CONST": len(s_syms),
            "LINEAR_IN_SAMPLE": linear,
        },
    )


def _linear_homogeneous(expr: sp.Expr, syms) -> bool:
    """expr = Σ_k s_k f_k(θ): then a sum over samples may be taken on the s_k first."""
    expr = sp.expand(expr)
    if not expr.free_symbols & set(syms):
        return False
    if not expr.is_polynomial(*syms):
        return False
    return all(sum(m) == 1 for m in sp.Poly(expr, *syms).monoms())


@cache
def _sample_constants(problem) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample constants (N, n_s) and their mean (for the full gradient)."""
    mod = compile_problem(problem)
    data = np.ascontiguousarray(problem.samples, dtype=np.float64)
    out = np.empty((data.shape[0], mod.N_SAMPLE_CONST))
    mod.prepare_samples(data, np.ascontiguousarray(problem.param_vector, dtype=float), out)
    return out, out.mean(axis=0)


@dataclass
class SGDResult(Outcome):
    """SGD chains after the run, in the Langevin ensemble's vocabulary.

    ``positions`` (n_chains, dim): final states (a diverged chain keeps its last value; see
    ``status``); ``steps``: record steps (updates done), ``times`` the SGD time t = Σ_{s<k} η_s
    there (kη for constant SGD), ``samples`` the samples processed before them;
    ``records`` (n_rec, n_chains, dim): states there (NaN after a chain stopped; empty unless
    requested); ``grad_sq_chains`` (n_rec, n_chains): ‖∇L_N(θ)‖² per chain (NaN once it
    diverged); ``status``/``diverged_step``/``first_passage_step``/``first_passage``: see
    :mod:`.outcome`; ``lr``/``batch_size``: the schedule (length 1 for constant SGD);
    ``T``: η/B (per step under a schedule)."""

    positions: np.ndarray
    steps: np.ndarray
    times: np.ndarray
    samples: np.ndarray
    records: np.ndarray
    grad_sq_chains: np.ndarray
    status: np.ndarray
    diverged_step: np.ndarray
    first_passage_step: np.ndarray
    first_passage: np.ndarray
    lr: float | np.ndarray
    batch_size: int | np.ndarray
    T: float | np.ndarray
    replacement: bool
    n_steps: int
    schedule: str = "constant"

    # names kept from the two former result types
    @property
    def record_steps(self) -> np.ndarray:
        return self.steps

    @property
    def record_times(self) -> np.ndarray:
        return self.times

    @property
    def temperature(self) -> float | np.ndarray:
        return self.T

    @property
    def n_alive(self) -> np.ndarray:
        """Chains with a recorded full gradient at each record step (not diverged)."""
        return np.sum(np.isfinite(self.grad_sq_chains), axis=1)

    @property
    def grad_sq(self) -> np.ndarray:
        """Mean ‖∇L_N(θ_t)‖² over the chains alive at each record step (NaN where none)."""
        k = self.n_alive
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nansum(self.grad_sq_chains, axis=1) / k

    @property
    def grad_sq_se(self) -> np.ndarray:
        """Standard error of :attr:`grad_sq` over the alive chains."""
        k = self.n_alive
        with np.errstate(invalid="ignore", divide="ignore"):
            m2 = np.nansum(self.grad_sq_chains**2, axis=1) / k
            var = np.maximum(m2 - self.grad_sq**2, 0.0)
            return np.sqrt(var / np.maximum(k - 1, 1))

    @property
    def first_divergence(self) -> int:
        """The earliest step at which a chain diverged (−1 if none)."""
        d = self.diverged_step[self.diverged]
        return int(d.min()) if d.size else -1

    def running_min(self) -> np.ndarray:
        """min over recorded s ≤ t of the chain-mean ‖∇L_N(θ_s)‖² (NaN where none alive)."""
        g = np.where(self.n_alive > 0, self.grad_sq, np.inf)
        m = np.minimum.accumulate(g)
        return np.where(np.isfinite(m), m, np.nan)


def _initial(problem, x0, n: int) -> np.ndarray:
    dim = len(problem.coords)
    if x0 is None:
        if hasattr(problem, "theta0"):
            x0 = problem.theta0
        else:
            from ..theory.basins import minima

            try:
                pot = problem.potential
            except ParameterError:
                raise ParameterError("x0", None, "is required for this loss") from None
            x0 = minima(pot)[0].location
    return starting_points(x0, n, dim)


def _schedule(schedule, lr, batch_size, n_steps):
    """(name, lr array, batch array, n_steps, constant?) from either form."""
    if schedule is None:
        if lr is None or batch_size is None:
            raise ParameterError("lr", lr, "give lr and batch_size, or a schedule")
        if n_steps is None:
            raise ParameterError("n_steps", None, "is required")
        lr_v = positive("lr", lr)
        b = integer("batch_size", batch_size, minimum=1)
        n_steps = integer("n_steps", n_steps, minimum=0)
        return "constant", np.array([lr_v]), np.array([b], dtype=np.int64), n_steps, True
    if lr is not None or batch_size is not None:
        raise ParameterError("schedule", "and lr/batch_size", "give one or the other, not both")
    if isinstance(schedule, Schedule):
        if n_steps is None:
            raise ParameterError("n_steps", None, "is required with a Schedule")
        n_steps = integer("n_steps", n_steps, minimum=1)
        name, ex = schedule.name, schedule.expand_steps(n_steps)
    elif isinstance(schedule, Expanded):
        name, ex = "expanded", schedule
        if n_steps is not None and integer("n_steps", n_steps, minimum=0) != ex.n_steps:
            raise ParameterError("n_steps", n_steps, f"must equal the schedule's {ex.n_steps}")
    else:
        raise ParameterError("schedule", type(schedule).__name__, "must be Schedule or Expanded")
    lr_a = np.ascontiguousarray(ex.lr, dtype=np.float64)
    b_a = np.ascontiguousarray(ex.batch_size, dtype=np.int64)
    if lr_a.size == 0 or not np.all(np.isfinite(lr_a) & (lr_a > 0)) or np.any(b_a < 1):
        raise ParameterError("schedule", name, "needs finite η_t > 0 and b_t >= 1 at every step")
    if lr_a.size == 1:  # a one-step schedule: keep the kernel's per-step reading
        lr_a, b_a = np.repeat(lr_a, 2), np.repeat(b_a, 2)
    return name, lr_a, b_a, int(ex.lr.shape[0]), False


def _record_steps(record_every, record_steps, n_steps) -> np.ndarray:
    if record_steps is not None:
        if record_every:
            raise ParameterError("record_steps", "and record_every", "give one, not both")
        try:
            rs = np.asarray(record_steps, dtype=np.int64).ravel()
        except (TypeError, ValueError):
            raise ParameterError("record_steps", record_steps, "must be integers") from None
        if rs.size and (rs[0] < 0 or rs[-1] > n_steps or np.any(np.diff(rs) <= 0)):
            raise ParameterError(
                "record_steps", record_steps, f"must increase strictly within [0, {n_steps}]"
            )
        return np.ascontiguousarray(rs)
    r = integer("record_every", record_every, minimum=0)
    n_rec = n_steps // r if r else 0
    return np.ascontiguousarray(r * np.arange(1, n_rec + 1, dtype=np.int64))


def sgd(
    problem,
    schedule: Schedule | Expanded | None = None,
    *,
    lr: float | None = None,
    batch_size: int | None = None,
    n_steps: int | None = None,
    n_chains: int,
    replacement: bool = True,
    x0=None,
    seed: int = 0,
    threads: int | None = None,
    record_every: int = 0,
    record_steps=None,
    record: tuple[str, ...] = ("positions",),
    max_abs: float = math.inf,
    first_passage: Target | None = None,
    stop_at_target: bool = False,
) -> SGDResult:
    """Run ``n_chains`` independent SGD chains on ``problem``.

    Constant SGD: ``lr``, ``batch_size``, ``n_steps``.  Scheduled SGD: ``schedule`` (a
    Schedule expanded over ``n_steps`` steps, or an Expanded per-step schedule).
    ``x0``: a point, ``n_chains`` points, or None (the problem's θ0, else the first minimum
    of L_N).  Records at ``record_steps`` (explicit, 0 allowed) or every ``record_every``
    steps (r, 2r, …); ``record``: which of "positions", "grad_sq" (‖∇L_N‖² per chain).
    ``max_abs``: a chain leaving |θ_j| ≤ max_abs counts as diverged.
    ``first_passage``: a :class:`~.outcome.Target`; its first-passage step and time are
    recorded per chain (``stop_at_target``: the chain stops there).
    ``threads``: worker threads (default: all cores); results do not depend on it."""
    _check_problem(problem)
    name, lr_a, b_a, n_steps, constant = _schedule(schedule, lr, batch_size, n_steps)
    boolean("replacement", replacement)
    N = int(problem.samples.shape[0])
    if not replacement and int(b_a.max()) > N:
        raise ParameterError("batch_size", int(b_a.max()), f"must be <= N={N} without replacement")
    n = integer("n_chains", n_chains, minimum=1)
    seed = integer("seed", seed, minimum=0)
    threads = resolve_threads(threads)
    rec_steps = _record_steps(record_every, record_steps, n_steps)
    if not isinstance(record, tuple | list) or not all(r in RECORDABLE for r in record):
        raise ParameterError("record", record, f"must be a tuple drawn from {RECORDABLE}")
    if not (isinstance(max_abs, float) and max_abs == math.inf):
        max_abs = positive("max_abs", max_abs)
    target = as_target(first_passage)
    if target is not None and target.level is not None:
        raise ParameterError(
            "first_passage", target, "a loss level is for langevin_ensemble; SGD takes a box"
        )
    boolean("stop_at_target", stop_at_target)
    if not constant:
        work = float(np.sum(b_a[:n_steps], dtype=float) + N) * n
        if work > MAX_GRADIENTS:
            raise ParameterError(
                "schedule",
                f"{work:.3g} per-sample gradients",
                f"must need at most {MAX_GRADIENTS:.0e} (cap the batch size: Schedule.max_batch)",
            )
    x = _initial(problem, x0, n)
    dim = x.shape[1]

    mod = compile_problem(problem)
    scoef, smean = _sample_constants(problem)
    n_rec = rec_steps.size
    rec_x = np.full((n_rec if "positions" in record else 0, n, dim), np.nan)
    rec_g = np.full((n_rec if "grad_sq" in record else 0, n), np.nan)
    lo, hi = target.arrays(dim) if target is not None else (np.zeros(dim), np.zeros(dim))
    status = np.zeros(n, dtype=np.int8)
    fail = np.full(n, -1, dtype=np.int64)
    fp = np.full(n, -1, dtype=np.int64)
    chunk = CHUNK if constant else SCHEDULE_CHUNK
    starts = list(range(0, n, chunk))
    streams = chunk_streams(seed, len(starts))

    def work(c: int) -> None:
        sl = slice(starts[c], starts[c] + chunk)
        xc = np.ascontiguousarray(x[sl])
        rx = np.ascontiguousarray(rec_x[:, sl])
        rg = np.ascontiguousarray(rec_g[:, sl])
        sc, fc, pc = status[sl].copy(), fail[sl].copy(), fp[sl].copy()
        perm = np.arange(N, dtype=np.int64)
        mod.sgd_chunk(
            xc, scoef, smean, lr_a, b_a, replacement, n_steps, rec_steps, rx, rg, max_abs,
            lo, hi, target is not None, stop_at_target, sc, fc, pc, perm, streams[c],
        )  # fmt: skip
        x[sl], rec_x[:, sl], rec_g[:, sl] = xc, rx, rg
        status[sl], fail[sl], fp[sl] = sc, fc, pc

    run_chunks(work, len(starts), threads)
    if constant:
        lr_v, b_v = float(lr_a[0]), int(b_a[0])
        clock = lr_v * np.arange(n_steps + 1)
        samples = b_v * np.arange(n_steps + 1, dtype=np.int64)
        from ..theory.conventions import temperature

        T = temperature(lr_v, b_v)
    else:
        lr_v, b_v = lr_a[:n_steps], b_a[:n_steps]
        clock = np.concatenate([[0.0], np.cumsum(lr_v)])
        samples = np.concatenate([[0], np.cumsum(b_v)]).astype(np.int64)
        T = lr_v / b_v
    return SGDResult(
        positions=x,
        steps=rec_steps,
        times=clock[rec_steps],
        samples=samples[rec_steps],
        records=rec_x,
        grad_sq_chains=rec_g,
        status=status,
        diverged_step=fail,
        first_passage_step=fp,
        first_passage=passage_times(fp, clock),
        lr=lr_v,
        batch_size=b_v,
        T=T,
        replacement=replacement,
        n_steps=n_steps,
        schedule=name,
    )


#: the former name of :func:`sgd` (constant SGD on a finite-sample loss)
sgd_chains = sgd


def minibatch_gradients(
    problem,
    theta: float,
    *,
    batch_size: int,
    n_draws: int,
    replacement: bool = True,
    seed: int = 0,
    threads: int | None = None,
) -> np.ndarray:
    """``n_draws`` independent minibatch-mean gradients at θ (1-D), drawn by the SGD kernel
    itself (one step with η = 1 from θ: g = θ − θ₁), to measure their covariance against
    Σ_N(θ)/B (with replacement) or Σ_N(θ)/B·(N−B)/(N−1) (without)."""
    th = finite("theta", theta)
    res = sgd(
        problem,
        lr=1.0,
        batch_size=batch_size,
        n_chains=n_draws,
        n_steps=1,
        replacement=replacement,
        x0=th,
        seed=seed,
        threads=threads,
    )
    return th - res.positions[:, 0]
