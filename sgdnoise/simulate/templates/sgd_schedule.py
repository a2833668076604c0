"""Minibatch SGD under a per-step schedule (η_t, b_t), for a chunk of independent chains.

Generated names it uses (see :func:`sgdnoise.simulate.schedulers.compile_problem`): ``DIM``
(int) and ``grad_sample(theta, datum, p, out)`` writing ∇_θ ℓ(θ; datum, p), compiled from
the problem's sympy loss.

    θ_{t+1} = θ_t − (η_t / b_t) Σ_{k<b_t} ∇ℓ_{n_k}(θ_t),   n_k uniform on {0…N−1}, iid
    (with replacement, so E‖g − ∇f‖² = Var/b_t exactly).

At the steps listed in ``rec`` the full gradient ∇f = mean_n ∇ℓ_n is evaluated and
‖∇f‖² (and its square) added to ``gsq``/``gsq2``, the surviving chains counted in ``alive``.
A chain whose |θ_j| exceeds ``max_abs`` or turns non-finite is stopped and its step stored in
``div_step`` (divergence is a recorded result, not an error).
"""

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def sgd_chunk(theta, data, p, lr, bsz, rec, max_abs, rng, gsq, gsq2, alive, div_step):
    n_chains = theta.shape[0]
    n_data = data.shape[0]
    n_steps = lr.shape[0]
    n_rec = rec.shape[0]
    th = np.empty(DIM)
    g = np.empty(DIM)
    acc = np.empty(DIM)
    for c in range(n_chains):
        for j in range(DIM):
            th[j] = theta[c, j]
        r = 0
        for t in range(n_steps + 1):
            bad = False
            for j in range(DIM):
                if not (abs(th[j]) <= max_abs):
                    bad = True
            if bad:
                div_step[c] = t
                break
            if r < n_rec and rec[r] == t:
                for j in range(DIM):
                    acc[j] = 0.0
                for n in range(n_data):
                    grad_sample(th, data[n], p, g)
                    for j in range(DIM):
                        acc[j] += g[j]
                s = 0.0
                for j in range(DIM):
                    s += (acc[j] / n_data) * (acc[j] / n_data)
                gsq[r] += s
                gsq2[r] += s * s
                alive[r] += 1
                r += 1
            if t == n_steps:
                break
            b = bsz[t]
            for j in range(DIM):
                acc[j] = 0.0
            for _k in range(b):
                n = min(int(rng.random() * n_data), n_data - 1)
                grad_sample(th, data[n], p, g)
                for j in range(DIM):
                    acc[j] += g[j]
            step = lr[t] / b
            for j in range(DIM):
                th[j] -= step * acc[j]
        for j in range(DIM):
            theta[c, j] = th[j]
    return math.nan
