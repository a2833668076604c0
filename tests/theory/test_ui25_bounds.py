"""UI25 sums, bound and rates against direct summation of the expanded schedules."""

import math

import numpy as np
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.stats import powerlaw_fit
from sgdnoise.theory import schedules as S
from sgdnoise.theory import ui25

K = 5
SCHEDULERS = {
    **{f"i-{k}": S.scheduler_i(k, 0.1, 8) for k in S.DECAYS},
    **{f"ii-{k}": S.scheduler_ii(k, 0.1, 4, 2, K) for k in S.DECAYS},
    "iii": S.scheduler_iii(0.05, 1.5, 4, 3, K),
    "iii-cap": S.scheduler_iii(0.05, 1.5, 4, 3, K, eta_cap=0.2),
    "iv-cosine": S.scheduler_iv(0.05, 1.5, 2, "cosine", 4, 2, K),
    "iv-constant": S.scheduler_iv(0.05, 1.5, 2, "constant", 4, 2, K),
    "iv-poly": S.scheduler_iv(0.05, 1.5, 2, "polynomial", 4, 2, K, power=3),
}


@pytest.mark.parametrize("key", list(SCHEDULERS))
def test_sums_match_direct_summation(key):
    sch = SCHEDULERS[key]
    s = ui25.sums(sch)
    for M in (s.min_stages, 4, 9, 13):
        if M < s.min_stages:
            continue
        ex = sch.expand_steps(M * s.K)
        B, V, emax = s.numeric(M)
        # ≤ 65 terms of size ≤ 1: double rounding of the direct sum is < 1e-14 relative
        assert B == pytest.approx(ex.lr_sum, rel=1e-12)
        assert V == pytest.approx(ex.variance_sum, rel=1e-12)
        assert emax == pytest.approx(ex.lr.max(), rel=1e-12)


def test_closed_forms_exist_where_sympy_finds_them():
    closed_B = {k: ui25.sums(s).closed_B for k, s in SCHEDULERS.items()}
    closed_V = {k: ui25.sums(s).closed_V for k, s in SCHEDULERS.items()}
    assert all(v for k, v in closed_B.items() if "diminishing" not in k)
    assert all(closed_V[k] for k in ("i-constant", "i-cosine", "i-linear", "i-polynomial"))
    assert closed_V["iii"] and closed_V["iii-cap"] and closed_V["ii-constant"]
    assert not closed_V["i-diminishing"]  # harmonic numbers: an exact finite sum


def test_prefix_bound_equals_bound_at_the_end():
    sch = SCHEDULERS["ii-cosine"]
    s = ui25.sums(sch)
    ex = sch.expand_steps(8 * K)
    pb = ui25.prefix_bound(ex, gap=2.0, L=1.0, sigma2=3.0)
    assert pb[-1] == pytest.approx(s.bound(8, 2.0, 1.0, 3.0), rel=1e-12)
    # by hand at t = 1: (2Δ + Lσ²η0²/b0) / ((2 − Lη0) η0)
    assert pb[0] == pytest.approx((4.0 + 3.0 * 0.01 / 4) / (1.9 * 0.1), rel=1e-13)


@pytest.mark.parametrize(
    "kind, c", [("constant", 1.0), ("cosine", 0.75), ("linear", 2 / 3), ("polynomial", 3 / 5)]
)
def test_floor_of_scheduler_i(kind, c):
    """lim V_T/B_T = c η_max / b (derived: ∫ of the decay squared over its integral)."""
    sch = S.scheduler_i(kind, 0.1, 8)
    r = ui25.rate(sch)
    assert r.scale == "1/T"
    assert r.floor_coefficient == pytest.approx(c * 0.1 / 8, rel=1e-12)
    ex = sch.expand_steps(200_000)
    # finite-T ratio differs from the limit by O(1/T) = O(5e-6) relative
    assert ex.variance_sum / ex.lr_sum == pytest.approx(r.floor_coefficient, rel=1e-4)


def _bounds(sch, Ms, gap=1.0, L=1.0, sigma2=2.0):
    s = ui25.sums(sch)
    return np.array([s.bound(M, gap, L, sigma2) for M in Ms])


def test_rates_ii_and_iv_are_one_over_T():
    Ms = np.array([40, 80, 160, 320, 640])
    for key in ("ii-constant", "ii-cosine", "iv-constant"):
        if "cosine" in key:  # the nested cosine sum is evaluated term by term: keep it short
            Ms = Ms[:4]
        fit = powerlaw_fit(Ms * K, _bounds(SCHEDULERS[key], Ms), n_boot=200, seed=0)
        # V_T → V_∞ is reached geometrically: the slope is −1 up to ~δ^{−M}
        assert fit.exponent == pytest.approx(-1.0, abs=0.01), key


