"""True minibatch SGD chains: reproducibility, minibatch-gradient statistics against the
exact Σ_N, the stationary law at small η against the Fokker–Planck density, divergence as
a result, and bad input."""

import numpy as np
import pytest
from scipy import stats

from sgdnoise.errors import ParameterError
from sgdnoise.simulate.sgd import minibatch_gradients, sgd_chains
from sgdnoise.theory import finite_sample as fs
from sgdnoise.theory.conventions import minibatch_covariance
from sgdnoise.theory.density import StationaryDensity
from sgdnoise.theory.potentials import two_minima_1d


@pytest.fixture(scope="module")
def base():
    return two_minima_1d(k_narrow=4.0, depth_narrow=-0.05, barrier=0.1)


@pytest.fixture(scope="module")
def problem(base):
    return fs.make_problem(base, 1000, shift_sd=0.1, tilt_sd=3.0, seed=0)


def test_same_seed_same_output_whatever_the_thread_count(problem):
    kw = dict(lr=0.05, batch_size=4, n_chains=700, n_steps=200, record_every=50, seed=3)
    a = sgd_chains(problem, threads=1, **kw)
    b = sgd_chains(problem, threads=2, **kw)
    c = sgd_chains(problem, threads=2, **{**kw, "seed": 4})
    assert np.array_equal(a.positions, b.positions)
    assert np.array_equal(a.records, b.records, equal_nan=True)
    assert not np.array_equal(a.positions, c.positions)
    assert a.records.shape == (4, 700, 1) and a.diverged_fraction == 0.0
    np.testing.assert_array_equal(a.record_times, 0.05 * np.array([50, 100, 150, 200]))


@pytest.mark.parametrize("replacement", [True, False])
def test_minibatch_gradient_mean_and_covariance(base, replacement):
    """With N = 20 and B = 10 the finite-population factor (N−B)/(N−1) = 0.53 is far from 1,
    so the two formulas are distinguishable; tolerance 5 standard errors of a variance
    (SE² = (m₄ − σ⁴)/n, m₄ measured)."""
    small = fs.make_problem(base, 20, shift_sd=0.1, tilt_sd=1.0, seed=1)
    th, B, n = 0.4, 10, 200_000
    g = minibatch_gradients(small, th, batch_size=B, n_draws=n, replacement=replacement)
    sigma = float(small.noise(th))
    pred = minibatch_covariance(sigma, B, small.n, replacement=replacement)
    other = minibatch_covariance(sigma, B, small.n, replacement=not replacement)
    se_mean = np.sqrt(pred / n)
    assert abs(g.mean() - float(small.grad(th))) < 5 * se_mean
    dev = g - g.mean()
    se_var = np.sqrt((np.mean(dev**4) - np.var(g) ** 2) / n)
    assert abs(np.var(g) - pred) < 5 * se_var
    assert abs(np.var(g) - other) > 20 * se_var  # the test tells the two apart


def test_small_lr_stationary_law_matches_fokker_planck(problem):
    """Chains started from the FP law (inverse CDF) and run for t = 20 ≫ the in-basin
    relaxation time 1/h ≈ 1 stay on it: one-sample KS p-value above 1e-3.  At η = 0.01 the
    O(ηh) discretization bias of the variance is ≈ 2% (sgd_covariance), a KS distance
    ≈ 0.005, below the test's resolution (≈ 0.03 at n = 3000)."""
    T, B = 0.01, 1
    dens = StationaryDensity(problem.potential, T)
    grid = np.linspace(*problem.potential.domain[0], 20001)
    cdf = dens.marginal_cdf(grid)
    u = np.random.default_rng(0).random(3000)
    x0 = np.interp(u, cdf, grid)
    res = sgd_chains(problem, lr=T * B, batch_size=B, n_chains=3000, n_steps=2000, x0=x0, seed=1)
    p = stats.kstest(res.positions[:, 0], lambda x: dens.marginal_cdf(np.asarray(x))).pvalue
    assert p > 1e-3


def test_divergence_is_recorded_not_raised(problem):
    res = sgd_chains(problem, lr=2.0, batch_size=1, n_chains=50, n_steps=100, record_every=1)
    assert res.diverged_fraction == 1.0
    assert np.all(res.diverged_step > 0) and np.all(res.diverged_step <= 100)
    assert np.all(~np.isfinite(res.positions[:, 0]))
    k = int(res.diverged_step[0])
    assert np.all(np.isnan(res.records[k:, 0, 0]))
    ok = sgd_chains(problem, lr=0.01, batch_size=1, n_chains=10, n_steps=10)
    assert np.all(ok.diverged_step == -1) and np.all(ok.status == 0)


def test_bad_input(problem):
    kw = dict(lr=0.1, batch_size=2, n_chains=4, n_steps=3)
    cases = [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 1001, "replacement": False}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": -1.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"n_chains": 0}, "n_chains"),
        ({"n_steps": -1}, "n_steps"),
        ({"x0": float("inf")}, "x0"),
        ({"replacement": "yes"}, "replacement"),
    ]
    for change, name in cases:
        with pytest.raises(ParameterError) as e:
            sgd_chains(problem, **{**kw, **change})
        assert e.value.parameter == name
    with pytest.raises(ParameterError) as e:
        sgd_chains("not a problem", **kw)
    assert e.value.parameter == "problem"
    with pytest.raises(ParameterError) as e:
        minibatch_gradients(problem, float("nan"), batch_size=2, n_draws=3)
    assert e.value.parameter == "theta"
    # B > N is fine with replacement
    assert sgd_chains(problem, **{**kw, "batch_size": 1500}).positions.shape == (4, 1)
