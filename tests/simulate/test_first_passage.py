"""First-passage times recorded by the simulators, per particle.

Langevin against the exact 1-D MFPT (theory.escape.mean_first_passage_time, itself checked
against an independent double quadrature there).  The walk is observed at the grid times kΔt
only, so an excursion past the level between two steps is missed: for a diffusion with local
amplitude s = sqrt(2D) this delays the passage as if the level sat β s √Δt further away,
β = −ζ(1/2)/√(2π) ≈ 0.5826 (Broadie, Glasserman & Kou 1997, continuity correction).  The test
compares the mean with the exact MFPT to the corrected level, within 4 standard errors of
the mean plus the Euler–Maruyama O(Δt) weak error (allowed as 2 h Δt relative, h = 1 the
curvature at the start; 1.6% here).  The band is ±10% of the MFPT: a simulator whose clock,
temperature or crossing test were off would leave it.

SGD against an exact deterministic path: one data point makes SGD gradient descent,
θ_k = θ_0 (1 − η)^k on ℓ = θ²/2, whose first step below a level is computed directly."""

import math

import numpy as np
import pytest
import sympy as sp

from sgdnoise.errors import ParameterError
from sgdnoise.simulate.langevin import langevin_ensemble
from sgdnoise.simulate.outcome import Target
from sgdnoise.simulate.sgd import sgd
from sgdnoise.theory.escape import mean_first_passage_time
from sgdnoise.theory.potentials import two_minima_1d
from sgdnoise.theory.sample_loss import sample_loss

BETA = 0.5826


def test_langevin_mean_first_passage_matches_exact_mfpt():
    pot = two_minima_1d()  # minima at ∓1 (curvature 1 and 8), constant noise σ² = 1
    T, dt, n = 0.2, 0.004, 2000
    start, level = -1.0, -0.3685751728030803  # halfway to the barrier top
    r = langevin_ensemble(
        pot, T, n_particles=n, dt=dt, n_steps=int(100 / dt), x0=[start], seed=11,
        first_passage=Target.crossing(level), stop_at_target=True,
    )  # fmt: skip
    assert r.n_arrived == n and r.n_diverged == 0
    assert np.all(r.first_passage == dt * r.first_passage_step)
    mean, se = r.first_passage.mean(), r.first_passage.std() / math.sqrt(n)
    shift = BETA * math.sqrt(T * 1.0 * dt)  # s = sqrt(2D) = sqrt(T σ²)
    exact = mean_first_passage_time(pot, T, start, level + shift)
    plain = mean_first_passage_time(pot, T, start, level)
    tol = 4 * se + 2 * 1.0 * dt * exact
    assert abs(mean - exact) <= tol, (mean, exact, tol)
    assert exact - plain > 0  # the correction's direction: a later passage


def test_never_arriving_particles_are_nan_and_counted():
    pot = two_minima_1d()
    r = langevin_ensemble(
        pot, 0.05, n_particles=50, dt=0.01, n_steps=200, x0=[-1.0], seed=0,
        first_passage=Target.interval(2.0, 2.4),
    )  # fmt: skip
    assert r.n_arrived == 0 and np.all(np.isnan(r.first_passage))
    assert np.all(r.first_passage_step == -1)
    # a particle already in the set arrives at step 0; a loss level works the same way
    s = langevin_ensemble(
        pot, 0.05, n_particles=20, dt=0.01, n_steps=50, x0=[1.0], seed=0,
        first_passage=Target.loss_below(float(pot.loss_at(1.0)) + 1e-9),
    )  # fmt: skip
    assert np.all(s.first_passage_step == 0) and s.n_arrived == 20


def test_basin_target_is_the_interval_between_saddles():
    pot = two_minima_1d()
    t = Target.basin(pot, 1)
    ((k, lo, hi),) = t.bounds
    assert k == 0 and lo == pytest.approx(0.26284965, abs=1e-6) and hi == pot.domain[0][1]


def test_sgd_first_passage_on_gradient_descent_is_exact():
    th, c = sp.symbols("theta c", real=True)
    gd = sample_loss((th - c) ** 2 / 2, th, c, data=[0.0], domain=(-5, 5))
    lr, level = 0.1, 1.0
    r = sgd(
        gd, lr=lr, batch_size=1, n_chains=3, n_steps=100, x0=[3.0, 2.0, 0.5],
        first_passage=Target.crossing(level, direction="down"),
    )  # fmt: skip
    path = [[x0 * (1 - lr) ** k for k in range(101)] for x0 in (3.0, 2.0, 0.5)]
    expect = [int(np.argmax(np.asarray(p) <= level)) for p in path]
    np.testing.assert_array_equal(r.first_passage_step, expect)
    np.testing.assert_allclose(r.first_passage, lr * np.asarray(expect))
    assert expect[2] == 0 and r.n_arrived == 3
    stop = sgd(
        gd, lr=lr, batch_size=1, n_chains=1, n_steps=100, x0=3.0, stop_at_target=True,
        first_passage=Target.crossing(level, direction="down"),
    )  # fmt: skip
    assert stop.positions[0, 0] == pytest.approx(path[0][expect[0]], rel=1e-12)


def test_bad_targets_are_refused():
    pot = two_minima_1d()
    cases = [
        (lambda: Target.interval(1.0, 0.0), "target"),
        (lambda: Target.crossing(float("nan")), "value"),
        (lambda: Target.crossing(0.0, direction="sideways"), "direction"),
        (lambda: Target.loss_below(float("inf")), "level"),
        (lambda: Target.box([0, 0], [1]), "target"),
        (lambda: Target.basin(pot, 5), "index"),
        (
            lambda: langevin_ensemble(
                pot, 0.1, n_particles=2, dt=0.01, n_steps=2, first_passage=(0, 1)
            ),
            "first_passage",
        ),
        (
            lambda: langevin_ensemble(
                pot, 0.1, n_particles=2, dt=0.01, n_steps=2, first_passage=Target.interval(0, 1, 3)
            ),
            "target",
        ),
        (
            lambda: langevin_ensemble(
                pot, 0.1, n_particles=2, dt=0.01, n_steps=2, stop_at_target=True
            ),
            "stop_at_target",
        ),
    ]
    for fn, name in cases:
        with pytest.raises(ParameterError) as e:
            fn()
        assert e.value.parameter == name
