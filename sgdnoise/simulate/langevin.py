"""Langevin ensembles on any potential of :mod:`sgdnoise.theory.potentials` (BG21).

Many independent particles follow the Itô SDE of SGD at temperature T = η/B,

    dθ = −∇L(θ) dt + sqrt(T Σ(θ)) dW,

integrated by Euler–Maruyama with step dt (time t = kη in SGD units).  The drift and noise
are compiled from the potential's sympy expressions (:mod:`.codegen`), once per family:
parameters are runtime arguments.

Parallelism and reproducibility: particles are cut into fixed chunks, each with its own
PCG64 stream spawned from ``SeedSequence(seed)``; chunks run on a thread pool (the kernel
releases the GIL).  The output therefore depends on the seed only, not on the thread count.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from ..errors import ParameterError
from ..theory.potentials import Potential
from ..validation import integer, positive
from . import codegen
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
    exprs = [-sp.diff(loss, c) for c in coords] + [sp.sqrt(s) for s in noise_cov]
    rewritten, invariants = codegen.hoist_invariants(exprs, coords)
    derived = tuple(sym for sym, _ in invariants) or (sp.Symbol("c_unused", real=True),)
    prepare = codegen.Function(
        "prepare", tuple(e for _, e in invariants) or (sp.Integer(0),), (params,)
    )
    d = len(coords)
    drift = codegen.Function("drift", tuple(rewritten[:d]), (coords, derived), returns=True)
    noise = codegen.Function("noise_sd", tuple(rewritten[d:]), (coords, derived), returns=True)
    return codegen.build(
        _template,
        [prepare, drift, noise],
        constants={
            "DIM": d,
            "N_DERIVED": len(derived),
            "CONSTANT_NOISE": constant_noise,
        },
    )


@dataclass
class EnsembleResult:
    """Final positions (n_particles, dim); if recorded, times and the fraction of particles on
    the low side of the potential's split hyperplane (the first basin) at those times."""

    positions: np.ndarray
    times: np.ndarray
    occupation: np.ndarray
    T: float
    dt: float

    def histogram(self, bins=60, axis: int = 0, range=None):
        """Density-normalized histogram of coordinate ``axis``: (counts, edges)."""
        return np.histogram(self.positions[:, axis], bins=bins, range=range, density=True)


def _initial_positions(pot: Potential, x0, n: int) -> np.ndarray:
    if x0 is None:
        from ..theory.basins import minima

        x0 = minima(pot)[0].location
    arr = np.asarray(x0, dtype=float)
    if arr.ndim == 0:
        arr = np.full((n, pot.dim), float(arr))
    elif arr.ndim == 1:
        if arr.shape[0] != pot.dim:
            raise ParameterError("x0", x0, f"must have {pot.dim} coordinates")
        arr = np.tile(arr, (n, 1))
    elif arr.shape != (n, pot.dim):
        raise ParameterError("x0", arr.shape, f"must be a point or shape ({n}, {pot.dim})")
    if not np.all(np.isfinite(arr)):
        raise ParameterError("x0", "non-finite", "must be finite")
    return np.ascontiguousarray(arr)


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
) -> EnsembleResult:
    """Simulate ``n_particles`` independent particles for ``n_steps`` steps of size ``dt``.

    ``x0``: a point, an (n_particles, dim) array, or None (the first minimum).
    ``record_every`` > 0 records the first-basin occupation every that many steps.
    ``threads``: worker threads (default: all cores); results do not depend on it."""
    if not isinstance(pot, Potential):
        raise ParameterError("potential", type(pot).__name__, "must be a theory Potential")
    T = positive("T", T)
    dt = positive("dt", dt)
    n = integer("n_particles", n_particles, minimum=1)
    n_steps = integer("n_steps", n_steps, minimum=0)
    record_every = integer("record_every", record_every, minimum=0)
    seed = integer("seed", seed, minimum=0)
    threads = resolve_threads(threads)
    x = _initial_positions(pot, x0, n)

    mod = compile_potential(pot)
    params = pot.param_vector
    normal = np.asarray(pot.split_normal or (1.0,) + (0.0,) * (pot.dim - 1), dtype=float)
    n_rec = n_steps // record_every if record_every else 0
    starts = list(range(0, n, CHUNK))
    streams = chunk_streams(seed, len(starts))
    occ = np.zeros((len(starts), n_rec), dtype=np.int64)

    def work(c: int) -> None:
        rng = streams[c]
        block = x[starts[c] : starts[c] + CHUNK]
        view = np.ascontiguousarray(block)
        mod.langevin_chunk(
            view,
            params,
            T,
            dt,
            n_steps,
            record_every,
            normal,
            float(pot.split_offset),
            occ[c],
            rng,
        )
        block[...] = view

    run_chunks(work, len(starts), threads)
    times = dt * record_every * np.arange(1, n_rec + 1)
    return EnsembleResult(x, times, occ.sum(axis=0) / n, T, dt)
