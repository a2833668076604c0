"""Two-minima family (Hermite conditions), minima, Laplace weights and escape times against
independent computations (finite differences, exact quadratures, nested scipy.quad)."""

import numpy as np
import pytest
from scipy.integrate import quad

from sgdnoise.errors import ParameterError
from sgdnoise.theory.basins import laplace_log_weights, minima
from sgdnoise.theory.density import StationaryDensity
from sgdnoise.theory.escape import (
    kramers_time,
    mean_first_passage_time,
    relaxation_rate,
    relaxation_spectrum,
)
from sgdnoise.theory.potentials import two_minima_1d, two_minima_2d

SPEC = dict(
    m_wide=-1.2,
    m_narrow=0.8,
    k_wide=0.9,
    k_narrow=6.0,
    depth_wide=0.1,
    depth_narrow=0.02,
    barrier=0.3,
)


def test_hermite_conditions_by_finite_differences():
    pot = two_minima_1d(**SPEC)
    h = 1e-4
    for m, k, E in ((-1.2, 0.9, 0.1), (0.8, 6.0, 0.02)):
        f = lambda t: float(pot.loss_at(np.array(t)))
        assert f(m) == pytest.approx(E, abs=1e-12)
        assert (f(m + h) - f(m - h)) / (2 * h) == pytest.approx(0, abs=1e-7)
        # central second difference: truncation O(h²·L'''') ≈ 1e-7
        assert (f(m + h) - 2 * f(m) + f(m - h)) / h**2 == pytest.approx(k, rel=1e-5)
    assert float(pot.loss_at(np.array(-0.2))) == pytest.approx(0.3, abs=1e-12)
    mins = minima(pot)
    assert [c.location[0] for c in mins] == pytest.approx([-1.2, 0.8], abs=1e-9)
    assert [c.hessian[0, 0] for c in mins] == pytest.approx([0.9, 6.0], rel=1e-9)


def test_2d_minima_and_transverse_stiffness():
    pot = two_minima_2d(k_y_wide=1.5, k_y_narrow=3.0)
    mins = minima(pot)
    assert len(mins) == 2
    np.testing.assert_allclose(mins[0].location, [-1, 0], atol=1e-6)
    np.testing.assert_allclose(np.diag(mins[0].hessian), [1.0, 1.5], rtol=1e-6)
    np.testing.assert_allclose(np.diag(mins[1].hessian), [8.0, 3.0], rtol=1e-6)


@pytest.mark.parametrize(
    "kw,param",
    [
        (dict(barrier=1.0), "barrier"),  # leading coefficient < 0: not confining
        (dict(barrier=0.08), "barrier"),  # extra wiggles: more than two minima
        (dict(k_wide=0.0), "k_wide"),
        (dict(m_narrow=-1.0), "m_narrow"),
        (dict(domain=(-0.5, 2.0)), "domain"),  # the wide minimum lies outside
        (dict(kappa=-0.1), "kappa"),
        (dict(sigma2=0.0), "sigma2"),
    ],
)
def test_family_bad_input(kw, param):
    with pytest.raises(ParameterError) as e:
        two_minima_1d(**kw)
    assert e.value.parameter == param


def test_no_minimum_in_domain_is_an_error():
    from dataclasses import replace

    pot = replace(two_minima_1d(), domain=((1.5, 2.5),))
    with pytest.raises(ParameterError) as e:
        minima(pot)
    assert e.value.parameter == "potential"


@pytest.mark.parametrize("kappa", [0.0, 0.5])
def test_laplace_converges_to_exact_basin_masses(kappa):
    """Laplace's error on log(w_wide/w_narrow) is O(T); its first-order correction O(T²)."""
    pot = two_minima_1d(kappa=kappa)
    errs0, errs1 = [], []
    for T in (0.005, 0.01, 0.02):
        lm = StationaryDensity(pot, T).log_basin_masses()
        exact = lm[0] - lm[1]
        for order, errs in ((0, errs0), (1, errs1)):
            lw = laplace_log_weights(pot, T, order)[1]
            errs.append(abs((lw[0] - lw[1]) - exact))
    # halving T roughly halves the order-0 error (ratio 2 ± 0.5) ...
    assert 1.5 < errs0[2] / errs0[1] < 2.5 and 1.5 < errs0[1] / errs0[0] < 2.5
    # ... and the corrected weights are better by at least 4x at the smallest T
    assert errs1[0] < errs0[0] / 4


def test_laplace_2d_against_exact():
    pot = two_minima_2d()
    T = 0.01
    m = StationaryDensity(pot, T).basin_masses()
    lw = laplace_log_weights(pot, T)[1]
    # O(T) relative error with a constant of order 10 (as in 1-D): 0.15 at T = 0.01
    assert (lw[0] - lw[1]) == pytest.approx(np.log(m[0] / m[1]), abs=0.15)


def test_mfpt_against_nested_scipy_quad():
    pot = two_minima_1d()
    T = 0.4
    D = T / 2
    L = lambda t: float(pot.loss_at(np.array(t)))
    lo = pot.domain[0][0]
    inner = lambda y: quad(lambda z: np.exp(-L(z) / D), lo, y, limit=200, epsabs=0)[0]
    ref = quad(lambda y: np.exp(L(y) / D) * inner(y) / D, -1.0, 1.0, limit=200, epsabs=0)[0]
    assert mean_first_passage_time(pot, T, -1.0, 1.0) == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("kappa", [0.0, 0.5])
def test_kramers_converges_to_mfpt(kappa):
    pot = two_minima_1d(kappa=kappa)
    errs = []
    for T in (0.01, 0.02, 0.04):
        for a, b, x, y in ((0, 1, -1.0, 1.0), (1, 0, 1.0, -1.0)):
            errs.append(
                (T, abs(kramers_time(pot, T, a, b) / mean_first_passage_time(pot, T, x, y) - 1))
            )
    e = {T: max(v for t, v in errs if t == T) for T, _ in errs}
    # O(D/ΔL) corrections: monotone in T and small at the lowest T
    assert e[0.01] < e[0.02] < e[0.04]
    assert e[0.01] < 0.03


def test_spectral_gap_matches_mfpt_rates_and_converges():
    pot = two_minima_1d()
    T = 0.1
    lam = relaxation_rate(pot, T)
    rates = 1 / mean_first_passage_time(pot, T, -1.0, 1.0) + 1 / mean_first_passage_time(
        pot, T, 1.0, -1.0
    )
    # high barrier (ΔL/D ≈ 6.6): two-state picture exact up to e^{-ΔL/D} ≈ 0.1%
    assert lam == pytest.approx(rates, rel=5e-3)
    assert relaxation_rate(pot, T, n_grid=8000) == pytest.approx(lam, rel=1e-6)
    l1, l2 = relaxation_spectrum(pot, T, 2)
    assert l2 > 50 * l1  # time-scale separation of in-well and between-well relaxation


def test_escape_bad_input():
    pot = two_minima_1d()
    with pytest.raises(ParameterError) as e:
        kramers_time(pot, 0.1, 0, 0)
    assert e.value.parameter == "target"
    with pytest.raises(ParameterError) as e:
        kramers_time(pot, -1.0, 0, 1)
    assert e.value.parameter == "T"
    with pytest.raises(ParameterError) as e:
        mean_first_passage_time(pot, 0.1, -1.0, 9.0)
    assert e.value.parameter == "target"
    with pytest.raises(ParameterError) as e:
        relaxation_rate(pot, 0.002)  # gap below round-off
    assert e.value.parameter == "T"
