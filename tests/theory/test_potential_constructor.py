"""The keyword constructor ``potential(...)``, multi-basin masses and escape times against
independent computations (scipy.quad, nested quad), and the refusal corpus."""

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import quad

from sgdnoise.errors import ParameterError
from sgdnoise.theory.basin_summary import basin_summary
from sgdnoise.theory.basins import basins, laplace_log_weights, minima
from sgdnoise.theory.density import StationaryDensity
from sgdnoise.theory.escape import kramers_time, mean_first_passage_time
from sgdnoise.theory.potentials import Potential, potential, two_minima_1d, two_minima_2d

x, y = sp.symbols("x y", real=True)
a, s2 = sp.symbols("a sigma2", positive=True)
# An asymmetric triple well: x²(x² − 4)²/8 has three minima of equal depth at −2, 0, 2
# (curvatures 16, 4, 16) and maxima at ±2/sqrt(3); the tilt a·x makes the left one deepest.
TRIPLE = x**2 * (x**2 - 4) ** 2 / 8 + a * x


def triple(tilt=0.1, noise=1):
    return potential(TRIPLE, coords=x, params={a: tilt}, noise=noise, domain=(-3.2, 3.2))


def _exact_edges(tilt):
    """Critical points from numpy's roots of L' (independent of the library's search)."""
    r = np.roots([0.75, 0, -4, 0, 4, tilt])  # L' = x(x² − 4)(3x² − 4)/4 + a
    return np.sort(r[np.abs(r.imag) < 1e-12].real)  # min, max, min, max, min


@pytest.mark.parametrize("T", [0.05, 0.2, 1.0])
def test_triple_well_masses_against_quad(T):
    """Three basins split at the two maxima; each mass against scipy.quad of exp(−L/D)
    (breakpoints at the minima).  Both are converged quadratures of a smooth integrand:
    relative agreement 1e-8 per basin (also for the 1e-10-sized basin at T = 0.05)."""
    pot = triple()
    crit = _exact_edges(0.1)
    b = basins(pot)
    assert len(b) == 3
    np.testing.assert_allclose([m.location[0] for m in b.minima], crit[::2], atol=1e-9)
    np.testing.assert_allclose(b.edges[1:-1], crit[1::2], atol=1e-9)
    D = T / 2
    L0 = float(pot.loss_at(np.array(crit[0])))
    f = lambda t: np.exp(-(float(pot.loss_at(np.array(t))) - L0) / D)  # noqa: E731
    edges = [-3.2, crit[1], crit[3], 3.2]
    ref = np.array(
        [
            quad(
                f, edges[i], edges[i + 1], points=[crit[2 * i]], limit=400, epsabs=0, epsrel=1e-12
            )[0]
            for i in range(3)
        ]
    )
    ref /= ref.sum()
    got = StationaryDensity(pot, T).basin_masses()
    assert got.shape == (3,) and got.sum() == pytest.approx(1, abs=1e-12)
    np.testing.assert_allclose(got, ref, rtol=1e-8)
    if T == 0.2:  # the bug this replaces split at θ = 0, through the middle well
        np.testing.assert_allclose(got, [0.78, 0.21, 0.014], atol=0.01)  # Laplace estimate


def test_state_dependent_masses_against_quad():
    """Σ(x) = 1 + x²/4: p ∝ (1/D) exp(−∫L'/D), the inner integral by quad as well (nested);
    5e-7 relative (the nested quad's own tolerance dominates)."""
    pot = triple(noise=1 + x**2 / 4)
    T = 0.4
    crit = _exact_edges(0.1)
    D = lambda t: T / 2 * (1 + t**2 / 4)  # noqa: E731
    dL = lambda t: t * (t**2 - 4) * (3 * t**2 - 4) / 4 + 0.1  # noqa: E731
    psi = lambda t: quad(lambda u: dL(u) / D(u), crit[0], t, epsabs=0, epsrel=1e-10)[0]  # noqa: E731
    f = lambda t: np.exp(-psi(t)) / D(t)  # noqa: E731
    edges = [-3.2, crit[1], crit[3], 3.2]
    ref = np.array([quad(f, edges[i], edges[i + 1], limit=200, epsabs=0)[0] for i in range(3)])
    np.testing.assert_allclose(StationaryDensity(pot, T).basin_masses(), ref / ref.sum(), rtol=5e-7)


def test_laplace_weights_converge_to_masses():
    """Laplace's error on log-mass ratios is O(T): it halves with T (ratio 2 ± 0.6)."""
    pot = triple()
    errs = []
    for T in (0.02, 0.04, 0.08):
        lm = StationaryDensity(pot, T).log_basin_masses()
        lw = laplace_log_weights(pot, T)[1]
        errs.append(np.max(np.abs((lw - lw[0]) - (lm - lm[0]))))
    assert 1.4 < errs[1] / errs[0] < 2.6 and 1.4 < errs[2] / errs[1] < 2.6
    assert errs[0] < 0.05


