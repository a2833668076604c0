"""SGD under the UI25 batch-size / learning-rate schedulers (Umeda & Iiduka, TMLR 2025).

A thin layer over the one SGD simulator :func:`sgdnoise.simulate.sgd.sgd`: a schedule from
:mod:`sgdnoise.theory.schedules` (the one definition everyone uses) gives η_t, b_t; many
chains start from the problem's θ0 with batches drawn with replacement, and the full
gradient ‖∇f(θ_t)‖² is recorded per chain at steps 0, r, 2r, … and the last step.  The mean
over the surviving chains (``SGDResult.grad_sq``) estimates E‖∇f(θ_t)‖², the left side of
the UI25 bound.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from ..theory.schedules import Expanded, Schedule
from ..validation import integer, positive
from .sgd import MAX_GRADIENTS, SGDResult, compile_problem, sgd

__all__ = ["MAX_GRADIENTS", "SGDResult", "SGDRun", "compile_problem", "run_sgd"]

#: the former result type of :func:`run_sgd`, now the one SGD result
SGDRun = SGDResult


def run_sgd(
    problem,
    schedule: Schedule | Expanded,
    *,
    n_steps: int | None = None,
    n_chains: int = 64,
    seed: int = 0,
    record_every: int = 1,
    max_abs: float = 1e8,
    threads: int | None = None,
) -> SGDResult:
    """Run ``n_chains`` SGD chains on ``problem`` under ``schedule``, recording ‖∇f‖².

    ``schedule``: an :class:`Expanded` per-step schedule, or a :class:`Schedule` expanded in
    steps (``expand_steps(n_steps)``).  ``record_every``: the full gradient is evaluated at
    steps 0, r, 2r, … and at the last step (a min over these steps is ≥ the min over all
    steps, so comparing it with the bound is conservative).  A chain with |θ_j| > ``max_abs``
    counts as diverged."""
    if not isinstance(schedule, Schedule | Expanded):
        raise ParameterError("schedule", type(schedule).__name__, "must be Schedule or Expanded")
    if isinstance(schedule, Schedule) and n_steps is None:
        raise ParameterError("n_steps", None, "is required with a Schedule")
    r = integer("record_every", record_every, minimum=1)
    positive("max_abs", max_abs)
    total = schedule.n_steps if isinstance(schedule, Expanded) else n_steps
    total = integer("n_steps", total, minimum=1)
    rec = np.arange(0, total + 1, r, dtype=np.int64)
    if rec[-1] != total:
        rec = np.append(rec, total)
    return sgd(
        problem,
        schedule,
        n_steps=n_steps if isinstance(schedule, Schedule) else None,
        n_chains=n_chains,
        seed=seed,
        threads=threads,
        record_steps=rec,
        record=("grad_sq",),
        max_abs=max_abs,
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
