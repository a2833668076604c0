"""SGW23 perceptron data law: normalization, Gamma sampling, boundary mass and test error,
each checked against quadrature, Monte Carlo or sympy's own change of variables."""

import numpy as np
import pytest
import sympy as sp
from scipy import integrate, stats

from sgdnoise.errors import ParameterError
from sgdnoise.theory import perceptron as pc

CHIS = (-0.5, 0.0, 1.0, 3.0)


@pytest.mark.parametrize("chi", CHIS)
def test_normalization_against_quadrature(chi):
    # quad on a smooth integrable function: relative accuracy ~1e-10 (|x|^-0.5 singularity
    # at 0 is integrable and handled by quad's endpoint rule).
    val, _ = integrate.quad(lambda x: x**chi * np.exp(-(x**2) / 2), 0, np.inf)
    assert pc.normalization(chi) == pytest.approx(2 * val, rel=1e-8)


def test_gamma_change_of_variables_symbolically():
    # x = sqrt(2G), G ~ Gamma(k, 1): density of x is Gamma_pdf(x^2/2) * dG/dx, which must
    # equal 2 rho(x) on x > 0 (the sign halves it).
    k = sp.Symbol("k", positive=True)
    g_pdf = lambda g: g ** (k - 1) * sp.exp(-g) / sp.gamma(k)
    x = pc.x1
    dens_x = g_pdf(x**2 / 2) * sp.diff(x**2 / 2, x)
    target = 2 * pc.DENSITY.subs(pc.chi, 2 * k - 1)
    assert sp.simplify(sp.powsimp(sp.expand_power_base(dens_x / target, force=True))) == 1


@pytest.mark.parametrize("chi", CHIS)
def test_sampling_matches_law(chi):
    # KS test of |x_1| against the exact CDF boundary_mass(eps); n = 20000 resolves CDF
    # errors of ~0.015 at level 1e-3, far below the effect of any wrong Gamma shape.
    rng = np.random.default_rng(3)
    x = pc.sample_x1(20_000, chi, rng)
    p = stats.kstest(np.abs(x), lambda e: pc.boundary_mass(e, chi)).pvalue
    assert p > 1e-3
    assert abs(np.mean(x > 0) - 0.5) < 4 * 0.5 / np.sqrt(x.size)
    X, y = pc.sample_inputs(5000, 4, chi, rng)
    assert X.shape == (5000, 4) and np.all(y == np.sign(X[:, 0]))
    assert abs(np.std(X[:, 1:]) - 1) < 0.03


def test_boundary_mass_expression_against_quadrature():
    expr = pc.boundary_mass_expr()
    f = sp.lambdify((pc.chi, pc.epsilon), expr, "scipy")
    for chi in CHIS:
        for eps in (0.05, 0.7, 2.0):
            val, _ = integrate.quad(lambda x, c=chi: x**c * np.exp(-(x**2) / 2), 0, eps)
            exact = 2 * val / pc.normalization(chi)
            assert f(chi, eps) == pytest.approx(exact, rel=1e-8)
            assert pc.boundary_mass(eps, chi) == pytest.approx(exact, rel=1e-8)


@pytest.mark.parametrize("chi", CHIS)
def test_leading_coefficients(chi):
    # mass(eps) = c eps^(1+chi) (1 + O(eps^2)): at eps = 1e-3 the relative error is ~1e-6.
    eps = 1e-3
    mass = pc.boundary_mass(eps, chi)
    assert pc.boundary_coefficient(chi) * eps ** (1 + chi) == pytest.approx(mass, rel=1e-5)
    val, _ = integrate.quad(lambda x: x ** (1 + chi) * np.exp(-(x**2) / 2), 0, eps)
    moment = 2 * val / pc.normalization(chi)
    assert pc.band_moment_coefficient(chi) * eps ** (2 + chi) == pytest.approx(moment, rel=1e-5)


@pytest.mark.parametrize(
    ("dw1", "dwp", "chi"), [(3.0, 1.0, 0.0), (10.0, 2.0, 1.0), (1.0, 4.0, 3.0)]
)
def test_test_error_against_monte_carlo(dw1, dwp, chi):
    # 400k fresh points: binomial sd <= 8e-4; accept 5 sd.
    rng = np.random.default_rng(4)
    n = 400_000
    x1 = pc.sample_x1(n, chi, rng)
    o = dw1 * x1 + dwp * rng.standard_normal(n)
    mc = np.mean(np.sign(o) != np.sign(x1))
    th = pc.test_error(dw1, dwp, chi)
    assert abs(mc - th) < 5 * np.sqrt(th * (1 - th) / n) + 1e-6


def test_test_error_edges_and_band():
    assert pc.test_error(1.0, 0.0, 0.0) == 0.0
    assert pc.test_error(0.0, 0.0, 0.0) == 0.5
    assert pc.test_error(0.0, 1.0, 1.0) == pytest.approx(0.5, abs=1e-9)
    eps = pc.band_halfwidth(1000, 1.0)
    assert 1000 * pc.boundary_coefficient(1.0) * eps**2 == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [-1.0, -2.0, np.nan, "a"])
def test_bad_chi(bad):
    with pytest.raises(ParameterError) as e:
        pc.boundary_coefficient(bad)
    assert e.value.parameter == "chi"
    with pytest.raises(ParameterError) as e:
        pc.sample_x1(10, bad, np.random.default_rng(0))
    assert e.value.parameter == "chi"


def test_bad_d_and_dwperp():
    with pytest.raises(ParameterError) as e:
        pc.sample_inputs(10, 1, 0.0, np.random.default_rng(0))
    assert e.value.parameter == "d"
    with pytest.raises(ParameterError) as e:
        pc.test_error(1.0, -1.0, 0.0)
    assert e.value.parameter == "dw_perp"