def test_rates_of_diminishing():
    Ms = np.array([200, 800, 3200, 12800])
    b_ii = _bounds(S.scheduler_ii("diminishing", 0.1, 4, 2, 1), Ms)
    fit = powerlaw_fit(Ms, b_ii, n_boot=200, seed=0)
    assert fit.exponent == pytest.approx(-0.5, abs=0.02)  # O(1/sqrt T)
    # (i): B_T = η0 Σ_{t≤T} t^{-1/2} = η0 (2√T + ζ(1/2) + O(T^{-1/2})) and
    # V_T = (η0²/b) H_T = (η0²/b)(ln T + γ_E + O(1/T)) (Euler–Maclaurin), so the bound is
    # (2Δ + Lσ²V_T)/((2 − Lη0) B_T) ~ log T / √T; the asymptotic form must match to O(T^{-1/2})
    Ts = np.array([800, 3200, 12800])
    eta0, b, sigma2 = 0.1, 8, 200.0
    b_i = _bounds(S.scheduler_i("diminishing", eta0, b), Ts, sigma2=sigma2)
    zeta_half, euler_gamma = -1.4603545088095868, 0.5772156649015329
    B = eta0 * (2 * np.sqrt(Ts) + zeta_half)
    V = eta0**2 / b * (np.log(Ts) + euler_gamma)
    asym = (2 * 1.0 + sigma2 * V) / ((2 - eta0) * B)
    np.testing.assert_allclose(b_i, asym, rtol=2e-3)
    assert ui25.rate(S.scheduler_i("diminishing", 0.1, 8)).scale == "log(T)/sqrt(T)"


def test_rate_iii_is_geometric_in_stages():
    g = 1.5
    sch = S.scheduler_iii(1e-4, g, 4, 3, K)
    Ms = np.arange(6, 16)
    b = _bounds(sch, Ms)
    slope = np.polyfit(Ms, np.log(b), 1)[0]
    # B_T ∝ γ^M − 1 and (2 − Lη_max) moves by < 1 % over this range (η_max ≤ 0.03)
    assert slope == pytest.approx(-math.log(g), rel=0.02)
    assert ui25.rate(sch).scale == "gamma^-M"


def test_iv_has_smaller_constant_than_ii_from_the_warmup_start():
    """Same decay and batch growth; (iv) decays from η0γ^{M_w} instead of η0, so its
    B_T/T is larger, and with Lη_peak ≪ 2 and V_∞ small the constant lim T·bound is smaller."""
    ii = S.scheduler_ii("cosine", 0.05, 4, 2, K)
    iv = S.scheduler_iv(0.05, 1.5, 2, "cosine", 4, 2, K)
    Mbig = 200
    c_ii = _bounds(ii, [Mbig])[0]
    c_iv = _bounds(iv, [Mbig])[0]
    assert c_iv < c_ii
    # by the leading terms: ratio ≈ [(2 − Lη0) η0] / [(2 − Lη_pk) η_pk] for small σ² effect
    eta_pk = 0.05 * 1.5**2
    pred = (2 - 0.05) * 0.05 / ((2 - eta_pk) * eta_pk)
    assert c_iv / c_ii == pytest.approx(pred, rel=0.1)


def test_conditions():
    with pytest.raises(ParameterError) as e:
        ui25.bound(1.0, L=10.0, sigma2=1.0, B=1.0, V=1.0, eta_max=0.2)
    assert e.value.parameter == "eta_max"
    with pytest.raises(ParameterError) as e:
        ui25.prefix_bound(S.scheduler_i("constant", 0.5, 4).expand_steps(5), 1.0, 4.0, 1.0)
    assert e.value.parameter == "eta_max"
    bad = S.Schedule(S.StageGeometric(0.01, 2.0), S.GeometricBatch(2, 3.0), 2)
    with pytest.raises(ParameterError) as e:
        ui25.check_conditions(1.0, 0.01, bad)
    assert e.value.parameter == "gamma"
    for kw, name in [({"gap": -1.0}, "gap"), ({"sigma2": -1.0}, "sigma2"), ({"B": 0.0}, "B_T")]:
        args = {"gap": 1.0, "L": 1.0, "sigma2": 1.0, "B": 1.0, "V": 1.0, "eta_max": 0.1} | kw
        with pytest.raises(ParameterError) as e:
            ui25.bound(**args)
        assert e.value.parameter == name
    with pytest.raises(ParameterError) as e:
        ui25.sums(SCHEDULERS["i-cosine"]).numeric(0)
    assert e.value.parameter == "stages"