def test_mfpt_against_nested_quad_both_directions():
    """Right to left (reflecting at the right end) through the middle basin: the tail mass
    is summed from the reflecting end, so a 1e-6 tail is not lost to 1 − CDF."""
    pot = triple()
    T = 0.3
    D = T / 2
    crit = _exact_edges(0.1)
    L = lambda t: float(pot.loss_at(np.array(t)))  # noqa: E731
    L0 = L(crit[0])
    hi = 3.2
    inner = lambda yy: quad(lambda z: np.exp(-(L(z) - L0) / D), yy, hi, limit=200, epsabs=0)[0]  # noqa: E731
    ref = quad(
        lambda yy: np.exp((L(yy) - L0) / D) * inner(yy) / D,
        crit[0],
        crit[4],
        points=list(crit[1:4]),
        limit=400,
        epsabs=0,
    )[0]
    assert mean_first_passage_time(pot, T, 2, 0) == pytest.approx(ref, rel=1e-6)


def test_escape_times_basin_convention():
    pot = triple()
    T = 0.1
    # exact additivity of 1-D passage times: 0 → 2 must pass 1
    t02 = mean_first_passage_time(pot, T, 0, 2)
    assert t02 == pytest.approx(
        mean_first_passage_time(pot, T, 0, 1) + mean_first_passage_time(pot, T, 1, 2), rel=1e-9
    )
    # the older position form gives the same number
    m = [c.location[0] for c in minima(pot)]
    assert mean_first_passage_time(pot, T, m[2], m[0]) == pytest.approx(
        mean_first_passage_time(pot, T, 2, 0), rel=1e-12
    )
    with pytest.raises(ParameterError) as e:
        kramers_time(pot, T, 0, 2)  # not adjacent
    assert e.value.parameter == "target"
    with pytest.raises(ParameterError) as e:
        mean_first_passage_time(pot, T, 0, 3)
    assert e.value.parameter == "target"


def test_kramers_converges_for_single_exit_basins():
    """From an outer basin (one exit) Kramers' time → the exact MFPT to the neighbour's
    minimum with O(D/ΔL) error: monotone in T and below 4 % at the lowest T."""
    pot = triple(tilt=0.05)
    errs = {}
    for T in (0.05, 0.1, 0.2):
        errs[T] = max(
            abs(kramers_time(pot, T, i, j) / mean_first_passage_time(pot, T, i, j) - 1)
            for i, j in ((0, 1), (2, 1))
        )
    assert errs[0.05] < errs[0.1] < errs[0.2]
    assert errs[0.05] < 0.04


def test_summary_and_builders():
    s = basin_summary(triple(), 0.2)
    assert len(s.depths) == 3 and set(s.kramers) == {(0, 1), (1, 0), (1, 2), (2, 1)}
    assert len(s.mfpt) == 6 and np.all(np.isfinite(s.masses))
    assert "basin 2" in repr(s)
    for pot in (two_minima_1d(), two_minima_2d()):  # the builders keep working
        assert len(repr(pot)) < 300 and pot.name in repr(pot)
    assert len(basins(two_minima_1d())) == 2
    assert len(repr(triple())) < 300


def test_constructor_places_split_through_first_saddle():
    pot = triple()
    assert pot.split_offset == pytest.approx(_exact_edges(0.1)[1], abs=1e-9)
    p2 = potential(
        (x**2 - 1) ** 2 + y**2 / 2, coords=(x, y), noise=s2, params={"sigma2": 0.5},
        domain=[(-2, 2), (-2, 2)],
    )  # fmt: skip
    assert p2.split_normal == pytest.approx((1.0, 0.0), abs=1e-9)
    assert p2.split_offset == pytest.approx(0.0, abs=1e-9)
    assert StationaryDensity(p2, 0.3).basin_masses() == pytest.approx([0.5, 0.5], abs=1e-9)


