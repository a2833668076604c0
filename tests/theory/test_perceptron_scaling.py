"""The sympy scaling argument for the SGW23 perceptron: its exponents are those of DESIGN.md
§4.2, and each solved relation is re-checked numerically (ODE integration, direct
maximization, an Ornstein–Uhlenbeck simulation)."""

import numpy as np
import pytest
import sympy as sp
from scipy import integrate, optimize

from sgdnoise.errors import ParameterError
from sgdnoise.theory import perceptron as pc
from sgdnoise.theory import perceptron_scaling as ps


@pytest.mark.parametrize("chi", [0.0, 1.0, 3.0, 0.5, -0.5])
def test_exponents_match_design(chi):
    a = 1 / (1 + chi)
    b = (3 + chi) / (1 + chi)
    e = lambda reg, q, v: ps.exponent(reg, q, v, chi)
    # noise-dominated regime
    assert (
        e("noise", "dw_perp", "P"),
        e("noise", "dw_perp", "T"),
        e("noise", "dw_perp", "d"),
    ) == pytest.approx((0, 1, 0.5))
    assert (
        e("noise", "dw1", "P"),
        e("noise", "dw1", "T"),
        e("noise", "dw1", "d"),
    ) == pytest.approx((a, 1, 0.5))
    assert (
        e("noise", "t_star", "P"),
        e("noise", "t_star", "T"),
        e("noise", "t_star", "d"),
    ) == pytest.approx((b, 1, 1))
    assert (e("noise", "T_c", "P"), e("noise", "T_c", "d")) == pytest.approx((-a, 0))
    # gradient-descent regime: T drops out of the signal and of t*
    assert (e("gd", "dw1", "P"), e("gd", "dw1", "T"), e("gd", "dw1", "alpha")) == pytest.approx(
        (a, 0, -1)
    )
    assert (
        e("gd", "t_star", "P"),
        e("gd", "t_star", "T"),
        e("gd", "t_star", "d"),
    ) == pytest.approx((b, 0, 1))
    assert (e("gd", "dw_perp_sgd", "T"), e("gd", "dw_perp_sgd", "P")) == pytest.approx((0.5, 0))
    assert ps.exponent("gd", "dw_perp", "P", chi) is None
    assert ps.exponent("gd", "T_c", "P", chi) is None
    assert (e("crossover", "T_x", "alpha"), e("crossover", "T_x", "P")) == pytest.approx((-1, 0))


NUM = {ps.P: 3000.0, ps.T: 7.0, ps.d: 40.0, ps.alpha: 2.0, ps.kappa: 0.8}


@pytest.mark.parametrize("chi", [0.0, 1.0, 3.0])
@pytest.mark.parametrize("regime", ["noise", "gd"])
def test_time_to_fit_against_ode(chi, regime):
    # Integrate dW1/dt = m eps^(2+chi)/(2 sqrt d) numerically from W1 = 1e-6 W1*; the
    # closed form integrates from 0, a difference of (1e-6)^(3+chi) relative; rtol 1e-9.
    res = ps.derive()[regime]
    sub = {**NUM, pc.chi: chi}
    w1_final = float(res["dw1"].subs(sub))
    tstar = float(res["t_star"].subs(sub))
    d = NUM[ps.d]
    m = pc.band_moment_coefficient(chi)
    if regime == "noise":
        wp = float(res["dw_perp"].subs(sub))
        band = lambda w: wp / w
    else:
        band = lambda w: np.sqrt(d) / (NUM[ps.alpha] * w)
    rate = lambda w: m * band(w) ** (2 + chi) / (2 * np.sqrt(d))
    t_num, _ = integrate.quad(lambda w: 1 / rate(w), 1e-6 * w1_final, w1_final, epsrel=1e-11)
    assert t_num == pytest.approx(tstar, rel=1e-6)
    # and the end-of-training condition holds at the final W1: P c eps^(1+chi) = 1
    assert NUM[ps.P] * pc.boundary_coefficient(chi) * band(w1_final) ** (1 + chi) == pytest.approx(
        1
    )


