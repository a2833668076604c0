"""Log-space normalization against independent quadrature (scipy.quad / dblquad, Laplace)."""

import numpy as np
import pytest
from scipy.integrate import quad

from sgdnoise.errors import ParameterError
from sgdnoise.theory.basins import minima, saddle_between
from sgdnoise.theory.density import StationaryDensity
from sgdnoise.theory.potentials import two_minima_1d, two_minima_2d


def _quad_logz_const(pot, T, L_min):
    D = T / 2 * pot.values[[str(p) for p in pot.params].index("sigma2")]
    f = lambda x: np.exp(-(pot.loss_at(x) - L_min) / D)
    lo, hi = pot.domain[0]
    m = [c.location[0] for c in minima(pot)]
    s = pot.split_offset
    pieces = [(lo, m[0]), (m[0], s), (s, m[1]), (m[1], hi)]
    return np.log(sum(quad(f, a, b, limit=400, epsabs=0, epsrel=1e-12)[0] for a, b in pieces))


@pytest.mark.parametrize("T", [1e-4, 1e-2, 1.0, 10.0])
def test_log_normalizer_constant_noise(T):
    pot = two_minima_1d()
    d = StationaryDensity(pot, T)
    assert np.isfinite(d.log_normalizer)
    # Both are converged quadratures of the same smooth integrand: agreement to 1e-9.
    assert d.log_normalizer == pytest.approx(_quad_logz_const(pot, T, d._L_min), abs=1e-9)
    assert d.marginal_cdf(np.array([pot.domain[0][1]]))[0] == pytest.approx(1.0, abs=1e-12)


def test_extreme_temperature_matches_laplace():
    # At T = 1e-4 Laplace's method is exact to O(T): log Z − log Z_Laplace = O(1e-4·c).
    pot = two_minima_1d()
    T = 1e-4
    d = StationaryDensity(pot, T)
    D = T / 2
    m = min(minima(pot), key=lambda c: c.value)
    logz_lap = (m.value - d._L_min) / -D + 0.5 * np.log(2 * np.pi * D / m.hessian[0, 0])
    assert d.log_normalizer == pytest.approx(logz_lap, abs=5e-3)
    x = np.linspace(-2.5, 2.5, 10001)
    lp = d.logpdf(x)
    assert np.all(np.isfinite(lp) | (lp == -np.inf))
    assert np.max(lp) < 10  # peak density ~ 1/sqrt(2πD/k) ≈ 160, log ≈ 5


@pytest.mark.parametrize("T", [1e-2, 10.0])
def test_state_dependent_against_nested_quadrature(T):
    pot = two_minima_1d(kappa=0.5)
    d = StationaryDensity(pot, T)
    dL = pot.grad_fns()[0]
    Dfun = lambda t: T / 2 * pot.noise_at(np.array(t))[0]
    ref = pot.domain[0][0]
    # Φ(θ) = ln D + ∫_ref^θ L'/D by adaptive quad (independent of the Gauss–Legendre panels)
    phi = lambda t: (
        np.log(Dfun(t))
        + quad(lambda s: dL(s, *pot.values) / Dfun(s), ref, t, limit=200, epsabs=0, epsrel=1e-12)[0]
    )
    pts = np.array([-1.3, -1.0, 0.2, 1.0, 1.7])
    ours = d.phi(pts) - d.phi(np.array([-1.0]))
    theirs = np.array([phi(t) for t in pts]) - phi(-1.0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-7)
    # density integrates to one (quad over our own pdf, with breakpoints at minima)
    lo, hi = pot.domain[0]
    total = sum(quad(d.pdf, a, b, limit=400)[0] for a, b in [(lo, -1.0), (-1.0, 1.0), (1.0, hi)])
    assert total == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("T", [0.2, 1.0])
def test_2d_against_uniform_simpson(T):
    """An independent rule: composite Simpson on a uniform 2-D grid (our grid is adaptive
    Gauss–Legendre).  With h = 2.5e-3 against the narrowest scale sqrt(D/8) ≈ 0.11, Simpson's
    O(h⁴) error is far below the 1e-7 tolerance."""
    from scipy.integrate import simpson

    pot = two_minima_2d()
    d = StationaryDensity(pot, T)
    D = T / 2
    (xlo, xhi), (ylo, yhi) = pot.domain
    s = pot.split_offset
    ys = np.linspace(ylo, yhi, 4801)

    def mass(a, b):
        xs = np.linspace(a, b, int(round((b - a) / 2.5e-3)) // 2 * 2 + 1)
        f = np.exp(-(pot.loss_at(xs[:, None], ys[None, :]) - d._L_min) / D)
        return simpson(simpson(f, x=ys, axis=1), x=xs)

    left, right = mass(xlo, s), mass(s, xhi)
    assert d.log_normalizer == pytest.approx(np.log(left + right), abs=1e-7)
    # the sides of the split line x = saddle (what the simulators count) ...
    assert d.split_masses()[0] == pytest.approx(left / (left + right), abs=1e-7)
    # ... differ from the gradient-flow basins: the separatrix bends away from that line
    # where ½κ'(x)y² pushes x, by 3e-4 at T = 0.2 and 1.2e-2 at T = 1 (test_basins_nd.py
    # checks the flow against solve_ivp)
    assert 1e-5 < abs(d.basin_masses()[0] - d.split_masses()[0]) < 0.02


def test_saddle_is_split_point():
    pot = two_minima_1d()
    a, b = minima(pot)
    assert saddle_between(pot, a, b).location[0] == pytest.approx(pot.split_offset, abs=1e-10)


@pytest.mark.parametrize("T", [0.0, -1.0, float("nan"), 1e6])
def test_bad_temperature(T):
    with pytest.raises(ParameterError) as e:
        StationaryDensity(two_minima_1d(), T)
    assert e.value.parameter == "T"
