"""Divergence is reported per particle with its step, never returned silently; unstable or
meaningless steps and negative noise are refused with a ParameterError naming them."""

import math

import numpy as np
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.simulate.langevin import langevin_ensemble, stability_limit
from sgdnoise.simulate.outcome import DIVERGED, DONE
from sgdnoise.simulate.sgd import sgd
from sgdnoise.theory.finite_sample import make_problem
from sgdnoise.theory.potentials import Potential, theta, two_minima_1d
from sgdnoise.theory.sample_loss import polynomial_template

A, B, LOSS, NOISE = polynomial_template(6)  # the finite-sample family: kernel shared


def _potential(loss_coeffs, noise_coeffs=(1.0,), domain=(-3.0, 3.0)):
    """Σ a_k θ^k with noise Σ b_k θ^k, built field by field (the dataclass itself, so that the
    simulator's own checks are what is tested); a theory-side refusal at construction is
    accepted too."""
    a = list(loss_coeffs) + [0.0] * (len(A) - len(loss_coeffs))
    b = list(noise_coeffs) + [0.0] * (len(B) - len(noise_coeffs))
    return Potential("p", (theta,), A + B, LOSS, (NOISE,), tuple(a + b), (domain,))


def test_langevin_reports_divergence_per_particle_with_its_step():
    pot = _potential([0, 0, -0.5, 0, 0.25])  # x⁴/4 − x²/2: minima ±1, curvature 2: dt < 1
    assert stability_limit(pot) == pytest.approx(1.0)
    starts = np.array([[-1.0], [1.0], [30.0], [-30.0]])  # far out the curvature is 2700
    r = langevin_ensemble(pot, 0.01, n_particles=4, dt=0.05, n_steps=200, x0=starts, seed=0)
    np.testing.assert_array_equal(r.status, [DONE, DONE, DIVERGED, DIVERGED])
    assert list(r.status_names) == ["done", "done", "diverged", "diverged"]
    assert np.all(r.diverged_step[:2] == -1) and np.all(r.diverged_step[2:] >= 1)
    assert np.all(r.diverged_step[2:] <= 20)  # |x| squares each step out there
    assert np.all(np.isfinite(r.positions[:2])) and np.all(~np.isfinite(r.positions[2:]))
    assert r.finite_positions.shape == (2, 1) and r.n_diverged == 2
    counts, _ = r.histogram(bins=5)
    assert np.all(np.isfinite(counts))


def test_langevin_on_a_potential_without_minimum_reports_divergence():
    try:
        pot = _potential([0, 0, 0, 1.0])  # x³
    except ParameterError:  # the theory refuses it at construction: equally clean
        return
    assert math.isinf(stability_limit(pot))
    r = langevin_ensemble(pot, 0.1, n_particles=100, dt=0.01, n_steps=3000, x0=[0.0], seed=1)
    assert r.n_diverged == 100 and np.all(r.diverged_step > 0)


@pytest.mark.parametrize("dt", [5.0, 0.26, float("nan"), float("inf"), 0.0, -0.1, "0.01", True])
def test_langevin_refuses_bad_or_unstable_dt(dt):
    pot = two_minima_1d()  # narrow minimum curvature 8: 2/h = 0.25
    with pytest.raises(ParameterError) as e:
        langevin_ensemble(pot, 0.1, n_particles=4, dt=dt, n_steps=3)
    assert e.value.parameter == "dt"


def test_langevin_refuses_negative_noise():
    for noise in [(-1.0,), (-0.5, 0, 0.1), (1.0, 0, -1.0)]:  # −1, x²/10 − 1/2, 1 − x²
        try:
            pot = _potential([0, 0, 0.5], noise)
        except ParameterError as e:
            assert "noise" in e.parameter
            continue
        with pytest.raises(ParameterError) as e:
            langevin_ensemble(pot, 0.1, n_particles=4, dt=0.01, n_steps=3, x0=[0.0])
        assert e.value.parameter == "noise_cov"


def test_sgd_reports_divergence_per_chain():
    base = two_minima_1d(k_narrow=4.0, depth_narrow=-0.05, barrier=0.1)
    quartic = make_problem(base, 50, shift_sd=0.01, tilt_sd=0.01, seed=0)  # degree 6
    starts = np.array([-1.0, 1.0, 40.0, -40.0])
    r = sgd(quartic, lr=0.05, batch_size=2, n_chains=4, n_steps=100, x0=starts, seed=0)
    np.testing.assert_array_equal(r.status, [DONE, DONE, DIVERGED, DIVERGED])
    assert np.all(r.diverged_step[:2] == -1) and np.all(r.diverged_step[2:] >= 1)
    assert np.all(np.isfinite(r.finite_positions))
    # a bound: leaving |θ| ≤ max_abs counts as diverged at that step
    b = sgd(quartic, lr=0.05, batch_size=1, n_chains=2, n_steps=5, x0=[1.0, 3.0], max_abs=2.0)
    np.testing.assert_array_equal(b.diverged_step, [-1, 0])
