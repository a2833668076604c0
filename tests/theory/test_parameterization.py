"""The NTK ↔ standard parameterization map: derived symbolically, equal to the named
convention, and checked step for step by an independent numpy SGD simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from sgdnoise.errors import ParameterError
from sgdnoise.theory import conventions
from sgdnoise.theory import parameterization as pz


def test_derived_rate_is_eps_c_squared():
    assert sp.simplify(pz.derive_equivalent_rate() - pz.eps * pz.c**2) == 0
    assert sp.simplify(pz.derive_equivalent_rate() - pz.EQUIVALENT_RATE) == 0
    pz.check_against_convention()  # raises if ε σ_w²/n_in disagrees


def test_numeric_rates_match_convention():
    for fan_in, s2 in [(1, 2.0), (784, 2.0), (300, 1.0)]:
        c = pz.layer_multiplier("ntk", fan_in, sigma_w2=s2)
        assert c == pytest.approx(math.sqrt(s2 / fan_in))
        assert pz.equivalent_standard_lr(0.7, c) == pytest.approx(
            conventions.standard_lr_from_ntk(0.7, fan_in, s2), rel=1e-14
        )
    assert pz.layer_multiplier("mean-field", 64, readout=True) == pytest.approx(1 / 64)
    assert pz.layer_multiplier("mean-field", 64) == pytest.approx(1 / 8)
    assert pz.layer_multiplier("standard", 64) == 1.0
    assert pz.init_std("standard", 50, sigma_w2=2.0) == pytest.approx(math.sqrt(2 / 50))
    assert pz.init_std("ntk", 50) == 1.0


def test_step_for_step_two_layer_net_numpy():
    """A two-layer tanh net in numpy, gradients by hand: SGD on u (NTK, rate ε) and on v = c·u
    (standard, per-layer rate ε c²) give the same effective weights at every step.  float64,
    50 steps: agreement to ~1e-13 relative (rounding only)."""
    rng = np.random.default_rng(0)
    d, h, n = 5, 9, 30
    X, Y = rng.standard_normal((n, d)), rng.standard_normal(n)
    c1, c2 = pz.layer_multiplier("ntk", d), pz.layer_multiplier("ntk", h, sigma_w2=1.0)
    u1, u2 = rng.standard_normal((h, d)), rng.standard_normal(h)
    v1, v2 = c1 * u1, c2 * u2
    eps = 0.3

    def grads(W1, w2, xb, yb):
        z = np.tanh(xb @ W1.T)
        r = z @ w2 - yb
        g2 = z.T @ r / len(yb)
        g1 = ((r[:, None] * w2[None]) * (1 - z**2)).T @ xb / len(yb)
        return g1, g2

    for k in range(50):
        idx = rng.choice(n, 6, replace=False)
        # NTK: gradient w.r.t. u is c·(gradient w.r.t. the effective weight)
        g1, g2 = grads(c1 * u1, c2 * u2, X[idx], Y[idx])
        u1, u2 = u1 - eps * c1 * g1, u2 - eps * c2 * g2
        h1, h2 = grads(v1, v2, X[idx], Y[idx])
        v1 = v1 - pz.equivalent_standard_lr(eps, c1) * h1
        v2 = v2 - pz.equivalent_standard_lr(eps, c2) * h2
        err = max(np.abs(c1 * u1 - v1).max() / np.abs(v1).max(), np.abs(c2 * u2 - v2).max())
        assert err < 1e-12, k
    # the naive map (same rate ε for v) is far off: the check can fail
    assert abs(pz.equivalent_standard_lr(eps, c1) - eps) > 0.1


def test_bad_input():
    with pytest.raises(ParameterError) as e:
        pz.layer_multiplier("mup", 3)
    assert e.value.parameter == "parameterization"
    with pytest.raises(ParameterError) as e:
        pz.layer_multiplier("ntk", 0)
    assert e.value.parameter == "fan_in"
    with pytest.raises(ParameterError) as e:
        pz.equivalent_standard_lr(-1.0, 0.5)
    assert e.value.parameter == "lr"
