"""Finite-sample loss: exact L_N and Σ_N against per-sample evaluation and finite
differences, population limits against Gauss–Hermite quadrature, and the state-dependent
stationary density against the flux condition."""

import numpy as np
import pytest
import sympy as sp

from sgdnoise.errors import ParameterError
from sgdnoise.theory import finite_sample as fs
from sgdnoise.theory.density import StationaryDensity
from sgdnoise.theory.potentials import two_minima_1d


@pytest.fixture(scope="module")
def base():
    return two_minima_1d(k_narrow=4.0, depth_narrow=-0.05, barrier=0.1)


@pytest.fixture(scope="module")
def problem(base):
    return fs.make_problem(base, 2000, shift_sd=0.15, tilt_sd=2.0, seed=4)


def _ell(base):
    (c,) = base.coords
    expr = fs.per_sample_loss(base).xreplace(dict(zip(base.params, base.values, strict=True)))
    return sp.lambdify((c, fs.u, fs.v), expr, "numpy")


def test_loss_and_noise_match_direct_per_sample_evaluation(base, problem):
    ell = _ell(base)
    th = np.linspace(-2.0, 2.0, 9)[:, None]
    uu, vv = problem.samples[:, 0], problem.samples[:, 1]
    direct_loss = ell(th, uu, vv).mean(axis=1)
    # per-sample gradients by central differences of ℓ: independent of the coefficient path
    h = 1e-5
    g = (ell(th + h, uu, vv) - ell(th - h, uu, vv)) / (2 * h)
    np.testing.assert_allclose(problem.loss(th[:, 0]), direct_loss, rtol=1e-10, atol=1e-12)
    # FD error O(h² ℓ''') ~ 1e-9 relative to gradients O(1..100)
    np.testing.assert_allclose(problem.noise(th[:, 0]), g.var(axis=1), rtol=1e-6)
    np.testing.assert_allclose(problem.per_sample_gradients(th[:, 0]), g, rtol=1e-6, atol=1e-6)
    assert np.all(problem.noise(np.linspace(-3, 3, 301)) > 0)


def test_population_limits_match_quadrature_and_large_samples(base):
    s, tau, dlt = 0.2, 1.5, 0.1
    th = np.linspace(-1.8, 1.8, 7)
    Lpop = sp.lambdify(fs.theta, fs.population_loss(base).subs({fs.s_sd: s, fs.delta: dlt}))
    Spop = sp.lambdify(
        fs.theta, fs.population_noise(base).subs({fs.s_sd: s, fs.delta: dlt, fs.tau_sd: tau})
    )
    # Gauss–Hermite with 40 nodes is exact for polynomials of degree < 80
    z, w = np.polynomial.hermite_e.hermegauss(40)
    w = w / w.sum()
    L = base.loss_fn()
    dL = base.grad_fns()[0]
    uu = dlt + s * z
    ref_L = np.array([np.sum(w * L(t - uu, *base.values)) for t in th])
    g = np.array([dL(t - uu, *base.values) for t in th])
    ref_S = (g**2 @ w) - (g @ w) ** 2 + tau**2
    np.testing.assert_allclose(Lpop(th), ref_L, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Spop(th), ref_S, rtol=1e-10)
    # large N: L_N → L_∞ within 5 standard errors of the per-sample mean
    n = 100_000
    xs = fs.draw_samples(n, shift_sd=s, tilt_sd=tau, offset=dlt, seed=11)
    big = fs.finite_sample_loss(base, xs)
    ell = _ell(base)(th[:, None], xs[:, 0], xs[:, 1])
    se = ell.std(axis=1) / np.sqrt(n)
    assert np.all(np.abs(big.loss(th) - Lpop(th)) < 5 * se)
    gi = big.per_sample_gradients(th)
    se_var = np.sqrt(np.mean((gi - gi.mean(1, keepdims=True)) ** 4, axis=1) / n)
    assert np.all(np.abs(big.noise(th) - Spop(th)) < 5 * se_var)


def test_state_dependent_density_is_stationary_and_differs_from_constant_noise(base):
    # a larger translation spread makes Σ_N strongly state dependent (≈ s² L''² + τ²)
    prob = fs.make_problem(base, 4000, shift_sd=0.25, tilt_sd=1.0, seed=2)
    T = 0.05
    dens = StationaryDensity(prob.potential, T)
    # zero flux J = −L' p − (D p)' checked by finite differences on a grid (independent of
    # the integral formula used to build p)
    x = np.linspace(-1.6, 1.6, 2001)
    h = x[1] - x[0]
    Dp = 0.5 * T * prob.noise(x) * dens.pdf(x)
    J = -prob.grad(x[1:-1]) * dens.pdf(x[1:-1]) - (Dp[2:] - Dp[:-2]) / (2 * h)
    scale = np.max(np.abs(prob.grad(x[1:-1]) * dens.pdf(x[1:-1])))
    assert np.max(np.abs(J)) < 1e-4 * scale  # O(h²) central differences, h = 1.6e-3
    const = StationaryDensity(fs.constant_noise_potential(prob), T)
    grid = np.linspace(-2.4, 2.4, 4001)
    ks = np.max(np.abs(dens.marginal_cdf(grid) - const.marginal_cdf(grid)))
    # state dependence matters here: far above the 1e-6 accuracy of either normalization
    assert ks > 0.01
    assert abs(dens.basin_masses()[0] - const.basin_masses()[0]) > 0.005


def test_domain_shift_is_a_pure_translation(problem):
    d = 0.3
    test = fs.shifted_test_loss(problem, "domain", shift=d)
    th = np.linspace(-2, 2, 11)
    expect = problem.loss(th - d) + d * problem.samples[:, 1].mean()
    np.testing.assert_allclose(test.loss(th), expect, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(test.noise(th), problem.noise(th - d), rtol=1e-9)
    fresh = fs.shifted_test_loss(problem, "sampling", shift_sd=0.15, tilt_sd=2.0, seed=9)
    assert fresh.n == problem.n and not np.allclose(fresh.loss(th), problem.loss(th))


def test_bad_input(base, problem):
    cases = [
        (lambda: fs.draw_samples(0, shift_sd=0.1, tilt_sd=1.0), "n"),
        (lambda: fs.draw_samples(5, shift_sd=-1.0, tilt_sd=1.0), "shift_sd"),
        (lambda: fs.draw_samples(5, shift_sd=0.1, tilt_sd=1.0, offset=np.inf), "offset"),
        (lambda: fs.shifted_test_loss(problem, "domain", shift=np.nan), "shift"),
        (lambda: fs.shifted_test_loss(problem, "covariate"), "kind"),
        (lambda: fs.finite_sample_loss(base, np.zeros((0, 2))), "samples"),
        (lambda: fs.finite_sample_loss(base, np.full((3, 2), np.nan)), "samples"),
        (lambda: fs.make_problem(base, 50, shift_sd=0.1, tilt_sd=200.0, seed=0), "samples"),
        (
            lambda: fs.shifted_test_loss(problem, "sampling", shift_sd=0.1, tilt_sd=1.0, n_test=0),
            "n_test",
        ),
    ]
    for fn, name in cases:
        with pytest.raises(ParameterError) as e:
            fn()
        assert e.value.parameter == name
