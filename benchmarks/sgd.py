"""Throughput of true minibatch SGD chains: per-sample-gradient evaluations per second.

1-D finite-sample two-minima loss (sgdnoise.theory.finite_sample), N = 1000 training
points, B = 10, batches with replacement.  Measured in the same run:

* ``numba_2_threads`` / ``numba_1_thread``: :func:`sgdnoise.simulate.sgd.sgd` (constant SGD,
  the trivial schedule of the one SGD simulator);
* ``numpy_per_sample`` (the baseline of the target): numpy vectorized over all chains and
  the batch, each step drawing indices with ``Generator.integers`` and evaluating the
  per-sample gradient ∂ℓ/∂θ(θ; u_i, v_i) lambdified from the same sympy expression;
* ``numpy_coeff_sum``: a stronger numpy baseline using the kernel's own algebra — gather
  the per-sample θ-coefficients, sum them over the batch, one Horner evaluation per chain.

A "per-sample gradient" is one ∇ℓ(θ; ξ_i) entering an update (chains × steps × B).
Target: numba on 2 threads ≥ 20× ``numpy_per_sample``.

Usage: ``python benchmarks/sgd.py [--json FILE] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import sympy as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sgdnoise.simulate.sgd import sgd  # noqa: E402
from sgdnoise.theory import finite_sample as fs  # noqa: E402
from sgdnoise.theory.potentials import two_minima_1d  # noqa: E402

N, B, LR = 1000, 10, 0.01


def _best(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def numpy_per_sample(problem, chains, steps, seed=0):
    base = problem.base
    (c,) = base.coords
    ell = fs.per_sample_loss(base).xreplace(dict(zip(base.params, base.values, strict=True)))
    grad = sp.lambdify((c, fs.u, fs.v), sp.diff(ell, c), "numpy", cse=True)
    u, v = problem.samples[:, 0], problem.samples[:, 1]
    rng = np.random.default_rng(seed)
    th = np.full((chains, 1), -1.0)
    for _ in range(steps):
        idx = rng.integers(0, problem.n, size=(chains, B))
        g = grad(th, u[idx], v[idx]).mean(axis=1, keepdims=True)
        th -= LR * g
    return th


def numpy_coeff_sum(problem, chains, steps, seed=0):
    coef = problem.grad_coeffs  # (N, 6) ascending θ-coefficients of each ∇ℓ_i (theory)
    rng = np.random.default_rng(seed)
    th = np.full(chains, -1.0)
    for _ in range(steps):
        idx = rng.integers(0, problem.n, size=(chains, B))
        s = coef[idx].sum(axis=1)  # (chains, 6)
        g = s[:, -1].copy()
        for k in range(s.shape[1] - 2, -1, -1):
            g = g * th + s[:, k]
        th -= LR / B * g
    return th


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write the measured figures here")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (for the test suite)")
    args = ap.parse_args(argv)
    chains, steps, np_steps, repeats = (256, 40, 10, 1) if args.quick else (4096, 2000, 200, 3)

    base = two_minima_1d(k_narrow=4.0, depth_narrow=-0.1, barrier=0.1)
    problem = fs.make_problem(base, N, shift_sd=0.1, tilt_sd=3.0, seed=0)
    sgd(problem, lr=LR, batch_size=B, n_chains=8, n_steps=2)  # compile / load cache

    def numba(threads):
        return lambda: sgd(
            problem,
            lr=LR,
            batch_size=B,
            n_chains=chains,
            n_steps=steps,
            threads=threads,
            x0=-1.0,
        )

    work = chains * steps * B
    np_work = chains * np_steps * B
    rates = {
        "numba_2_threads": work / _best(numba(2), repeats),
        "numba_1_thread": work / _best(numba(1), repeats),
        "numpy_per_sample": np_work
        / _best(lambda: numpy_per_sample(problem, chains, np_steps), repeats),
        "numpy_coeff_sum": np_work
        / _best(lambda: numpy_coeff_sum(problem, chains, np_steps), repeats),
    }
    ratios = {
        "numba_2_threads_vs_numpy_per_sample": rates["numba_2_threads"] / rates["numpy_per_sample"],
        "numba_2_threads_vs_numpy_coeff_sum": rates["numba_2_threads"] / rates["numpy_coeff_sum"],
        "speedup_2_vs_1_thread": rates["numba_2_threads"] / rates["numba_1_thread"],
    }
    record = {
        "unit": "per-sample gradient evaluations per second (chains x steps x B)",
        "settings": {
            "N": N,
            "B": B,
            "chains": chains,
            "steps": steps,
            "numpy_steps": np_steps,
            "replacement": True,
            "quick": args.quick,
            "cpu_count": os.cpu_count(),
        },
        "rates": rates,
        "ratios": ratios,
        "baselines": {
            "numba_2_threads_vs_numpy_per_sample": "numpy_per_sample (target >= 20x)",
            "numba_2_threads_vs_numpy_coeff_sum": "numpy_coeff_sum",
            "speedup_2_vs_1_thread": "numba_1_thread",
        },
        "target_met": ratios["numba_2_threads_vs_numpy_per_sample"] >= 20.0,
    }
    for k, r in rates.items():
        print(f"{k:>18}: {r:.3e} per-sample gradients/s")
    for k, r in ratios.items():
        print(f"{k:>38}: {r:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return record


if __name__ == "__main__":
    main()
