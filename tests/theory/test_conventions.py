"""Conventions (DESIGN.md §3): every converter tested both ways, and bad input refused."""

import math

import numpy as np
import pytest
import sympy as sp

from sgdnoise.errors import ParameterError
from sgdnoise.theory import conventions as cv


@pytest.mark.parametrize("lr,b", [(0.1, 10), (1e-3, 512), (2.0, 1)])
def test_temperature_roundtrip(lr, b):
    T = cv.temperature(lr, b)
    assert T == pytest.approx(lr / b, rel=1e-15)
    assert cv.lr_from_temperature(T, b) == pytest.approx(lr, rel=1e-14)
    assert cv.batch_from_temperature(T, lr) == pytest.approx(b, rel=1e-14)


def test_noise_scale_roundtrip_and_limit():
    g = cv.noise_scale(0.05, 50_000, 128)
    assert g == pytest.approx(0.05 * (50_000 / 128 - 1))
    assert cv.lr_from_noise_scale(g, 50_000, 128) == pytest.approx(0.05, rel=1e-13)
    assert cv.temperature_from_noise_scale(g, 50_000, 128) == pytest.approx(0.05 / 128, rel=1e-13)
    # ηN/B is the large-N approximation: relative gap is B/N.
    approx = cv.noise_scale(0.05, 50_000, 128, exact=False)
    assert (approx - g) / approx == pytest.approx(128 / 50_000, rel=1e-12)


def test_mean_field_temperature_roundtrip():
    T = cv.mean_field_temperature(0.5, 8, 128)
    assert T == pytest.approx(0.5 / (8 * 128))
    assert cv.lr_from_mean_field_temperature(T, 8, 128) == pytest.approx(0.5, rel=1e-14)
    # width 1 reduces to the plain temperature
    assert cv.mean_field_temperature(0.5, 8, 1) == cv.temperature(0.5, 8)


def test_diffusion_roundtrip_matrix():
    sigma = np.array([[2.0, 0.3], [0.3, 1.0]])
    D = cv.diffusion(0.01, sigma)
    np.testing.assert_allclose(D, 0.005 * sigma)
    np.testing.assert_allclose(cv.covariance_from_diffusion(D, 0.01), sigma, rtol=1e-15)


def test_minibatch_covariance_against_monte_carlo():
    """Σ/B·(N−B)/(N−1) without replacement, Σ/B with, vs sampling exact per-sample grads."""
    rng = np.random.default_rng(0)
    n, b = 40, 7
    grads = rng.normal(size=n)
    sigma = grads.var()  # (1/N) Σ (g_i − ḡ)²
    for replacement in (True, False):
        if replacement:
            idx = rng.integers(0, n, size=(200_000, b))
        else:
            idx = np.argsort(rng.random((200_000, n)), axis=1)[:, :b]
        means = grads[idx].mean(axis=1)
        pred = cv.minibatch_covariance(sigma, b, n, replacement=replacement)
        # 200k samples: the variance estimate has relative sd sqrt(2/200k) ≈ 0.3%; 2% is > 6 sd.
        assert means.var() == pytest.approx(pred, rel=0.02)


def test_ntk_standard_lr_roundtrip_and_normalized_scale():
    eps = 1.7
    lr = cv.standard_lr_from_ntk(eps, fan_in=256, sigma_w2=2.0)
    assert lr == pytest.approx(eps * 2.0 / 256)
    assert cv.ntk_lr_from_standard(lr, 256, 2.0) == pytest.approx(eps, rel=1e-14)
    g_ntk = cv.normalized_noise_scale(eps, 1000, 10, parameterization="ntk")
    g_std = cv.normalized_noise_scale(lr, 1000, 10, parameterization="standard", width=256)
    assert g_ntk == pytest.approx(eps * 1000 / 10)
    assert g_std == pytest.approx(g_ntk, rel=1e-14)


def test_batch_from_normalized_noise_scale_roundtrip():
    # B = εN/ḡ inverts ḡ = εN/B both ways (P19's B_max with ε = ε_max, ḡ = ḡ_opt).
    for eps, n, b in [(0.3, 50_000, 128), (12.0, 512, 16), (1e-3, 10, 3)]:
        g = cv.normalized_noise_scale(eps, n, b, parameterization="ntk")
        assert cv.batch_from_normalized_noise_scale(g, eps, n) == pytest.approx(b, rel=1e-13)
    assert cv.batch_from_normalized_noise_scale(4.0, 2.0, 100) == pytest.approx(50.0, rel=1e-15)
    for bad, name in [
        (lambda: cv.batch_from_normalized_noise_scale(0.0, 1.0, 10), "g_bar"),
        (lambda: cv.batch_from_normalized_noise_scale(1.0, -1.0, 10), "lr_ntk"),
        (lambda: cv.batch_from_normalized_noise_scale(1.0, 1.0, 0), "n_train"),
    ]:
        with pytest.raises(ParameterError) as e:
            bad()
        assert e.value.parameter == name


def test_symbolic_forms_are_consistent():
    # The exact noise scale divided by the temperature is N − B, symbolically.
    assert sp.simplify(cv.NOISE_SCALE / cv.TEMPERATURE - (cv.N - cv.B)) == 0
    assert sp.simplify(cv.MEAN_FIELD_TEMPERATURE * cv.h - cv.TEMPERATURE) == 0


@pytest.mark.parametrize(
    "call,param",
    [
        (lambda: cv.temperature(0.0, 10), "lr"),
        (lambda: cv.temperature(0.1, -1), "batch_size"),
        (lambda: cv.temperature(math.nan, 1), "lr"),
        (lambda: cv.lr_from_temperature(-1.0, 3), "T"),
        (lambda: cv.noise_scale(0.1, 10, 20), "batch_size"),
        (lambda: cv.noise_scale(0.1, 0, 1), "n_train"),
        (lambda: cv.mean_field_temperature(0.1, 1, 0), "width"),
        (lambda: cv.minibatch_covariance(1.0, 11, 10, replacement=False), "batch_size"),
        (lambda: cv.normalized_noise_scale(0.1, 10, 2, parameterization="muP"), "parameterization"),
        (lambda: cv.normalized_noise_scale(0.1, 10, 2, parameterization="standard"), "width"),
        (lambda: cv.diffusion(0.1, [np.inf]), "sigma"),
    ],
)
def test_bad_input_names_the_parameter(call, param):
    with pytest.raises(ParameterError) as ei:
        call()
    assert ei.value.parameter == param
    assert param in str(ei.value)
