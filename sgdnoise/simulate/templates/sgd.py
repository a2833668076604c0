"""Minibatch SGD under a per-step schedule (η_t, b_t), for a chunk of independent chains.

Generated names it uses (see :func:`sgdnoise.simulate.sgd.compile_problem`): ``DIM``,
``N_DERIVED``, ``N_SAMPLE_CONST`` (ints); ``prepare(params, c)`` writing the parameter-only
constants c; ``sample_prepare(xi, c, s)`` writing the θ-independent constants s of one sample
ξ (for a polynomial per-sample loss: the θ-coefficients of its gradient); and
``sample_grad(x, s, out)`` writing ∂ℓ(θ; ξ)/∂θ from them.

    θ_{t+1} = θ_t − (η_t / b_t) Σ_{i ∈ batch_t} ∇ℓ(θ_t; ξ_i)

Constant SGD is the trivial schedule: ``lr``/``batch`` of length 1 are read at every step.
Batches: with replacement, b_t independent uniform indices; without replacement, b_t
distinct indices from a partial Fisher–Yates shuffle of a per-chunk permutation (each batch
a uniform b_t-subset; successive batches independent draws, not epochs).

Records at the sorted steps ``rec_steps`` (t = updates done, 0 allowed): positions into
``rec_x`` and the full-gradient norm ‖∇L_N(θ_t)‖² into ``rec_g`` when those have rows.
A chain whose state turns non-finite or leaves |θ_j| ≤ ``max_abs`` is stopped: status 1
(diverged) and the step stored; its full gradient is not recorded from that step on.
First passage (``has_target``): the first t with lo ≤ θ_t ≤ hi (componentwise), stored in
``fp_step``; with ``stop_at_target`` the chain stops there.
Chains are the outer loop so each chain's state stays in registers across its steps.

``LINEAR_IN_SAMPLE`` (bool, decided symbolically at generation): the θ-dependent part is
linear in the per-sample constants (true for every loss polynomial in θ), so the batch sum
Σ_b ∇ℓ(θ; ξ_b) equals ``sample_grad`` applied to the summed constants — the same sum of b
per-sample gradients (up to rounding), evaluated with one Horner pass instead of b.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def prepare_samples(data, params, out):
    c = np.empty(N_DERIVED)
    prepare(params, c)
    for i in range(data.shape[0]):
        sample_prepare(data[i], c, out[i])


@njit(cache=True, nogil=True)
def _full_grad_sq(xi, scoef, smean, g, tmp):
    N = scoef.shape[0]
    if LINEAR_IN_SAMPLE:
        sample_grad(xi, smean, g)
    else:
        for j in range(DIM):
            g[j] = 0.0
        for n in range(N):
            sample_grad(xi, scoef[n], tmp)
            for j in range(DIM):
                g[j] += tmp[j]
        for j in range(DIM):
            g[j] /= N
    s = 0.0
    for j in range(DIM):
        s += g[j] * g[j]
    return s


@njit(cache=True, nogil=True)
def sgd_chunk(
    x,
    scoef,
    smean,
    lr,
    batch,
    replacement,
    n_steps,
    rec_steps,
    rec_x,
    rec_g,
    max_abs,
    target_lo,
    target_hi,
    has_target,
    stop_at_target,
    status,
    fail_step,
    fp_step,
    perm,
    rng,
):
    n = x.shape[0]
    N = scoef.shape[0]
    n_rec = rec_steps.shape[0]
    per_step = lr.shape[0] > 1
    keep_x = rec_x.shape[0] > 0
    keep_g = rec_g.shape[0] > 0
    g = np.empty(DIM)
    tmp = np.empty(DIM)
    xi = np.empty(DIM)
    acc = np.empty(N_SAMPLE_CONST)
    for i in range(n):
        for j in range(DIM):
            xi[j] = x[i, j]
        r = 0
        done = False
        bad = False
        for j in range(DIM):
            if not (math.isfinite(xi[j]) and abs(xi[j]) <= max_abs):
                bad = True
        if bad:
            status[i] = 1
            fail_step[i] = 0
            done = True
        if has_target and not done:
            inside = True
            for j in range(DIM):
                if not (target_lo[j] <= xi[j] <= target_hi[j]):
                    inside = False
            if inside:
                fp_step[i] = 0
                done = stop_at_target
        while r < n_rec and rec_steps[r] == 0:
            if keep_x:
                for j in range(DIM):
                    rec_x[r, i, j] = xi[j]
            if keep_g and not bad:
                rec_g[r, i] = _full_grad_sq(xi, scoef, smean, g, tmp)
            r += 1
        if done:
            n_run = 0
        else:
            n_run = n_steps
        b_k = batch[0]
        step = lr[0] / b_k
        for k in range(n_run):
            if per_step:
                b_k = batch[k]
                step = lr[k] / b_k
            for j in range(DIM):
                g[j] = 0.0
            for m in range(N_SAMPLE_CONST):
                acc[m] = 0.0
            for b in range(b_k):
                if replacement:
                    idx = int(rng.random() * N)
                    if idx >= N:  # random() < 1, but the product can round up to N
                        idx = N - 1
                else:
                    q = b + int(rng.random() * (N - b))
                    if q >= N:
                        q = N - 1
                    idx = perm[q]
                    perm[q] = perm[b]
                    perm[b] = idx
                if LINEAR_IN_SAMPLE:
                    for m in range(N_SAMPLE_CONST):
                        acc[m] += scoef[idx, m]
                else:
                    sample_grad(xi, scoef[idx], tmp)
                    for j in range(DIM):
                        g[j] += tmp[j]
            if LINEAR_IN_SAMPLE:
                sample_grad(xi, acc, g)
            ok = True
            for j in range(DIM):
                xi[j] -= step * g[j]
                if not (math.isfinite(xi[j]) and abs(xi[j]) <= max_abs):
                    ok = False
            arrived = False
            if has_target and ok and fp_step[i] < 0:
                arrived = True
                for j in range(DIM):
                    if not (target_lo[j] <= xi[j] <= target_hi[j]):
                        arrived = False
                if arrived:
                    fp_step[i] = k + 1
            if r < n_rec and rec_steps[r] == k + 1:
                if keep_x:
                    for j in range(DIM):
                        rec_x[r, i, j] = xi[j]
                if keep_g and ok:
                    rec_g[r, i] = _full_grad_sq(xi, scoef, smean, g, tmp)
                r += 1
            if not ok:
                status[i] = 1
                fail_step[i] = k + 1
                break
            if arrived and stop_at_target:
                break
        for j in range(DIM):
            x[i, j] = xi[j]
