"""SGD under the UI25 batch-size / learning-rate schedulers, on finite-sum problems.

The problem's per-sample gradient is compiled from its sympy loss
(:mod:`sgdnoise.theory.ui25_problems`) by :mod:`.codegen`, pasted before the kernel template
:mod:`.templates.sgd_schedule`: one compiled kernel per problem *family* (loss and
dimension), whatever the data, constants or schedule, which are runtime arguments.  The
schedule comes from :mod:`sgdnoise.theory.schedules` (the one definition everyone uses).

Many independent chains start from the problem's θ0; batches are drawn with replacement.
The mean of ‖∇f(θ_t)‖² over chains estimates E‖∇f(θ_t)‖², the left side of the UI25 bound.
Chains are cut into fixed chunks with their own PCG64 stream spawned from
``SeedSequence(seed)`` and run on a thread pool (the kernel releases the GIL), so results
depend on the seed only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from ..errors import ParameterError
from ..theory.schedules import Expanded, Schedule
from ..theory.ui25_problems import FiniteSumProblem
from ..validation import integer, positive
from . import codegen
from .parallel import chunk_streams, resolve_threads, run_chunks
from .templates import sgd_schedule as _template

CHUNK = 16
#: refuse runs that would take hours: per-sample gradients over all chains (batch sizes
#: grow geometrically under schedulers ii–iv, so a typo in δ or the stage length explodes)
MAX_GRADIENTS = 2e10


def compile_problem(problem: FiniteSumProblem):
    """The generated kernel module for ``problem``'s family (cached on disk and in memory)."""
    if not isinstance(problem, FiniteSumProblem):
        raise ParameterError("problem", type(problem).__name__, "must be a FiniteSumProblem")
    return _compile(problem.grad, problem.theta, problem.datum, problem.params)


@cache
def _compile(grad, theta, datum, params):
    fn = codegen.Function("grad_sample", tuple(grad), (theta, datum, params))
    return codegen.build(_template, [fn], constants={"DIM": len(theta)})


@dataclass
class SGDRun:
    """Mean ‖∇f‖² over the surviving chains at the recorded steps, and divergences.

    ``steps``: recorded step indices t (θ_t after t updates); ``samples``: samples processed
    before step t; ``grad_sq``/``grad_sq_se``: mean and standard error over the chains alive
    at t; ``div_step``: per chain, the step at which it diverged (−1: never)."""

    problem: str
    schedule: str
    steps: np.ndarray
    samples: np.ndarray
    grad_sq: np.ndarray
    grad_sq_se: np.ndarray
    n_alive: np.ndarray
    div_step: np.ndarray
    lr: np.ndarray
    batch_size: np.ndarray

    @property
    def status(self) -> str:
        return "diverged" if np.any(self.div_step >= 0) else "ok"

    @property
    def first_divergence(self) -> int:
        """The earliest step at which a chain diverged (−1 if none)."""
        d = self.div_step[self.div_step >= 0]
        return int(d.min()) if d.size else -1

    def running_min(self) -> np.ndarray:
        """min over recorded s ≤ t of the chain-mean ‖∇f(θ_s)‖² (NaN where none alive)."""
        g = np.where(self.n_alive > 0, self.grad_sq, np.inf)
        m = np.minimum.accumulate(g)
        return np.where(np.isfinite(m), m, np.nan)


