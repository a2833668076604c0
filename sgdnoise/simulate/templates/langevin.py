"""Euler–Maruyama kernel for a chunk of independent Langevin particles.

Generated names it uses (see :func:`sgdnoise.simulate.langevin.compile_potential`):
``DIM``, ``N_DERIVED`` (ints), ``CONSTANT_NOISE`` (bool), ``prepare(params, c)`` writing the
parameter-only constants c once, ``drift(x, c)`` returning −∇L(x), ``noise_sd(x, c)``
returning sqrt(Σ_jj(x)) and ``loss_value(x, c)`` returning (L(x),) as tuples.

    θ_{k+1} = θ_k − ∇L(θ_k) dt + sqrt(T dt) Σ(θ_k)^{1/2} ξ_k,   ξ_k ~ N(0, I)   (Itô)

Each step first draws all the chunk's normals in a tight loop (the generator is a serial
dependency chain and runs fastest alone), then updates the particles in a second loop
whose iterations are independent, so the compiler vectorizes the drift (an integer OR
notes whether any new state is non-finite).  A third loop, run only when that happened or a
target is given, marks particles whose state turned non-finite
(``div_step``: the first such step; a non-finite state stays non-finite) and, when a target
is given, the first step at which a particle is in lo ≤ θ ≤ hi and, if ``use_level``, has
L(θ) ≤ ``level`` (``fp_step``).  With ``stop_at_target`` the chunk stops once every
particle has arrived or diverged; the number of steps run is returned.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _arrived(xr, c, lo, hi, use_level, level):
    for j in range(DIM):
        if not (lo[j] <= xr[j] <= hi[j]):
            return False
    if use_level:
        return loss_value(xr, c)[0] <= level
    return True


@njit(cache=True, nogil=True)
def langevin_chunk(
    x,
    params,
    T,
    dt,
    n_steps,
    record_every,
    split_normal,
    split_offset,
    occ,
    rng,
    div_step,
    has_target,
    lo,
    hi,
    use_level,
    level,
    stop_at_target,
    fp_step,
):
    n = x.shape[0]
    amp = math.sqrt(T * dt)
    c = np.empty(N_DERIVED)
    prepare(params, c)
    z = np.empty((n, DIM))
    s0 = noise_sd(np.zeros(DIM), c)
    r = 0
    settled = 0
    for i in range(n):
        if has_target and _arrived(x[i], c, lo, hi, use_level, level):
            fp_step[i] = 0
            settled += 1
    if stop_at_target and settled == n:
        return 0
    for k in range(n_steps):
        for i in range(n):
            for j in range(DIM):
                z[i, j] = rng.standard_normal()
        nonfinite = 0
        for i in range(n):
            xr = x[i]
            g = drift(xr, c)
            s = s0 if CONSTANT_NOISE else noise_sd(xr, c)
            for j in range(DIM):
                xn = xr[j] + dt * g[j] + amp * s[j] * z[i, j]
                x[i, j] = xn
                # x − x is 0 for finite x and NaN for ±inf/NaN: an integer OR keeps the
                # loop vectorized; the per-particle scan runs only when needed
                nonfinite |= (xn - xn) != 0.0
        if has_target or nonfinite:
            for i in range(n):
                if div_step[i] < 0:
                    for j in range(DIM):
                        if not math.isfinite(x[i, j]):
                            div_step[i] = k + 1
                    if div_step[i] >= 0:
                        if fp_step[i] < 0:
                            settled += 1
                    elif has_target and fp_step[i] < 0:
                        if _arrived(x[i], c, lo, hi, use_level, level):
                            fp_step[i] = k + 1
                            settled += 1
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
        if stop_at_target and settled == n:
            return k + 1
    return n_steps
