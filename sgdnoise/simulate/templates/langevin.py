"""Euler–Maruyama kernel for a chunk of independent Langevin particles.

Generated names it uses (see :func:`sgdnoise.simulate.langevin.compile_potential`):
``DIM``, ``N_DERIVED`` (ints), ``CONSTANT_NOISE`` (bool), ``prepare(params, c)`` writing the
parameter-only constants c once, ``drift(x, c)`` returning −∇L(x) and
``noise_sd(x, c)`` returning sqrt(Σ_jj(x)) as tuples.

    θ_{k+1} = θ_k − ∇L(θ_k) dt + sqrt(T dt) Σ(θ_k)^{1/2} ξ_k,   ξ_k ~ N(0, I)   (Itô)

Each step first draws all the chunk's normals in a tight loop (the generator is a serial
dependency chain and runs fastest alone), then updates the particles in a second loop
whose iterations are independent, so the compiler vectorizes the drift.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def langevin_chunk(x, params, T, dt, n_steps, record_every, split_normal, split_offset, occ, rng):
    n = x.shape[0]
    amp = math.sqrt(T * dt)
    c = np.empty(N_DERIVED)
    prepare(params, c)
    z = np.empty((n, DIM))
    s0 = noise_sd(np.zeros(DIM), c)
    r = 0
    for k in range(n_steps):
        for i in range(n):
            for j in range(DIM):
                z[i, j] = rng.standard_normal()
        for i in range(n):
            xr = x[i]
            g = drift(xr, c)
            s = s0 if CONSTANT_NOISE else noise_sd(xr, c)
            for j in range(DIM):
                x[i, j] = xr[j] + dt * g[j] + amp * s[j] * z[i, j]
        if record_every > 0 and (k + 1) % record_every == 0:
            count = 0
            for i in range(n):
                proj = 0.0
                for j in range(DIM):
                    proj += split_normal[j] * x[i, j]
                if proj < split_offset:
                    count += 1
            occ[r] = count
            r += 1
