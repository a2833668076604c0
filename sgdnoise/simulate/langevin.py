"""Langevin ensembles on any potential of :mod:`sgdnoise.theory.potentials` (BG21).

Many independent particles follow the Itô SDE of SGD at temperature T = η/B,

    dθ = −∇L(θ) dt + sqrt(T Σ(θ)) dW,

integrated by Euler–Maruyama with step dt (time t = kη in SGD units).  The drift and noise
are compiled from the potential's sympy expressions (:mod:`.codegen`), once per family:
parameters are runtime arguments.

Parallelism and reproducibility: particles are cut into fixed chunks, each with its own
PCG64 stream spawned from ``SeedSequence(seed)``; chunks run on a thread pool (the kernel
releases the GIL).  The output therefore depends on the seed only, not on the thread count.

What it refuses and what it reports (:mod:`.outcome`): dt must be finite, > 0 and below the
Euler–Maruyama stability limit 2/h_max, h_max the largest Hessian eigenvalue at the
potential's minima (the scheme multiplies a deviation near a minimum by 1 − h dt, which
grows in modulus once dt > 2/h); the noise covariance must be ≥ 0 (at every start and on a
grid of the domain).  A particle whose state still turns non-finite — far from the minima,
where the curvature is larger, or on a potential unbounded below — is reported per particle
as diverged, with its step.  First passage to a :class:`~.outcome.Target` (a box, a
threshold on a coordinate, a basin, a loss level L ≤ c) is recorded per particle on request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from ..errors import ParameterError
from ..theory.potentials import Potential
from ..validation import boolean, integer, positive
from . import codegen
from .outcome import Outcome, Target, as_target, passage_times, starting_points
from .parallel import chunk_streams, resolve_threads, run_chunks
from .templates import langevin as _template

CHUNK = 1024


def compile_potential(pot: Potential):
    """The generated kernel module for ``pot``'s family (cached on disk by numba, and in
    memory per family so that repeated calls cost nothing).

    Parameter-only subexpressions are hoisted into a generated ``prepare(params, out)`` that
    the kernel calls once; ``drift``/``noise_sd`` then read those derived constants."""
    return _compile(
        pot.loss,
        tuple(pot.noise_cov),
        tuple(pot.coords),
        tuple(pot.params),
        bool(pot.constant_noise),
    )


@cache
def _compile(loss, noise_cov, coords, params, constant_noise):
    exprs = [-sp.diff(loss, c) for c in coords] + [sp.sqrt(s) for s in noise_cov] + [loss]
    taken = {str(s) for e in exprs for s in sp.sympify(e).free_symbols}
    prefix = "c"
    while any(t.startswith(prefix) and t[len(prefix) :].isdigit() for t in taken):
        prefix += "_"  # never reuse a user symbol's name (a parameter called c0)
    rewritten, invariants = codegen.hoist_invariants(exprs, coords, prefix=prefix)
    derived = tuple(sym for sym, _ in invariants) or (sp.Symbol("c_unused", real=True),)
    prepare = codegen.Function(
        "prepare", tuple(e for _, e in invariants) or (sp.Integer(0),), (params,)
    )
    d = len(coords)
    drift = codegen.Function("drift", tuple(rewritten[:d]), (coords, derived), returns=True)
    noise = codegen.Function("noise_sd", tuple(rewritten[d:-1]), (coords, derived), returns=True)
    value = codegen.Function("loss_value", (rewritten[-1],), (coords, derived), returns=True)
    return codegen.build(
        _template,
        [prepare, drift, noise, value],
        constants={
            "DIM": d,
            "N_DERIVED": len(derived),
            "CONSTANT_NOISE": constant_noise,
        },
    )


@dataclass
class EnsembleResult(Outcome):
    """A Langevin ensemble after the run.

    ``positions`` (n_particles, dim): final positions (a diverged particle keeps its last,
    non-finite value: see ``status``); ``steps``/``times``: record steps and their times
    k·dt; ``occupation``: the fraction of particles on the low side of the potential's split
    hyperplane (the first basin) there; ``status``/``diverged_step``/``first_passage_step``/
    ``first_passage`` (times, NaN for particles that never arrived): see :mod:`.outcome`;
    ``n_steps``: steps run (fewer with ``stop_at_target``, per chunk: the largest)."""

    positions: np.ndarray
    times: np.ndarray
    occupation: np.ndarray
    T: float
    dt: float
    steps: np.ndarray
    status: np.ndarray
    diverged_step: np.ndarray
    first_passage_step: np.ndarray
    first_passage: np.ndarray
    n_steps: int

    def histogram(self, bins=60, axis: int = 0, range=None):
        """Density-normalized histogram of coordinate ``axis`` over the particles that did
        not diverge: (counts, edges)."""
        return np.histogram(self.finite_positions[:, axis], bins=bins, range=range, density=True)


def _initial_positions(pot: Potential, x0, n: int) -> np.ndarray:
    if x0 is None:
        from ..theory.basins import minima

        x0 = minima(pot)[0].location
    return starting_points(x0, n, pot.dim)


def stability_limit(pot: Potential) -> float:
    """2/h_max: the largest Euler–Maruyama step that is stable at every minimum of ``pot``
    (h_max the largest Hessian eigenvalue there); inf when the potential has no minimum in
    its domain (then nothing is known, and divergence is reported per particle)."""
    return _stability_limit(pot)


@cache
def _stability_limit(pot: Potential) -> float:
    from ..theory.basins import minima

    try:
        mins = minima(pot)
    except ParameterError:
        return math.inf
    h = max(float(np.max(np.linalg.eigvalsh(m.hessian))) for m in mins)
    return 2.0 / h if h > 0 else math.inf


def _check_symbols(pot: Potential) -> None:
    """Every symbol of the loss and noise is a coordinate or a parameter with a value."""
    unknown = _unknown_symbols(pot.loss, tuple(pot.noise_cov), tuple(pot.coords), tuple(pot.params))
    if unknown or len(pot.values) != len(pot.params):
        raise ParameterError("potential", unknown, "every symbol needs a value")


@cache
def _unknown_symbols(loss, noise_cov, coords, params) -> list[str]:
    free = set().union(*(sp.sympify(e).free_symbols for e in (loss, *noise_cov)))
    return sorted(map(str, free - set(coords) - set(params)))


def _check_noise(pot: Potential, x: np.ndarray) -> None:
    """Σ_jj ≥ 0 and finite at the starting points and on a grid of the domain."""
    _, noise = pot.substituted()
    if pot.constant_noise:
        vals = np.array([complex(sp.N(e)) for e in noise])
        bad = np.any(np.abs(vals.imag) > 0) or not np.all(np.isfinite(vals.real))
        if bad or np.any(vals.real < 0):
            raise ParameterError("noise_cov", noise, "must be >= 0 (a covariance)")
        return
    axes = [np.linspace(lo, hi, 65 if pot.dim == 1 else 9) for lo, hi in pot.domain]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, pot.dim)
    pts = np.concatenate([grid, x[:4096]])
    with np.errstate(all="ignore"):
        vals = np.stack(pot.noise_at(*pts.T))
    if not np.all(vals >= 0):
        raise ParameterError(
            "noise_cov", noise, "must be >= 0 and finite on the domain and at the starts"
        )


def langevin_ensemble(
    pot: Potential,
    T: float,
    *,
    n_particles: int,
    dt: float,
    n_steps: int,
    x0=None,
    seed: int = 0,
    threads: int | None = None,
    record_every: int = 0,
    first_passage: Target | None = None,
    stop_at_target: bool = False,
) -> EnsembleResult:
    """Simulate ``n_particles`` independent particles for ``n_steps`` steps of size ``dt``.

    ``x0``: a point, an (n_particles, dim) array, or None (the first minimum).
    ``record_every`` > 0 records the first-basin occupation every that many steps.
    ``first_passage``: a :class:`~.outcome.Target`; each particle's first step in it is
    recorded (time k·dt; the walk is observed at the grid times, so a passage between steps
    is seen late by O(sqrt(dt)) in time scale — the discretization bias of any first-passage
    estimate).  ``stop_at_target``: stop once every particle has arrived or diverged (then
    positions are not at a common time; no records).
    ``threads``: worker threads (default: all cores); results do not depend on it."""
    if not isinstance(pot, Potential):
        raise ParameterError("potential", type(pot).__name__, "must be a theory Potential")
    T = positive("T", T)
    dt = positive("dt", dt)
    _check_symbols(pot)
    limit = stability_limit(pot)
    if dt >= limit:
        raise ParameterError(
            "dt", dt, f"must be < 2/h_max = {limit:.4g} (Euler–Maruyama stability at the minima)"
        )
    n = integer("n_particles", n_particles, minimum=1)
    n_steps = integer("n_steps", n_steps, minimum=0)
    record_every = integer("record_every", record_every, minimum=0)
    seed = integer("seed", seed, minimum=0)
    threads = resolve_threads(threads)
    target = as_target(first_passage)
    boolean("stop_at_target", stop_at_target)
    if stop_at_target and (target is None or record_every):
        raise ParameterError("stop_at_target", True, "needs a first_passage target and no records")
    x = _initial_positions(pot, x0, n)
    _check_noise(pot, x)

    mod = compile_potential(pot)
    params = pot.param_vector
    normal = np.asarray(pot.split_normal or (1.0,) + (0.0,) * (pot.dim - 1), dtype=float)
    n_rec = n_steps // record_every if record_every else 0
    starts = list(range(0, n, CHUNK))
    streams = chunk_streams(seed, len(starts))
    occ = np.zeros((len(starts), n_rec), dtype=np.int64)
    div = np.full(n, -1, dtype=np.int64)
    fp = np.full(n, -1, dtype=np.int64)
    lo, hi = target.arrays(pot.dim) if target is not None else (np.zeros(1), np.zeros(1))
    level = target.level if target is not None and target.level is not None else math.inf
    use_level = target is not None and target.level is not None
    ran = np.zeros(len(starts), dtype=np.int64)

    def work(c: int) -> None:
        sl = slice(starts[c], starts[c] + CHUNK)
        block = x[sl]
        view = np.ascontiguousarray(block)
        d, f = div[sl].copy(), fp[sl].copy()
        ran[c] = mod.langevin_chunk(
            view, params, T, dt, n_steps, record_every, normal, float(pot.split_offset),
            occ[c], streams[c], d, target is not None, lo, hi, use_level, level,
            stop_at_target, f,
        )  # fmt: skip
        block[...] = view
        div[sl], fp[sl] = d, f

    run_chunks(work, len(starts), threads)
    steps = record_every * np.arange(1, n_rec + 1)
    status = (div >= 0).astype(np.int8)
    clock = dt * np.arange(n_steps + 1)
    return EnsembleResult(
        positions=x,
        times=dt * record_every * np.arange(1, n_rec + 1),
        occupation=occ.sum(axis=0) / n,
        T=T,
        dt=dt,
        steps=steps,
        status=status,
        diverged_step=div,
        first_passage_step=fp,
        first_passage=passage_times(fp, clock),
        n_steps=int(ran.max()),
    )
