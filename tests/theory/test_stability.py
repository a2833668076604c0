"""GD stability on quadratics: the derived threshold 2/λmax against direct iteration."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from sgdnoise.errors import ParameterError
from sgdnoise.theory import stability as st


def test_derivation():
    assert sp.simplify(st.derive_critical_lr() - 2 / st.lam) == 0
    assert sp.simplify(st.EOS_SHARPNESS - 2 / st.eta) == 0
    assert st.critical_lr(4.0) == 0.5 and st.eos_sharpness(0.5) == 4.0
    assert st.gd_multiplier(0.1, 3.0) == pytest.approx(0.7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_threshold_against_gd_iteration(seed):
    """GD on ½ xᵀHx with a random SPD H: 1% under 2/λmax the iterates shrink, 1% over they
    grow.  The top direction's factor is |1 − ηλ| = 0.98 or 1.02 per step, so after 2000
    steps the norm changes by 0.98^2000 ≈ 3e-18 or 1.02^2000 ≈ 1.6e17 — unambiguous."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((20, 20))
    H = A @ A.T / 20 + 0.1 * np.eye(20)
    lmax = np.linalg.eigvalsh(H)[-1]
    eta_c = st.critical_lr(lmax)
    x0 = rng.standard_normal(20)
    for factor, grows in ((0.99, False), (1.01, True)):
        x = x0.copy()
        for _ in range(2000):
            x = x - factor * eta_c * (H @ x)
        assert (np.linalg.norm(x) > np.linalg.norm(x0)) == grows
        assert st.is_stable(factor * eta_c, lmax) == (not grows)


def test_negative_curvature_is_unstable():
    assert not st.is_stable(0.1, -1.0)


def test_bad_input():
    with pytest.raises(ParameterError) as e:
        st.critical_lr(0.0)
    assert e.value.parameter == "lambda_max"
    with pytest.raises(ParameterError) as e:
        st.eos_sharpness(-1)
    assert e.value.parameter == "lr"
