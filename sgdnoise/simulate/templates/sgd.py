"""True minibatch SGD kernel for a chunk of independent chains on a finite-sample loss.

Generated names it uses (see :func:`sgdnoise.simulate.sgd.compile_problem`): ``DIM``,
``N_DERIVED``, ``N_SAMPLE_CONST`` (ints); ``prepare(params, c)`` writing the parameter-only
constants c; ``sample_prepare(xi, c, s)`` writing the θ-independent constants s of one sample
ξ (for a polynomial per-sample loss: the θ-coefficients of its gradient); and
``sample_grad(x, s, out)`` writing ∂ℓ(θ; ξ)/∂θ from them.

    θ_{k+1} = θ_k − (η/B) Σ_{i ∈ batch_k} ∇ℓ(θ_k; ξ_i)

Batches: with replacement, B independent uniform indices; without replacement, B distinct
indices from a partial Fisher–Yates shuffle of a per-chunk permutation (each batch is a
uniform B-subset; successive batches are independent draws, not epochs).
A chain whose state becomes non-finite is frozen: status 1 and the step recorded.
Chains are the outer loop so each chain's state stays in registers across its steps.

``LINEAR_IN_SAMPLE`` (bool, decided symbolically at generation): the θ-dependent part is
linear in the per-sample constants (true for every loss polynomial in θ), so the batch sum
Σ_b ∇ℓ(θ; ξ_b) equals ``sample_grad`` applied to the summed constants — the same sum of B
per-sample gradients (up to rounding), evaluated with one Horner pass instead of B.
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
def sgd_chunk(
    x, scoef, lr, batch, replacement, n_steps, record_every, rec, status, fail_step, perm, rng
):
    n = x.shape[0]
    N = scoef.shape[0]
    step = lr / batch
    g = np.empty(DIM)
    tmp = np.empty(DIM)
    xi = np.empty(DIM)
    acc = np.empty(N_SAMPLE_CONST)
    for i in range(n):
        for j in range(DIM):
            xi[j] = x[i, j]
        r = 0
        for k in range(n_steps):
            for j in range(DIM):
                g[j] = 0.0
            for m in range(N_SAMPLE_CONST):
                acc[m] = 0.0
            for b in range(batch):
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
                if not math.isfinite(xi[j]):
                    ok = False
            if record_every > 0 and (k + 1) % record_every == 0:
                for j in range(DIM):
                    rec[r, i, j] = xi[j]
                r += 1
            if not ok:
                status[i] = 1
                fail_step[i] = k + 1
                break
        for j in range(DIM):
            x[i, j] = xi[j]
