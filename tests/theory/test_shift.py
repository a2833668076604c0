"""Shift-curvature decomposition against Monte Carlo, the O(T) mean offset against the
exact stationary density, and the two-basin formula against exact FP expectations."""

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import quad

from sgdnoise.errors import ParameterError
from sgdnoise.theory import finite_sample as fs
from sgdnoise.theory import shift
from sgdnoise.theory.density import StationaryDensity, _panel_points
from sgdnoise.theory.potentials import two_minima_1d


@pytest.fixture(scope="module")
def problem():
    base = two_minima_1d(k_narrow=4.0, depth_narrow=-0.05, barrier=0.1)
    return fs.make_problem(base, 5000, shift_sd=0.1, tilt_sd=3.0, seed=0)


@pytest.mark.parametrize("d", [1, 2])
def test_decomposition_sums_to_the_derived_expectation(d):
    q = shift.quadratic_test_loss(d)
    assert sp.simplify(q["expectation"] - sum(q["terms"].values())) == 0


def test_numeric_quadratic_against_monte_carlo():
    rng = np.random.default_rng(1)
    d = 3
    A = rng.standard_normal((d, d))
    H = A @ A.T + np.eye(d)
    Bm = rng.standard_normal((d, d)) * 0.3
    C = Bm @ Bm.T + 0.05 * np.eye(d)
    s, b = rng.standard_normal(d) * 0.5, rng.standard_normal(d) * 0.2
    total, terms = shift.expected_test_loss_quadratic(0.7, H, C, s, b)
    assert total == pytest.approx(sum(terms.values()), rel=1e-12)
    n = 400_000
    x = rng.multivariate_normal(b, C, size=n)
    r = x - s
    vals = 0.7 + 0.5 * np.einsum("ni,ij,nj->n", r, H, r)
    assert abs(vals.mean() - total) < 5 * vals.std() / np.sqrt(n)


def test_cubic_term_against_monte_carlo():
    expr, args = shift.cubic_test_loss_term()
    L3t, s, b, C = 2.5, 0.4, -0.1, 0.09
    val = float(expr.subs(dict(zip(args, (L3t, s, b, C), strict=True))))
    rng = np.random.default_rng(5)
    x = b + np.sqrt(C) * rng.standard_normal(1_000_000)
    mc = L3t / 6 * (x - s) ** 3
    assert abs(mc.mean() - val) < 5 * mc.std() / 1e3


def test_mean_offset_against_exact_density(problem):
    """b = −T L₃Σ₀/(4h²) + O(T²): at T = 1e-4 the relative O(T) remainder is a few percent
    (D/ΔL ≈ 5e-3 here); the basins' exact conditional means come from quadrature of p."""
    T = 1e-4
    dens = StationaryDensity(problem.potential, T)
    pts, logw = _panel_points(dens.nodes[0])
    w = np.exp(logw + dens.logpdf(pts))
    terms = shift.basin_test_loss(problem, shift_test := problem, T)
    assert shift_test is problem
    split = problem.potential.split_offset
    for i, z in enumerate(terms.minima):
        sel = pts < split if i == 0 else pts >= split
        mean = np.sum(w[sel] * pts[sel]) / np.sum(w[sel])
        var = np.sum(w[sel] * (pts[sel] - mean) ** 2) / np.sum(w[sel])
        assert mean - z == pytest.approx(terms.offset[i], rel=0.05)
        assert var == pytest.approx(terms.covariance[i], rel=0.05)


def test_exact_expectation_against_scipy_quad(problem):
    test = fs.shifted_test_loss(problem, "domain", shift=0.3)
    T = 0.02
    dens = StationaryDensity(problem.potential, T)
    num = quad(
        lambda t: dens.pdf(np.array([t]))[0] * test.loss(t), -2.5, 2.5, points=[-1, 1], limit=400
    )[0]
    assert shift.exact_expected_test_loss(problem, test, T) == pytest.approx(num, rel=1e-7)


@pytest.mark.parametrize("kind", ["domain", "sampling"])
def test_two_basin_second_order_formula_converges_to_exact(problem, kind):
    """The formula neglects O(T^2), O(s^4) and O(s^2 T) terms; for small shifts its error
    against the exact FP expectation must shrink faster than linearly as T → 0 (measured
    ratios 0.30 and 0.37 for halving T; linear would be 0.5)."""
    test = (
        fs.shifted_test_loss(problem, "domain", shift=0.05)
        if kind == "domain"
        else fs.shifted_test_loss(problem, "sampling", shift_sd=0.1, tilt_sd=3.0, seed=7)
    )
    errs = []
    for T in (2e-3, 1e-3):
        approx = shift.basin_test_loss(problem, test, T).total
        exact = shift.exact_expected_test_loss(problem, test, T)
        errs.append(abs(approx - exact))
    assert errs[1] < 0.45 * errs[0]


def test_bad_input():
    with pytest.raises(ParameterError) as e:
        shift.expected_test_loss_quadratic(0.0, [[1.0]], [[0.1]], [np.nan])
    assert e.value.parameter == "shift"
    with pytest.raises(ParameterError) as e:
        shift.expected_test_loss_quadratic(0.0, [[1.0]], [[0.1]], [0.1], bias=[np.inf])
    assert e.value.parameter == "bias"
    with pytest.raises(ParameterError) as e:
        shift.mean_offset(1.0, 0.0, 1.0, 0.0, 0.0)
    assert e.value.parameter == "T"


def test_laplace_and_exact_weights_agree_at_low_temperature(problem):
    """Laplace weights carry a relative O(D/ΔL) error; at T = 8e-3 both basins hold mass
    (9 % in the minority one) and the Laplace minority weight is within 10 % of the exact
    basin mass (measured 5 %), so the totals differ by < 1 % of the basin spread."""
    test = fs.shifted_test_loss(problem, "domain", shift=0.05)
    T = 8e-3
    a = shift.basin_test_loss(problem, test, T, weights="exact")
    b = shift.basin_test_loss(problem, test, T, weights="laplace")
    np.testing.assert_allclose(a.per_basin, b.per_basin)
    assert a.weights.min() > 0.05
    np.testing.assert_allclose(b.weights.min(), a.weights.min(), rtol=0.1)
    assert abs(a.total - b.total) <= 0.01 * np.ptp(a.per_basin)
    with pytest.raises(ParameterError) as e:
        shift.basin_test_loss(problem, test, T, weights="uniform")
    assert e.value.parameter == "weights"
