"""Shared set-up of the BG21 SGD claims (not a claim: the leading underscore keeps the
registry from importing it as one).

The problem: the 1-D two-minima family with a wide minimum (curvature 1, depth 0) and a
narrow one (curvature 4, deeper by 0.1), barrier 0.1 at the midpoint, as a finite-sample
loss ℓ(θ; u, v) = L(θ − u) + vθ over N points with u ~ N(0, 0.1²), v ~ N(0, 3²)
(:mod:`sgdnoise.theory.finite_sample`).  The large per-sample tilt spread makes the
gradient noise Σ_N ≈ 9 dominate, so that at T = η/B ≈ 0.01–0.04 the diffusion D = TΣ/2 is
comparable to the barrier (the chains mix between basins in a few hundred time units)
while η = T·B stays small enough at B = 1 for the SDE to hold (η·h_max ≤ 0.16).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..theory import finite_sample as fs
from ..theory.density import StationaryDensity
from ..theory.potentials import two_minima_1d

FAMILY = dict(k_wide=1.0, k_narrow=4.0, depth_wide=0.0, depth_narrow=-0.1, barrier=0.1)
SHIFT_SD, TILT_SD = 0.1, 3.0


def problem(n: int, seed: int) -> fs.FiniteSampleLoss:
    """The training set of the BG21 SGD claims (see module doc)."""
    base = two_minima_1d(**FAMILY)
    return fs.make_problem(base, n, shift_sd=SHIFT_SD, tilt_sd=TILT_SD, seed=seed)


def stationary_sampler(pot, T: float):
    """A sampler of the exact FP law, inverting its CDF on a fine grid (the grid's 2e-4
    spacing is far below the law's width ≥ 0.03 at the temperatures used)."""
    dens = StationaryDensity(pot, T)
    grid = np.linspace(*pot.domain[0], 25001)
    cdf = dens.marginal_cdf(grid)

    def draw(n: int, rng: np.random.Generator) -> np.ndarray:
        return np.interp(rng.random(n), cdf, grid)

    return draw


def mixture_sampler(weights, means, sds):
    """A sampler of the Gaussian mixture Σ w_i N(m_i, sd_i²)."""
    w = np.asarray(weights, float) / np.sum(weights)

    def draw(n: int, rng: np.random.Generator) -> np.ndarray:
        k = rng.choice(len(w), size=n, p=w)
        return np.asarray(means)[k] + np.asarray(sds)[k] * rng.standard_normal(n)

    return draw


def ks_power(draw_a, draw_b, n: int, alpha: float, reps: int, rng) -> float:
    """Monte Carlo power of the two-sample KS test (level alpha, n per sample) to tell the
    laws of draw_a and draw_b apart."""
    hits = 0
    for _ in range(reps):
        if stats.ks_2samp(draw_a(n, rng), draw_b(n, rng)).pvalue < alpha:
            hits += 1
    return hits / reps
