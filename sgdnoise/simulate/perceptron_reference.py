"""Plain step-by-step SGD on the SGW23 perceptron: the reference the event-driven simulator
(:mod:`sgdnoise.simulate.perceptron`) is tested against, and the baseline of its benchmark.

Each step draws a fresh batch of B distinct indices (a partial Fisher–Yates shuffle), takes
the hinge (sub)gradient of the batch (:mod:`sgdnoise.theory.hinge`, model
``o = Δw·x/sqrt(d)``):

    Δw ← Δw − (η/B) Σ_{i ∈ batch} ∂ℓ/∂o(o_i, y_i) x_i/sqrt(d)
       = Δw + (η/B) Σ_{i ∈ batch, α y_i o_i < 1} y_i x_i/sqrt(d),

and, only after a step that changed Δw, recomputes all P margins (O(Pd)) to know whether
training has ended (every point fitted, α y o ≥ 1).  Rows of ``Z`` are ``y_i x_i/sqrt(d)``,
so the margin ``y_i o_i`` is ``Z_i·Δw``.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def sgd_step(w, Z, batch, n_batch, coef, alpha):
    """One plain SGD step on the batch ``batch[:n_batch]``: ``w += coef Σ_unfitted Z_i``.

    ``coef = η/B``.  A point is unfitted when ``α Z_i·w < 1`` (margins taken at the w of the
    start of the step, as SGD does).  Returns the number of unfitted points used.
    """
    P, d = Z.shape
    delta = np.zeros(d)
    k = 0
    for b in range(n_batch):
        i = batch[b]
        m = 0.0
        for j in range(d):
            m += Z[i, j] * w[j]
        if alpha * m < 1.0:
            k += 1
            for j in range(d):
                delta[j] += Z[i, j]
    if k > 0:
        for j in range(d):
            w[j] += coef * delta[j]
    return k


@njit(cache=True)
def _count_unfitted(Z, w, alpha):
    P, d = Z.shape
    n = 0
    for i in range(P):
        m = 0.0
        for j in range(d):
            m += Z[i, j] * w[j]
        if alpha * m < 1.0:
            n += 1
    return n


@njit(cache=True)
def reference_kernel(Z, w, steps0, coef, B, alpha, seed, max_steps, checkpoints, ck_w):
    """Run plain SGD from ``w`` (modified in place) until every point is fitted.

    ``checkpoints`` (sorted int64 step counts): ``ck_w[j]`` receives Δw after all steps
    ``≤ checkpoints[j]``.  Returns ``(steps, n_updates, status)`` with status 0 = all fitted,
    1 = ``max_steps`` reached, 3 = non-finite weights.
    """
    np.random.seed(seed)  # noqa: NPY002 (numba RNG)
    P, d = Z.shape
    idx = np.arange(P)
    steps = steps0
    n_up = 0
    n_ck = checkpoints.shape[0]
    c = 0
    while c < n_ck and checkpoints[c] < steps:
        c += 1
    n_unfit = _count_unfitted(Z, w, alpha)
    status = 0
    while n_unfit > 0:
        if steps >= max_steps:
            status = 1
            break
        for b in range(B):
            j = b + np.random.randint(P - b)  # noqa: NPY002 (numba RNG)
            t = idx[b]
            idx[b] = idx[j]
            idx[j] = t
        steps += 1
        # the state after steps-1 steps is the current w: record checkpoints before updating
        while c < n_ck and checkpoints[c] < steps:
            ck_w[c, :] = w
            c += 1
        k = sgd_step(w, Z, idx, B, coef, alpha)
        if k > 0:
            n_up += 1
            if not np.all(np.isfinite(w)):
                status = 3
                break
            n_unfit = _count_unfitted(Z, w, alpha)
    while c < n_ck:
        ck_w[c, :] = w
        c += 1
    return steps, n_up, status
