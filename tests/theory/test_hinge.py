"""The hinge-with-margin loss: its two symbolic forms agree, its derivative matches finite
differences, and the weight gradient built by sympy's chain rule matches them too."""

import numpy as np
import pytest
import sympy as sp

from sgdnoise.errors import ParameterError
from sgdnoise.theory import hinge


def test_piecewise_equals_max_form():
    rng = np.random.default_rng(0)
    o = rng.normal(0, 3, 500)
    y = rng.choice([-1.0, 1.0], 500)
    a = rng.uniform(0.1, 10, 500)
    f = sp.lambdify((hinge.o, hinge.y, hinge.alpha), hinge.HINGE_MAX, "numpy")
    for oi, yi, ai in zip(o, y, a):
        assert hinge.hinge_loss(oi, yi, ai) == pytest.approx(f(oi, yi, ai), abs=1e-12)


def test_derivative_matches_finite_differences():
    # central differences with h=1e-6 on a piecewise-linear function are exact up to
    # rounding (~1e-10) away from the kink; points within 1e-3 of the kink are skipped.
    rng = np.random.default_rng(1)
    h = 1e-6
    for _ in range(300):
        o, y, a = rng.normal(0, 2), rng.choice([-1.0, 1.0]), rng.uniform(0.2, 5)
        if abs(a * y * o - 1) < 1e-3:
            continue
        fd = (hinge.hinge_loss(o + h, y, a) - hinge.hinge_loss(o - h, y, a)) / (2 * h)
        assert hinge.hinge_dloss_do(o, y, a) == pytest.approx(fd, abs=1e-7)


def test_zero_subgradient_exactly_on_fitted_set():
    # the kink alpha*y*o = 1 counts as fitted (the stopping rule of SGW23)
    assert hinge.hinge_dloss_do(0.5, 1.0, 2.0) == 0.0
    assert hinge.hinge_dloss_do(0.4999, 1.0, 2.0) == -1.0
    assert hinge.fitted(0.5, 1.0, 2.0)
    assert not hinge.fitted(-0.5, 1.0, 2.0)
    assert hinge.DHINGE_DO.has(hinge.y) and not hinge.DHINGE_DO.args[1][0].has(hinge.alpha)


def test_weight_gradient_chain_rule_matches_finite_differences():
    rng = np.random.default_rng(2)
    d = 5
    g = hinge.gradient_in_weights(d)
    h = 1e-6
    for _ in range(50):
        w, x = rng.normal(size=d), rng.normal(size=d)
        y, a = rng.choice([-1.0, 1.0]), rng.uniform(0.2, 3)
        o = w @ x / np.sqrt(d)
        if abs(a * y * o - 1) < 1e-3:
            continue
        fd = np.array(
            [
                (
                    hinge.hinge_loss((w + h * e) @ x / np.sqrt(d), y, a)
                    - hinge.hinge_loss((w - h * e) @ x / np.sqrt(d), y, a)
                )
                / (2 * h)
                for e in np.eye(d)
            ]
        )
        np.testing.assert_allclose(g(w, x, y, a), fd, atol=1e-7)


def test_bad_input():
    with pytest.raises(ParameterError) as e:
        hinge.hinge_loss(0.1, 1.0, 0.0)
    assert e.value.parameter == "alpha"
    with pytest.raises(ParameterError) as e:
        hinge.hinge_loss(0.1, 0.5, 1.0)
    assert e.value.parameter == "y"
    with pytest.raises(ParameterError) as e:
        hinge.hinge_dloss_do(np.nan, 1.0, 1.0)
    assert e.value.parameter == "o"
    with pytest.raises(ParameterError) as e:
        hinge.loss_in_weights(0)
    assert e.value.parameter == "d"
