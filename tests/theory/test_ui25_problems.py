"""The UI25 test problems: L, σ², f* computed from the problem, checked independently."""

import numpy as np
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.theory.ui25_problems import logistic, noisy_quadratic


def _fd_hessian(prob, th, h=1e-5):
    d = prob.dim
    H = np.empty((d, d))
    for j in range(d):
        e = np.zeros(d)
        e[j] = h
        H[:, j] = (prob.full_grad(th + e) - prob.full_grad(th - e)) / (2 * h)
    return 0.5 * (H + H.T)


@pytest.fixture(scope="module")
def problems():
    return [noisy_quadratic(n_samples=64, seed=1), logistic(n_samples=64, seed=2)]


def test_gradient_is_the_derivative_of_the_loss(problems):
    rng = np.random.default_rng(0)
    for prob in problems:
        th = rng.normal(size=prob.dim)
        fd = np.array(
            [(prob.f(th + 1e-6 * e) - prob.f(th - 1e-6 * e)) / 2e-6 for e in np.eye(prob.dim)]
        )
        # central differences: O(h²)·f''' ≈ 1e-12 plus rounding 1e-16/1e-6 = 1e-10
        np.testing.assert_allclose(prob.full_grad(th), fd, atol=1e-8)


def test_L_bounds_the_hessian_everywhere_and_is_attained(problems):
    rng = np.random.default_rng(1)
    for prob in problems:
        top = [
            np.linalg.eigvalsh(_fd_hessian(prob, rng.normal(size=prob.dim) * 2)).max()
            for _ in range(10)
        ]
        # finite-difference Hessian error ~1e-9; L must dominate every sampled λmax
        assert max(top) <= prob.L + 1e-7
    q, lg = problems
    # quadratic: Hessian = diag(h) everywhere; logistic: at θ = 0, s(1−s) = 1/4 exactly
    assert np.linalg.eigvalsh(_fd_hessian(q, np.zeros(q.dim))).max() == pytest.approx(q.L, 1e-7)
    assert np.linalg.eigvalsh(_fd_hessian(lg, np.zeros(lg.dim))).max() == pytest.approx(
        lg.L, rel=1e-7
    )


def test_sigma2_is_the_variance_bound(problems):
    q, lg = problems
    rng = np.random.default_rng(2)
    for _ in range(10):
        th = rng.normal(size=4) * 5
        # quadratic: exact and constant in θ (up to rounding)
        assert q.grad_variance(th) == pytest.approx(q.sigma2, rel=1e-12)
        assert lg.grad_variance(th) <= lg.sigma2
    # at large |θ| every sample with y θ·x < 0 has |σ| → 1, so the bound is nearly tight
    # for θ orthogonal to the planted direction (half the signs wrong) it is a sizeable part
    assert lg.grad_variance(50.0 * np.array([1.0, -1.0, 1.0, -1.0])) > 0.2 * lg.sigma2


def test_f_star_is_the_minimum(problems):
    rng = np.random.default_rng(3)
    for prob in problems:
        assert np.linalg.norm(prob.full_grad(prob.theta_star)) < 1e-10
        assert prob.f(prob.theta_star) == pytest.approx(prob.f_star, abs=1e-14)
        for _ in range(20):
            assert prob.f(prob.theta_star + 0.1 * rng.normal(size=prob.dim)) > prob.f_star
        assert prob.gap > 0


def test_noise_free_quadratic():
    q = noisy_quadratic(n_samples=1)
    assert q.sigma2 == 0.0 and q.f_star == 0.0 and q.name == "noise-free quadratic"


@pytest.mark.parametrize(
    "make, parameter",
    [
        (lambda: noisy_quadratic(curvatures=(1.0, -1.0)), "curvatures"),
        (lambda: noisy_quadratic(n_samples=0), "n_samples"),
        (lambda: noisy_quadratic(noise=-1.0), "noise"),
        (lambda: logistic(ridge=0.0), "ridge"),
        (lambda: logistic(dim=0), "dim"),
        (lambda: logistic(n_samples=1), "n_samples"),
    ],
)
def test_bad_input(make, parameter):
    with pytest.raises(ParameterError) as e:
        make()
    assert e.value.parameter == parameter
