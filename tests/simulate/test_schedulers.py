"""Scheduled SGD kernel: exact moments on the quadratic, the UI25 bound, divergence."""

import numpy as np
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.simulate.schedulers import noise_free_trajectory, run_sgd
from sgdnoise.theory import schedules as S
from sgdnoise.theory import ui25
from sgdnoise.theory.ui25_problems import logistic, noisy_quadratic


@pytest.fixture(scope="module")
def quad():
    return noisy_quadratic(n_samples=64, seed=3)


@pytest.fixture(scope="module")
def logi():
    return logistic(n_samples=64, seed=4)


def _exact_grad_sq(prob, ex):
    """E‖∇f(θ_t)‖² for SGD on the quadratic, by the moment recursion (independent of the
    kernel): x = θ − c̄ has mean (1 − η_t h) x and variance (1 − η_t h)² v + η_t² h² Var(c)/b_t
    (b_t samples with replacement), and ∇f = h x."""
    h = prob.values
    var_c = prob.data.var(axis=0)
    m = prob.theta0 - prob.data.mean(axis=0)
    v = np.zeros_like(m)
    out = [np.sum(h**2 * (m**2 + v))]
    for eta, b in zip(ex.lr, ex.batch_size):
        m = (1 - eta * h) * m
        v = (1 - eta * h) ** 2 * v + eta**2 * h**2 * var_c / b
        out.append(np.sum(h**2 * (m**2 + v)))
    return np.asarray(out)


@pytest.mark.parametrize(
    "sched",
    [S.scheduler_i("constant", 0.8, 2), S.scheduler_iii(0.2, 1.5, 1, 3, 15, eta_cap=1.2)],
    ids=["constant", "iii"],
)
def test_quadratic_moments_match_the_exact_recursion(quad, sched):
    ex = sched.expand_steps(60)
    run = run_sgd(quad, ex, n_chains=512, seed=5, record_every=3)
    exact = _exact_grad_sq(quad, ex)[run.steps]
    z = (run.grad_sq - exact) / np.maximum(run.grad_sq_se, 1e-300)
    # 21 recorded steps, each a mean of 512 chains: |z| < 4.5 for all with prob > 0.999
    # (steps are correlated; the first point has no noise and SE 0: compare it exactly)
    assert run.grad_sq[0] == pytest.approx(exact[0], rel=1e-12)
    assert np.all(np.abs(z[1:]) < 4.5), z
    assert run.n_diverged == 0 and np.all(run.n_alive == 512)
    assert run.samples[-1] == ex.batch_size.sum()


def test_results_depend_on_the_seed_only(quad):
    sched = S.scheduler_ii("cosine", 0.5, 2, 2, 10)
    a = run_sgd(quad, sched, n_steps=40, n_chains=40, seed=7, threads=1)
    b = run_sgd(quad, sched, n_steps=40, n_chains=40, seed=7, threads=2)
    c = run_sgd(quad, sched, n_steps=40, n_chains=40, seed=8, threads=2)
    np.testing.assert_array_equal(a.grad_sq, b.grad_sq)
    assert not np.array_equal(a.grad_sq, c.grad_sq)


SCHEDS = {
    "i-cosine": lambda L: S.scheduler_i("cosine", 0.9 / L, 2),
    "ii-linear": lambda L: S.scheduler_ii("linear", 0.9 / L, 2, 2, 40),
    "iii": lambda L: S.scheduler_iii(0.2 / L, 1.5, 2, 3, 40, eta_cap=1.5 / L),
    "iv-cosine": lambda L: S.scheduler_iv(0.2 / L, 1.5, 2, "cosine", 2, 2, 40),
}


@pytest.mark.parametrize("key", list(SCHEDS))
@pytest.mark.parametrize("which", ["quadratic", "logistic"])
def test_measured_min_grad_sq_sits_under_the_bound(quad, logi, key, which):
    prob = quad if which == "quadratic" else logi
    ex = SCHEDS[key](prob.L).expand_steps(200)
    run = run_sgd(prob, ex, n_chains=64, seed=11, record_every=2)
    pb = ui25.prefix_bound(ex, prob.gap, prob.L, prob.sigma2)
    rm = run.running_min()
    # recorded steps ⊂ all steps, so rm ≥ the true min: a conservative comparison; allow
    # 3 standard errors of the chain mean at the step where the running min is attained
    idx = np.array([np.argmin(run.grad_sq[: k + 1]) for k in range(1, run.steps.size)])
    upper = rm[1:] - 3 * run.grad_sq_se[idx]
    assert np.all(upper <= pb[run.steps[1:] - 1])
    assert run.n_diverged == 0


def test_noise_free_quadratic_diverges_once_lr_exceeds_2_over_L():
    prob = noisy_quadratic(n_samples=1)
    sched = S.Schedule(S.StageGeometric(0.2, 1.5), S.GeometricBatch(1, 3), 10, max_batch=4)
    ex = sched.expand_steps(300)
    run = run_sgd(prob, ex, n_chains=4, seed=0, max_abs=1e8)
    _, predicted = noise_free_trajectory(prob.values, prob.theta0, ex.lr, 1e8)
    assert run.n_diverged == run.status.size
    assert np.all(run.diverged_step == predicted)  # noise-free: every chain is the same GD path
    crossing = int(np.argmax(ex.lr > 2 / prob.L))
    assert crossing < predicted
    assert run.n_alive[run.steps >= predicted].sum() == 0
    # the same growth capped below 2/L converges
    capped = S.Schedule(S.StageGeometric(0.2, 1.5, cap=1.9), S.GeometricBatch(1, 3), 10, None, 4)
    ok = run_sgd(prob, capped.expand_steps(300), n_chains=2, seed=0)
    assert ok.n_diverged == 0 and ok.grad_sq[-1] < 1e-6 * ok.grad_sq[0]


@pytest.mark.parametrize(
    "kw, parameter",
    [
        ({"n_chains": 0}, "n_chains"),
        ({"record_every": 0}, "record_every"),
        ({"max_abs": 0.0}, "max_abs"),
        ({"seed": -1}, "seed"),
        ({"schedule": "cosine"}, "schedule"),
        ({"n_steps": None}, "n_steps"),
        ({"problem": "quadratic"}, "problem"),
        ({"schedule": S.Schedule(S.Constant(0.1), S.GeometricBatch(1, 1000), 1)}, "schedule"),
    ],
)
def test_bad_input(quad, kw, parameter):
    args = {"problem": quad, "schedule": S.scheduler_i("constant", 0.1, 2), "n_steps": 5} | kw
    prob = args.pop("problem")
    sched = args.pop("schedule")
    with pytest.raises(ParameterError) as e:
        run_sgd(prob, sched, **args)
    assert e.value.parameter == parameter