def run_sgd(
    problem: FiniteSumProblem,
    schedule: Schedule | Expanded,
    *,
    n_steps: int | None = None,
    n_chains: int = 64,
    seed: int = 0,
    record_every: int = 1,
    max_abs: float = 1e8,
    threads: int | None = None,
) -> SGDRun:
    """Run ``n_chains`` SGD chains on ``problem`` under ``schedule``.

    ``schedule``: an :class:`Expanded` per-step schedule, or a :class:`Schedule` expanded in
    steps (``expand_steps(n_steps)``).  ``record_every``: the full gradient is evaluated at
    steps 0, r, 2r, … and at the last step (a min over these steps is ≥ the min over all
    steps, so comparing it with the bound is conservative)."""
    if not isinstance(problem, FiniteSumProblem):
        raise ParameterError("problem", type(problem).__name__, "must be a FiniteSumProblem")
    if isinstance(schedule, Schedule):
        if n_steps is None:
            raise ParameterError("n_steps", None, "is required with a Schedule")
        name = schedule.name
        sched = schedule.expand_steps(n_steps)
    elif isinstance(schedule, Expanded):
        name, sched = "expanded", schedule
    else:
        raise ParameterError("schedule", type(schedule).__name__, "must be Schedule or Expanded")
    n = integer("n_chains", n_chains, minimum=1)
    seed = integer("seed", seed, minimum=0)
    r = integer("record_every", record_every, minimum=1)
    max_abs = positive("max_abs", max_abs)
    threads = resolve_threads(threads)
    work_total = float(np.sum(sched.batch_size, dtype=float) + problem.n_samples) * n
    if work_total > MAX_GRADIENTS:
        raise ParameterError(
            "schedule",
            f"{work_total:.3g} per-sample gradients",
            f"must need at most {MAX_GRADIENTS:.0e} (cap the batch size: Schedule.max_batch)",
        )
    mod = compile_problem(problem)

    S = sched.n_steps
    rec = np.arange(0, S + 1, r, dtype=np.int64)
    if rec[-1] != S:
        rec = np.append(rec, S)
    lr = np.ascontiguousarray(sched.lr, dtype=np.float64)
    bsz = np.ascontiguousarray(sched.batch_size, dtype=np.int64)
    data = np.ascontiguousarray(problem.data, dtype=np.float64)
    p = np.ascontiguousarray(problem.values, dtype=np.float64)
    starts = list(range(0, n, CHUNK))
    streams = chunk_streams(seed, len(starts))
    gsq = np.zeros((len(starts), rec.size))
    gsq2 = np.zeros((len(starts), rec.size))
    alive = np.zeros((len(starts), rec.size), dtype=np.int64)
    div = np.full(n, -1, dtype=np.int64)

    def work(c: int) -> None:
        rng = streams[c]
        m = min(CHUNK, n - starts[c])
        theta = np.tile(problem.theta0.astype(float), (m, 1))
        d = np.full(m, -1, dtype=np.int64)
        mod.sgd_chunk(theta, data, p, lr, bsz, rec, max_abs, rng, gsq[c], gsq2[c], alive[c], d)
        div[starts[c] : starts[c] + m] = d

    run_chunks(work, len(starts), threads)
    k = alive.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = gsq.sum(axis=0) / k
        var = np.maximum(gsq2.sum(axis=0) / k - mean**2, 0.0)
        se = np.sqrt(var / np.maximum(k - 1, 1))
    return SGDRun(
        problem=problem.name,
        schedule=name,
        steps=rec,
        samples=sched.samples[rec],
        grad_sq=mean,
        grad_sq_se=se,
        n_alive=k,
        div_step=div,
        lr=sched.lr,
        batch_size=sched.batch_size,
    )


def noise_free_trajectory(h: np.ndarray, theta0: np.ndarray, lr: np.ndarray, max_abs: float):
    """Exact gradient descent on f = ½ Σ h_i θ_i²: θ_t = Π_{s<t}(1 − η_s h) θ0.

    Returns (‖∇f(θ_t)‖² for t = 0…T, the first step at which some |θ_j| > max_abs or −1).
    The independent prediction for the simulated divergence of the noise-free quadratic."""
    th = np.asarray(theta0, dtype=float).copy()
    out = [float(np.sum((h * th) ** 2))]
    for t, eta in enumerate(lr):
        th = th - eta * h * th
        if not np.all(np.abs(th) <= max_abs):
            return np.asarray(out), t + 1
        out.append(float(np.sum((h * th) ** 2)))
    return np.asarray(out), -1
