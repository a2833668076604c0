"""N-D basins by gradient flow, against exact answers: a rotated separable four-well
landscape (whose basins are known in closed form) and scipy's solve_ivp on the 2-D family."""

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import quad, solve_ivp

from sgdnoise.errors import ParameterError
from sgdnoise.theory.basins import _grad_rows, basins, laplace_log_weights
from sgdnoise.theory.density import StationaryDensity
from sgdnoise.theory.escape import kramers_time
from sgdnoise.theory.potentials import potential, two_minima_2d

x, y, z = sp.symbols("x y z", real=True)
PHI = 0.3  # rotation angle: separatrices not aligned with the quadrature grid
C, S = np.cos(PHI), np.sin(PHI)


def f1(u):  # tilted double well along each rotated axis
    return (u**2 - 1) ** 2 + 0.3 * u


def g1(v):
    return (v**2 - 1) ** 2 / 2 - 0.2 * v


def _max_between(fun):
    """The barrier top of a 1-D double well (independent of the library: sympy roots)."""
    t = sp.Symbol("t", real=True)
    r = [float(v) for v in sp.Poly(sp.diff(fun(t), t), t).nroots() if abs(sp.im(v)) < 1e-12]
    return sorted(r)[1]


def four_wells():
    u, v = C * x + S * y, -S * x + C * y
    return potential(f1(u) + g1(v), coords=(x, y), noise=1, domain=[(-2.6, 2.6), (-2.6, 2.6)])


def test_rotated_four_wells_assignment_is_exact():
    """Flow decouples in (u, v) = R(x, y): basin = (sign of u − u*, sign of v − v*) exactly.
    Every point farther than 0.02 from a separatrix is assigned right."""
    pot = four_wells()
    b = basins(pot)
    assert len(b) == 4
    assert len(b.saddles) == 4  # a ring: each basin neighbours two others
    us, vs = _max_between(f1), _max_between(g1)
    rng = np.random.default_rng(0)
    pts = rng.uniform(-2.2, 2.2, size=(4000, 2))
    u, v = (pts @ np.array([[C, -S], [S, C]])).T
    key = 2 * (u > us) + (v > vs)
    mins = np.array([m.location for m in b.minima])
    mu, mv = (mins @ np.array([[C, -S], [S, C]])).T
    want_of_key = {2 * (a > us) + (c > vs): i for i, (a, c) in enumerate(zip(mu, mv, strict=True))}
    want = np.array([want_of_key[k] for k in key])
    got = b.assign(pts)
    far = (np.abs(u - us) > 0.02) & (np.abs(v - vs) > 0.02)
    assert np.array_equal(got[far], want[far])


def test_rotated_four_wells_masses_against_quad():
    """p ∝ exp(−f(u)/D) exp(−g(v)/D) factorizes, so each basin's mass is a product of two
    1-D quad integrals (the rotated box cuts off < 1e-12 of the mass).  At T = 0.3 the 2-D
    masses agree to 2e-6 absolute: the flow steps (≤ 2 % of the distance between minima)
    misplace only quadrature points within a step of a separatrix, where the density is
    lowest (the error grows with that density: 3e-6 at T = 1)."""
    pot = four_wells()
    T = 0.3
    D = T / 2
    us, vs = _max_between(f1), _max_between(g1)
    pu = [quad(lambda t: np.exp(-f1(t) / D), a, c, epsabs=0)[0] for a, c in ((-4, us), (us, 4))]
    pv = [quad(lambda t: np.exp(-g1(t) / D), a, c, epsabs=0)[0] for a, c in ((-4, vs), (vs, 4))]
    pu, pv = np.array(pu) / sum(pu), np.array(pv) / sum(pv)
    b = basins(pot)
    mins = np.array([m.location for m in b.minima])
    mu, mv = (mins @ np.array([[C, -S], [S, C]])).T
    want = np.array([pu[int(a > us)] * pv[int(c > vs)] for a, c in zip(mu, mv, strict=True)])
    got = StationaryDensity(pot, T).basin_masses()
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_two_minima_2d_flow_against_solve_ivp():
    """Near the saddle, where the separatrix bends away from the split line, the flow's
    labels match an accurate ODE solution (LSODA, rtol 1e-8) for every sampled point."""
    pot = two_minima_2d()
    b = basins(pot)
    s = b.saddles[(0, 1)].location
    rng = np.random.default_rng(1)
    pts = np.stack([s[0] + rng.uniform(-0.5, 0.5, 16), rng.uniform(-5, 5, 16)], 1)
    locs = np.array([m.location for m in b.minima])
    ref = []
    for p in pts:
        sol = solve_ivp(
            lambda t, q: -_grad_rows(pot, q[None])[0], (0, 60), p, rtol=1e-8, atol=1e-10,
            method="LSODA",
        )  # fmt: skip
        ref.append(int(np.argmin(np.linalg.norm(locs - sol.y[:, -1], axis=1))))
    assert np.array_equal(b.assign(pts), ref)
    assert np.any(np.array(ref) != (pts[:, 0] > s[0]))  # the split line would get some wrong


def test_three_dimensional_basins_laplace_and_kramers():
    """3-D: a double well in x with stiff quadratic y, z.  Laplace weights against the
    closed form (Gaussian in y, z factor out exactly), Eyring–Kramers in closed form; the
    numeric density refuses 3-D with a clear line."""
    L = (x**2 - 1) ** 2 + 0.2 * x + y**2 + 2 * z**2
    pot = potential(L, coords=(x, y, z), noise=1, domain=[(-2, 2)] * 3)
    b = basins(pot)
    assert len(b) == 2 and list(b.saddles) == [(0, 1)]
    T = 0.1
    D = T / 2
    mins, lw = laplace_log_weights(pot, T)
    Lx = [float(m.value) for m in mins]
    kx = [float(m.hessian[0, 0]) for m in mins]
    want = np.array([np.exp(-Lx[i] / D) / np.sqrt(kx[i]) for i in range(2)])
    np.testing.assert_allclose(np.exp(lw), want / want.sum(), rtol=1e-9)
    sad = b.saddles[(0, 1)]
    tau = 2 * np.pi / np.sqrt(kx[0] * abs(sad.hessian[0, 0])) * np.exp((sad.value - Lx[0]) / D)
    assert kramers_time(pot, T, 0, 1) == pytest.approx(tau, rel=1e-9)
    with pytest.raises(ParameterError) as e:
        StationaryDensity(pot, T)
    assert e.value.parameter == "potential"


def test_anisotropic_noise_refused_in_nd():
    pot = potential((x**2 - 1) ** 2 + y**2, coords=(x, y), noise=[1, 2], domain=[(-2, 2), (-3, 3)])
    with pytest.raises(ParameterError) as e:
        StationaryDensity(pot, 0.3)
    assert e.value.parameter == "potential" and "isotropic" in str(e.value)