def test_noise_radius_is_the_radial_mode():
    # maximize r^(d-2) exp(-F r / D) numerically (F, D for an arbitrary f, which must cancel)
    wp = ps.derive()["noise"]["dw_perp"]
    for f in (0.3, 1e-4):
        d, T, kap = 40.0, 7.0, 0.8
        F, D = kap * f / np.sqrt(d), T * f / (2 * d)
        res = optimize.minimize_scalar(
            lambda r, F=F, D=D, d=d: -((d - 2) * np.log(r) - F * r / D),
            bounds=(1e-6, 1e4),
            method="bounded",
            options={"xatol": 1e-10},
        )
        assert res.x == pytest.approx(float(wp.subs(NUM)), rel=1e-6)


def test_gd_perp_is_the_ou_variance():
    # Euler–Maruyama for dW = -k W dt + sqrt(2D) dB in d-1 coordinates, 4000 paths run for
    # 20 relaxation times: E||W||^2 = (d-1) D/k within 3% (sampling sd ~ 1/sqrt(4000*(d-1))).
    rng = np.random.default_rng(5)
    d, T, a, chi, f = 9, 0.05, 3.0, 1.0, 0.2
    k = (1 + chi) * a * f / d
    D = T * f / (2 * d)
    dt = 0.02 / k
    W = np.zeros((4000, d - 1))
    for _ in range(1000):
        W += -k * W * dt + np.sqrt(2 * D * dt) * rng.standard_normal(W.shape)
    expect = float(
        ps.derive()["gd"]["dw_perp_sgd"].subs({ps.d: d, ps.T: T, ps.alpha: a, pc.chi: chi})
    )
    # Euler–Maruyama with k dt = 0.02 biases the variance by 1/(1 - k dt/2) = +1%
    assert np.sqrt(np.mean(np.sum(W**2, axis=1))) == pytest.approx(expect, rel=0.03)


def test_crossover_joins_the_regimes():
    res = ps.derive()
    tx = res["crossover"]["T_x"].subs(NUM)
    for chi in (0.0, 2.0):
        sub = {**{k: v for k, v in NUM.items() if k != ps.T}, pc.chi: chi}
        a = res["noise"]["dw1"].subs(ps.T, tx).subs(sub)
        b = res["gd"]["dw1"].subs(sub)
        assert float(a) == pytest.approx(float(b), rel=1e-12)


def test_d_exponent_is_a_large_d_limit():
    wp = ps.derive()["noise"]["dw_perp"].subs({ps.kappa: 1, ps.T: 1})
    f = sp.lambdify(ps.d, wp)
    d0 = 1e7
    slope = (np.log(f(2 * d0)) - np.log(f(d0))) / np.log(2)
    assert slope == pytest.approx(0.5, abs=1e-6)


def test_tables():
    md = ps.table()
    assert "| noise | dw1 | 1/(chi + 1) | 1 | 1/2 | 0 |" in md
    assert "| gd | T_c | — | — | — | — |" in md
    md0 = ps.table(3)
    assert "| noise | t_star | 3/2 | 1 | 1 | 0 |" in md0
    tex = ps.latex_table()
    assert tex.startswith(r"\begin{tabular}") and r"\frac{1}{\chi + 1}" in tex


def test_bad_input():
    with pytest.raises(ParameterError) as e:
        ps.exponent("noise", "dw1", "P", -1.0)
    assert e.value.parameter == "chi"
    with pytest.raises(ParameterError) as e:
        ps.exponent("hot", "dw1", "P", 0.0)
    assert e.value.parameter == "regime"
    with pytest.raises(ParameterError) as e:
        ps.exponent("noise", "dw1", "h", 0.0)
    assert e.value.parameter == "variable"