BAD = [
    (dict(loss=x**3), "loss"),  # no minimum
    (dict(loss=-(x**2)), "loss"),  # unbounded below
    (dict(loss=x**2 - x**4 / 10), "loss"),  # a minimum, but unbounded below on ℝ
    (dict(loss=sp.log(x) + x**2), "loss"),  # not finite on the box
    (dict(loss=sp.I * x**2), "loss"),
    (dict(loss="x**2"), "loss"),
    (dict(noise=-1), "noise"),
    (dict(noise=0), "noise"),
    (dict(noise=x), "noise"),  # negative on half the box
    (dict(noise=x**2, domain=(-2, 2.3)), "noise"),  # zero at 0, between grid points
    (dict(noise=1e-200 + x**2 * 1e-190), "noise"),  # numerically singular
    (dict(noise=[1, 2]), "noise"),
    (dict(noise=sp.eye(2)), "noise"),
    (dict(domain=(2, -2)), "domain"),  # reversed
    (dict(domain=(1, 1)), "domain"),  # empty
    (dict(domain=(-2, float("inf"))), "domain"),
    (dict(domain=(0.5, 2)), "domain"),  # holds no minimum of x²
    (dict(domain=[(-2, 2), (-2, 2)]), "domain"),
    (dict(loss=x**2 + a * x), "params"),  # stray free symbol
    (dict(params={y: 1.0}), "params"),
    (dict(params={"b": 1.0}), "params"),
    (dict(loss=x**2 + a * x, params={a: float("nan")}), "params[a]"),
    (dict(coords="x"), "coords"),
    (dict(coords=(x, x)), "coords"),
    (dict(name=""), "name"),
]


@pytest.mark.parametrize("kw,param", BAD, ids=[f"{p}-{i}" for i, (_, p) in enumerate(BAD)])
def test_refusal_corpus(kw, param):
    args = dict(loss=x**2, coords=x, domain=(-2, 2)) | kw
    with pytest.raises(ParameterError) as e:
        potential(**args)
    assert e.value.parameter == param
    assert "\n" not in str(e.value) or param == "noise"  # one line (a Matrix prints on many)


def test_2d_refusals():
    base = dict(coords=(x, y), domain=[(-2, 2), (-2, 2)])
    cases = [
        (dict(loss=x**2 + y**3), "loss"),
        (dict(loss=x**2 - y**2), "loss"),
        (dict(loss=x**2 + y**2, noise=sp.Matrix([[1, 0.5], [0.5, 1]])), "noise"),
        (dict(loss=x**2 + y**2, noise=sp.Matrix([[1, 0], [0, -1]])), "noise"),
        (dict(loss=x**2 + y**2, domain=[(-2, 2)]), "domain"),
    ]
    for kw, param in cases:
        with pytest.raises(ParameterError) as e:
            potential(**(base | kw))
        assert e.value.parameter == param, kw


def test_entry_points_refuse_hand_built_potentials():
    """A Potential filled by hand is checked at every theory entry point ('potential')."""
    for loss in (x**3, -(x**2)):
        pot = Potential("hand", (x,), (), loss, (sp.Integer(1),), (), ((-2.0, 2.0),))
        for call in (
            lambda p: StationaryDensity(p, 0.5),
            minima,
            basins,
            lambda p: laplace_log_weights(p, 0.5),
            lambda p: kramers_time(p, 0.5, 0, 1),
            lambda p: mean_first_passage_time(p, 0.5, 0, 1),
            lambda p: basin_summary(p, 0.5),
        ):
            with pytest.raises(ParameterError) as e:
                call(pot)
            assert e.value.parameter == "potential"
    neg = Potential("hand", (x,), (), x**2, (sp.Integer(-1),), (), ((-2.0, 2.0),))
    with pytest.raises(ParameterError) as e:
        StationaryDensity(neg, 0.5)
    assert e.value.parameter == "potential" and "positive definite" in str(e.value)
    for kw, param in (
        (dict(domain=((2.0, -2.0),)), "domain"),
        (dict(loss=x**2 + a), "params"),
        (dict(noise_cov=()), "noise"),
    ):
        fields = dict(
            name="hand", coords=(x,), params=(), loss=x**2, noise_cov=(sp.Integer(1),),
            values=(), domain=((-2.0, 2.0),),
        ) | kw  # fmt: skip
        with pytest.raises(ParameterError) as e:
            Potential(**fields)
        assert e.value.parameter == param


def test_times_beyond_float_range_need_log():
    """At T = 1e-4 the barrier gives e^{ΔL/D} ≈ e^{6000}: refused as a float (never inf),
    returned as its logarithm with log=True."""
    pot = two_minima_1d()
    T = 1e-4
    for fn in (kramers_time, mean_first_passage_time):
        with pytest.raises(ParameterError) as e:
            fn(pot, T, 0, 1)
        assert e.value.parameter == "T"
    lk = kramers_time(pot, T, 0, 1, log=True)
    lm = mean_first_passage_time(pot, T, 0, 1, log=True)
    assert 5000 < lk < 8000 and abs(lk - lm) < 0.01  # Kramers' O(D/ΔL) error, in log
    assert np.exp(kramers_time(pot, 0.05, 0, 1, log=True)) == pytest.approx(
        kramers_time(pot, 0.05, 0, 1), rel=1e-12
    )
