"""Langevin ensemble throughput against the machine's random-number limit and numpy.

Measured in one run (DESIGN.md §9; issue targets in brackets):

* the RNG limit: standard normals per second drawn inside a numba kernel from numpy's PCG64
  ``Generator`` — the cost floor of any Euler–Maruyama step;
* the ensemble (sgdnoise.simulate.langevin) on the 1-D two-minima loss, particle-steps/s on 1
  and 2 threads [≥ 0.8x the limit per thread; ≥ 1.8x from 1 to 2 threads];
* a numpy baseline: the same Euler–Maruyama update vectorized over particles, in place, with
  the gradient from the same sympy expression (lambdify) [ensemble on 2 threads ≥ 4x].

Usage: python benchmarks/langevin.py [--json FILE] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from numba import njit

from sgdnoise.simulate.langevin import langevin_ensemble
from sgdnoise.theory.potentials import two_minima_1d


@njit(cache=True, nogil=True)
def _draw_normals(n, rng):
    s = 0.0
    for _ in range(n):
        s += rng.standard_normal()
    return s


def best_rate(fn, work: float, repeats: int) -> float:
    """Best of ``repeats`` timings, as work per second (the least-disturbed run)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return work / min(times)


def numpy_baseline(pot, T, n, dt, n_steps, seed):
    import sympy as sp

    rng = np.random.default_rng(seed)
    L, _ = pot.substituted()  # numeric coefficients: the fair numpy version
    grad = sp.lambdify(pot.coords, sp.horner(sp.expand(sp.diff(L, pot.coords[0]))), "numpy")
    amp = np.sqrt(T * dt * pot.noise_at(np.zeros(1))[0][0])
    x = np.full(n, -1.0)
    z = np.empty(n)
    g = np.empty(n)
    for _ in range(n_steps):
        g[:] = grad(x)
        rng.standard_normal(out=z)
        x -= dt * g
        x += amp * z
    return x


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write measured figures and ratios here")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    args = ap.parse_args(argv)
    n, steps, reps = (2048, 200, 2) if args.quick else (65536, 1000, 7)
    pot = two_minima_1d()
    T, dt = 0.5, 0.005
    rng = np.random.default_rng(0)
    _draw_normals(10, rng)
    langevin_ensemble(pot, T, n_particles=64, dt=dt, n_steps=2, x0=[-1.0])  # compile/load

    work = float(n * steps)
    rng_rate = best_rate(lambda: _draw_normals(int(work), rng), work, reps)
    ens = {
        th: best_rate(
            lambda th=th: langevin_ensemble(
                pot, T, n_particles=n, dt=dt, n_steps=steps, x0=[-1.0], threads=th
            ),
            work,
            reps,
        )
        for th in (1, 2)
    }
    base = best_rate(
        lambda: numpy_baseline(pot, T, n, dt, max(steps // 4, 1), 0),
        float(n * max(steps // 4, 1)),
        reps,
    )
    out = {
        "machine_cores": os.cpu_count(),
        "particles": n,
        "steps": steps,
        "rng_limit_normals_per_s": rng_rate,
        "ensemble_1_thread_particle_steps_per_s": ens[1],
        "ensemble_2_threads_particle_steps_per_s": ens[2],
        "numpy_baseline_particle_steps_per_s": base,
        "ratios": {
            "ensemble_1_thread / rng_limit": ens[1] / rng_rate,
            "ensemble_2_threads / ensemble_1_thread": ens[2] / ens[1],
            "ensemble_2_threads / numpy_baseline": ens[2] / base,
        },
        "targets": {
            "ensemble_1_thread / rng_limit": 0.8,
            "ensemble_2_threads / ensemble_1_thread": 1.8,
            "ensemble_2_threads / numpy_baseline": 4.0,
        },
        "baselines": {
            "rng_limit": "numba loop summing PCG64 Generator.standard_normal(), 1 thread",
            "numpy_baseline": "numpy in-place Euler-Maruyama, lambdified Horner gradient",
        },
    }
    print(f"RNG limit (numba, PCG64)     {rng_rate:10.3e} normals/s")
    print(f"ensemble, 1 thread           {ens[1]:10.3e} particle-steps/s")
    print(f"ensemble, 2 threads          {ens[2]:10.3e} particle-steps/s")
    print(f"numpy vectorized baseline    {base:10.3e} particle-steps/s")
    for k, v in out["ratios"].items():
        print(f"{k:40s} {v:6.2f}x  (target {out['targets'][k]}x)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main()
