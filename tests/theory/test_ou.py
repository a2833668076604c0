"""OU and finite-η SGD stationary covariances against independent computations."""

import numpy as np
import pytest
import sympy as sp

from sgdnoise.errors import ParameterError
from sgdnoise.theory import ou


def _spd(rng, d):
    A = rng.standard_normal((d, d))
    return A @ A.T + d * np.eye(d)


@pytest.mark.parametrize("d", [1, 2])
def test_symbolic_solution_solves_lyapunov(d):
    for lr in (False, True):
        H, S, C = ou.lyapunov_symbolic(d, lr)
        resid = H * C + C * H - (ou.eta_ * H * C * H if lr else sp.zeros(d)) - ou.T_ * S
        assert sp.simplify(resid) == sp.zeros(d)


@pytest.mark.parametrize("d", [1, 2])
def test_noise_equal_to_curvature_gives_isotropic_T_over_2(d):
    assert ou.isotropic_when_noise_is_curvature(d)


def test_numeric_nd_matches_dense_kronecker_solve():
    rng = np.random.default_rng(3)
    d, T = 5, 0.07
    H, S = _spd(rng, d), _spd(rng, d)
    C = ou.ou_covariance(H, S, T)
    # independent: vec(HC + CH) = (I⊗H + H⊗I) vec C, solved densely
    A = np.kron(np.eye(d), H) + np.kron(H, np.eye(d))
    ref = np.linalg.solve(A, T * S.reshape(-1)).reshape(d, d)
    np.testing.assert_allclose(C, ref, rtol=1e-10, atol=1e-14)  # both exact up to rounding
    np.testing.assert_allclose(ou.ou_covariance(H, H, T), T / 2 * np.eye(d), atol=1e-12)
    assert ou.ou_covariance(2.0, 3.0, 0.1)[0, 0] == pytest.approx(0.1 * 3.0 / 4.0, rel=1e-14)


def test_sgd_covariance_matches_simulated_linear_sgd():
    """x ← (I − ηH)x − η g, cov g = Σ/B: the stationary covariance of this recursion is what
    sgd_covariance claims; the OU value differs by O(ηH), which this test can see."""
    rng = np.random.default_rng(0)
    H = np.array([[2.0, 0.6], [0.6, 1.0]])
    S = np.array([[1.0, 0.3], [0.3, 2.0]])
    lr, B = 0.3, 4
    T = lr / B
    L = np.linalg.cholesky(S / B)
    n, steps = 40_000, 120  # 120 steps: (1 − 0.3·0.7)^240 ≈ 1e-25 of the start remains
    x = np.zeros((n, 2))
    M = np.eye(2) - lr * H
    for _ in range(steps):
        x = x @ M.T - lr * rng.standard_normal((n, 2)) @ L.T
    emp = np.cov(x.T)
    pred = ou.sgd_covariance(H, S, T, lr)
    se = np.sqrt((pred**2 + np.outer(np.diag(pred), np.diag(pred))) / n)  # Wishart SE
    assert np.all(np.abs(emp - pred) < 5 * se)
    assert np.max(np.abs(ou.ou_covariance(H, S, T) - emp) / se) > 10  # the test has power


def test_bad_input():
    with pytest.raises(ParameterError) as e:
        ou.ou_covariance(1.0, 1.0, 0.0)
    assert e.value.parameter == "T"
    with pytest.raises(ParameterError) as e:
        ou.ou_covariance([[1.0, 0.0], [0.0, -1.0]], 1.0, 0.1)
    assert e.value.parameter == "H"
    with pytest.raises(ParameterError) as e:
        ou.ou_covariance(1.0, [[1.0, 2.0], [0.0, 1.0]], 0.1)
    assert e.value.parameter == "sigma"
    with pytest.raises(ParameterError) as e:
        ou.sgd_covariance(4.0, 1.0, 0.1, 0.5)
    assert e.value.parameter == "lr"
    with pytest.raises(ParameterError) as e:
        ou.sgd_covariance(4.0, 1.0, 0.1, -0.1)
    assert e.value.parameter == "lr"
