"""Stationary Fokker–Planck densities verified by substitution: sympy reduces the flux to 0."""

import sympy as sp

from sgdnoise.theory.fokker_planck import (
    flux_1d,
    is_stationary_1d,
    is_stationary_nd,
    stationary_density_1d,
    stationary_density_nd,
)
from sgdnoise.theory.potentials import two_minima_1d, two_minima_2d

th = sp.Symbol("theta", real=True)
T = sp.Symbol("T", positive=True)


def test_general_state_dependent_density_is_stationary():
    L, D = sp.Function("L")(th), sp.Function("D")(th)
    p = stationary_density_1d(L, D, th)
    assert is_stationary_1d(p, L, D, th)


def test_wrong_density_is_rejected():
    # Stratonovich-style guess exp(−∫L'/D) without the 1/D factor is NOT Itô-stationary.
    L, D = sp.Function("L")(th), sp.Function("D")(th)
    p = stationary_density_1d(L, D, th) * D
    assert not is_stationary_1d(p, L, D, th)
    # and exp(−L/D) fails as soon as D depends on θ
    Dq = 1 + th**2
    assert not is_stationary_1d(sp.exp(-(th**4) / Dq), th**4, Dq, th)


def test_family_with_state_dependent_noise_closed_form():
    pot = two_minima_1d(kappa=0.5)
    sub = {a: sp.nsimplify(v) for a, v in zip(pot.params, pot.values, strict=True)}
    L = pot.loss.xreplace(sub)
    D = T / 2 * pot.noise_cov[0].xreplace(sub)
    p = stationary_density_1d(L, D, th)
    assert not p.has(sp.Integral)  # a rational integrand: sympy finds the closed form
    assert is_stationary_1d(p, L, D, th)
    assert sp.simplify(flux_1d(p, L, D, th)) == 0


def test_constant_noise_reduces_to_boltzmann():
    L = sp.Function("L")(th)
    s2 = sp.Symbol("sigma2", positive=True)
    p = stationary_density_1d(L, T * s2 / 2, th)
    ratio = sp.simplify(p * sp.exp(2 * L / (T * s2)))
    assert th not in ratio.free_symbols  # p ∝ exp(−2L/(Tσ²))


def test_nd_isotropic():
    x, y = sp.symbols("x y", real=True)
    L = sp.Function("L")(x, y)
    D = T * sp.Symbol("sigma2", positive=True) / 2
    p = stationary_density_nd(L, D, (x, y))
    assert is_stationary_nd(p, L, D, (x, y))
    # a non-gradient drift (L plus a rotation) is not stationary under exp(−L/D)
    assert not is_stationary_nd(p, L + x * y, D, (x, y))
    pot = two_minima_2d()
    Lf, _ = pot.substituted()
    assert is_stationary_nd(stationary_density_nd(Lf, D, pot.coords), Lf, D, pot.coords)
