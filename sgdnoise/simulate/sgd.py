"""True minibatch SGD on a finite-sample loss, many independent chains (BG21, DESIGN.md §3).

Not Gaussian noise: every step draws a batch of B training points ξ_i and moves

    θ_{k+1} = θ_k − (η/B) Σ_{i ∈ batch_k} ∇ℓ(θ_k; ξ_i),

with ℓ the symbolic per-sample loss of :mod:`sgdnoise.theory.finite_sample`, compiled by
:mod:`.codegen` (never re-typed).  Batches with replacement (minibatch-gradient covariance
Σ/B, temperature exactly T = η/B) or without (Σ/B·(N−B)/(N−1)); see
:func:`sgdnoise.theory.conventions.minibatch_covariance`.

Compilation splits the gradient in three levels (two passes of
:func:`~.codegen.hoist_invariants`): parameter-only constants (once per call), per-sample
constants — for the polynomial family, the θ-coefficients of ∇ℓ(·; ξ_i) — computed once per
training set, and the θ-dependent part (Horner in θ).  When that part is linear in the
per-sample constants (checked symbolically; true for any loss polynomial in θ) the kernel
sums the batch's constants and evaluates once: the same Σ_b ∇ℓ(θ; ξ_b), B times fewer
polynomial evaluations.

Parallelism and reproducibility as in :mod:`.langevin`: chains are cut into fixed chunks,
each with a PCG64 stream spawned from ``SeedSequence(seed)``, run on a thread pool (nogil
kernels), so the output depends on the seed only, not on the thread count.
Divergence is a result: a chain whose state becomes non-finite is frozen with status 1 and
the step at which it happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from ..errors import ParameterError
from ..theory.finite_sample import SAMPLE_VARS, FiniteSampleLoss, per_sample_loss
from ..validation import boolean, finite, integer, positive
from . import codegen
from .parallel import chunk_streams, resolve_threads, run_chunks
from .templates import sgd as _template

CHUNK = 256


def compile_problem(problem: FiniteSampleLoss):
    """The generated kernel module for the per-sample loss family of ``problem``."""
    base = problem.base
    return _compile(per_sample_loss(base), tuple(base.coords), tuple(base.params))


@cache
def _compile(ell, coords, params):
    grads = [sp.diff(ell, c) for c in coords]
    named, blocks = codegen.name_invariant_blocks(grads, coords + SAMPLE_VARS, "k")
    per_theta, sample_inv = codegen.hoist_invariants(named, coords, prefix="s")
    sample_exprs, param_inv = codegen.hoist_invariants(
        [e for _, e in sample_inv], SAMPLE_VARS, prefix="c"
    )
    block_values = dict(blocks)
    param_inv = [(sym, e.xreplace(block_values)) for sym, e in param_inv]
    derived = tuple(sym for sym, _ in param_inv) or (sp.Symbol("c_unused", real=True),)
    s_syms = tuple(sym for sym, _ in sample_inv) or (sp.Symbol("s_unused", real=True),)
    prepare = codegen.Function(
        "prepare", tuple(e for _, e in param_inv) or (sp.Integer(0),), (params,)
    )
    sample_prepare = codegen.Function(
        "sample_prepare", tuple(sample_exprs) or (sp.Integer(0),), (SAMPLE_VARS, derived)
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
    return all(sum(m) == 1 for m in sp.Poly(expr, *syms).monoms())


@cache
def _sample_constants(problem: FiniteSampleLoss) -> np.ndarray:
    mod = compile_problem(problem)
    out = np.empty((problem.n, mod.N_SAMPLE_CONST))
    mod.prepare_samples(np.ascontiguousarray(problem.samples), problem.base.param_vector, out)
    return out


@dataclass
class SGDResult:
    """Final states (n_chains, dim); ``records`` (n_rec, n_chains, dim) at ``record_steps``
    (NaN after a chain diverged); ``status`` 0 running / 1 diverged and ``diverged_step``
    (−1 when it did not)."""

    positions: np.ndarray
    records: np.ndarray
    record_steps: np.ndarray
    status: np.ndarray
    diverged_step: np.ndarray
    lr: float
    batch_size: int
    replacement: bool
    n_steps: int

    @property
    def temperature(self) -> float:
        from ..theory.conventions import temperature

        return temperature(self.lr, self.batch_size)

    @property
    def diverged_fraction(self) -> float:
        return float(np.mean(self.status != 0))

    @property
    def record_times(self) -> np.ndarray:
        """SGD time t = kη of the records."""
        return self.lr * self.record_steps


def _initial(problem: FiniteSampleLoss, x0, n: int) -> np.ndarray:
    if x0 is None:
        from ..theory.basins import minima

        x0 = minima(problem.potential)[0].location
    arr = np.asarray(x0, dtype=float)
    if arr.ndim == 0:
        arr = np.full((n, 1), float(arr))
    elif arr.ndim == 1 and arr.shape[0] == n:
        arr = arr[:, None].copy()
    elif arr.ndim == 1 and arr.shape[0] == 1:
        arr = np.tile(arr, (n, 1))
    elif arr.shape != (n, 1):
        raise ParameterError("x0", arr.shape, f"must be a point or hold {n} starting points")
    if not np.all(np.isfinite(arr)):
        raise ParameterError("x0", "non-finite", "must be finite")
    return np.ascontiguousarray(arr)


def sgd_chains(
    problem: FiniteSampleLoss,
    *,
    lr: float,
    batch_size: int,
    n_chains: int,
    n_steps: int,
    replacement: bool = True,
    x0=None,
    seed: int = 0,
    threads: int | None = None,
    record_every: int = 0,
) -> SGDResult:
    """Run ``n_chains`` independent SGD chains for ``n_steps`` steps on ``problem``.

    ``x0``: a point, ``n_chains`` points, or None (the first minimum of L_N).
    ``record_every`` > 0 stores every chain's state every that many steps.
    ``threads``: worker threads (default: all cores); results do not depend on it."""
    if not isinstance(problem, FiniteSampleLoss):
        raise ParameterError("problem", type(problem).__name__, "must be a FiniteSampleLoss")
    lr = positive("lr", lr)
    b = integer("batch_size", batch_size, minimum=1)
    boolean("replacement", replacement)
    if not replacement and b > problem.n:
        raise ParameterError(
            "batch_size", batch_size, f"must be <= N={problem.n} without replacement"
        )
    n = integer("n_chains", n_chains, minimum=1)
    n_steps = integer("n_steps", n_steps, minimum=0)
    record_every = integer("record_every", record_every, minimum=0)
    seed = integer("seed", seed, minimum=0)
    threads = resolve_threads(threads)
    x = _initial(problem, x0, n)

    mod = compile_problem(problem)
    scoef = _sample_constants(problem)
    n_rec = n_steps // record_every if record_every else 0
    rec = np.full((n_rec, n, 1), np.nan)
    status = np.zeros(n, dtype=np.int8)
    fail = np.full(n, -1, dtype=np.int64)
    starts = list(range(0, n, CHUNK))
    streams = chunk_streams(seed, len(starts))

    def work(c: int) -> None:
        rng = streams[c]
        sl = slice(starts[c], starts[c] + CHUNK)
        xc = np.ascontiguousarray(x[sl])
        rc = np.ascontiguousarray(rec[:, sl])
        sc, fc = status[sl].copy(), fail[sl].copy()
        perm = np.arange(problem.n, dtype=np.int64)
        mod.sgd_chunk(xc, scoef, lr, b, replacement, n_steps, record_every, rc, sc, fc, perm, rng)
        x[sl], rec[:, sl], status[sl], fail[sl] = xc, rc, sc, fc

    run_chunks(work, len(starts), threads)
    steps = record_every * np.arange(1, n_rec + 1)
    return SGDResult(x, rec, steps, status, fail, lr, b, replacement, n_steps)


def minibatch_gradients(
    problem: FiniteSampleLoss,
    theta: float,
    *,
    batch_size: int,
    n_draws: int,
    replacement: bool = True,
    seed: int = 0,
    threads: int | None = None,
) -> np.ndarray:
    """``n_draws`` independent minibatch-mean gradients at θ, drawn by the SGD kernel itself
    (one step with η = 1 from θ: g = θ − θ₁), to measure their covariance against
    Σ_N(θ)/B (with replacement) or Σ_N(θ)/B·(N−B)/(N−1) (without)."""
    th = finite("theta", theta)
    res = sgd_chains(
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
