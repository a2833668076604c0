"""Event-driven perceptron SGD: its update is the sympy hinge gradient, it stops exactly when
everything is fitted, it is seeded, and it rejects bad input naming the parameter."""

import numpy as np
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.simulate import perceptron as sim
from sgdnoise.simulate.perceptron_reference import sgd_step
from sgdnoise.theory import hinge
from sgdnoise.theory.perceptron import sample_inputs


def test_update_is_the_sympy_gradient():
    # one plain step == w - (eta/B) sum_batch grad_w l from sympy's chain rule (to rounding)
    rng = np.random.default_rng(0)
    d = 4
    grad = hinge.gradient_in_weights(d)
    for _ in range(40):
        X, y = sample_inputs(12, d, rng.uniform(-0.5, 3), rng)
        Z = np.ascontiguousarray(X * (y / np.sqrt(d))[:, None])
        w = rng.normal(0, 2, d)
        alpha = rng.uniform(0.3, 3)
        B = int(rng.integers(1, 12))
        eta = rng.uniform(0.01, 5)
        batch = rng.permutation(12)
        expect = w - (eta / B) * sum(grad(w, X[i], y[i], alpha) for i in batch[:B])
        got = w.copy()
        sgd_step(got, Z, batch, B, eta / B, alpha)
        np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("chi", [0.0, 3.0])
@pytest.mark.parametrize("T", [0.05, 20.0])
def test_stops_exactly_when_all_fitted(chi, T):
    r = sim.simulate(200, 8, chi, T, alpha=2.0, batch_size=3, seed=4, n_test=0)
    assert r.converged
    Z, _ = sim.make_data(200, 8, chi, 4)
    margins = Z @ r.dw
    assert np.all(2.0 * margins >= 1.0)
    assert r.t_star == pytest.approx(r.lr * r.steps)
    assert r.lr == pytest.approx(T * 3)


def test_checkpoints_and_monotone_signal():
    r0 = sim.simulate(300, 6, 1.0, 5.0, batch_size=2, seed=1, n_test=2000)
    ck = np.unique(np.geomspace(1, 2 * r0.steps, 12).astype(np.int64))
    r = sim.simulate(300, 6, 1.0, 5.0, batch_size=2, seed=1, checkpoints=ck, n_test=2000)
    # same seed, same run: checkpoints do not perturb the trajectory
    assert r.steps == r0.steps and np.allclose(r.dw, r0.dw)
    assert np.all(np.diff(r.checkpoint_dw1) >= 0)  # Δw_1 never decreases (z_1 = |x_1| >= 0)
    after = ck >= r.steps
    assert np.allclose(r.checkpoint_dw1[after], r.dw1)
    # fresh-point test error agrees with the exact formula (2000 points: sd <= 0.011)
    assert abs(r.test_error - r.test_error_exact) < 0.05


def test_seeded_and_method_share_data():
    a = sim.simulate(100, 5, 0.0, 2.0, batch_size=2, seed=7, n_test=0)
    b = sim.simulate(100, 5, 0.0, 2.0, batch_size=2, seed=7, n_test=0)
    c = sim.simulate(100, 5, 0.0, 2.0, batch_size=2, seed=8, n_test=0)
    assert a.steps == b.steps and np.array_equal(a.dw, b.dw)
    assert not np.array_equal(a.dw, c.dw)


def test_caps():
    r = sim.simulate(2000, 8, 0.0, 10.0, batch_size=1, seed=0, max_steps=500, n_test=0)
    assert r.status == "max_steps" and r.steps == 500
    rr = sim.simulate(
        2000, 8, 0.0, 10.0, batch_size=1, seed=0, max_steps=500, method="reference", n_test=0
    )
    assert rr.status == "max_steps" and rr.steps == 500
    r = sim.simulate(2000, 8, 0.0, 10.0, batch_size=1, seed=0, max_updates=30, n_test=0)
    assert r.status == "max_updates" and r.n_updates == 30


def test_full_batch_is_gradient_descent():
    # B = P: every step uses every unfitted point, so it is GD on the hinge loss; the event
    # simulator must then never skip and count one step per update.
    r = sim.simulate(50, 4, 0.0, 0.01, batch_size=50, seed=2, n_test=0)
    assert r.converged and r.steps == r.n_updates


def test_continue_from_state():
    # a finished state continued is already finished; a state from mid-run continues to a
    # fitted end with a step count that starts from the given one
    r = sim.simulate(500, 6, 0.0, 3.0, batch_size=2, seed=3, n_test=0)
    cont = sim.simulate(
        500, 6, 0.0, 3.0, batch_size=2, seed=3, initial_dw=r.dw, initial_steps=r.steps, n_test=0
    )
    assert cont.steps == r.steps and cont.n_updates == 0
    mid = sim.simulate(500, 6, 0.0, 3.0, batch_size=2, seed=3, max_updates=10, n_test=0)
    cont = sim.simulate(
        500,
        6,
        0.0,
        3.0,
        batch_size=2,
        seed=3,
        initial_dw=mid.dw,
        initial_steps=mid.steps,
        n_test=0,
    )
    assert cont.converged and cont.steps > mid.steps and cont.dw1 >= mid.dw1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"chi": -1.0}, "chi"),
        ({"chi": -3.0}, "chi"),
        ({"d": 1}, "d"),
        ({"P": 0}, "P"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 11}, "batch_size"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": -1.0}, "alpha"),
        ({"T": 0.0}, "T"),
        ({"T": -2.0}, "T"),
        ({"method": "fast"}, "method"),
        ({"checkpoints": [5, 3]}, "checkpoints"),
        ({"initial_dw": [1.0]}, "initial_dw"),
    ],
)
def test_bad_input(kwargs, name):
    args = {"P": 10, "d": 3, "chi": 0.0, "T": 1.0}
    args.update({k: kwargs.pop(k) for k in list(kwargs) if k in args})
    with pytest.raises(ParameterError) as e:
        sim.simulate(**args, **kwargs)
    assert e.value.parameter == name


@pytest.mark.parametrize(
    ("P", "U", "B"), [(50, 3, 10), (50, 40, 10), (1000, 600, 300), (20, 15, 8)]
)
def test_skip_and_batch_laws(P, U, B):
    # p0 = C(P-U,B)/C(P,B) against scipy, and the conditional K >= 1 sampler by chi-square
    # on 20000 draws (cells with expected count <= 5 lumped; level 1e-3).
    from scipy import stats

    h = stats.hypergeom(P, U, B)
    lp = sim._log_p0(P, U, B)
    assert np.exp(lp) == pytest.approx(h.pmf(0), rel=1e-9, abs=1e-300)
    sim.seed_numba(0)
    ks = np.array([sim._hypergeom_at_least_one(P, U, B, lp) for _ in range(20000)])
    k = np.arange(1, min(U, B) + 1)
    pm = h.pmf(k) / (1 - h.pmf(0))
    obs = np.array([(ks == kk).sum() for kk in k])
    keep = pm * ks.size > 5
    # the thin tails are lumped into one extra cell
    o = np.append(obs[keep], obs[~keep].sum())
    e = np.append(pm[keep], pm[~keep].sum()) * ks.size
    o, e = (o, e) if e[-1] > 0 else (o[:-1], e[:-1])
    p = stats.chisquare(o, e * o.sum() / e.sum()).pvalue
    assert p > 1e-3


def test_event_update_is_the_sympy_gradient_full_batch():
    # with B = P the batch is not random, so the event kernel's first two updates must equal
    # plain steps, whose update is checked against sympy above
    P, d, T, alpha = 12, 4, 0.7, 1.5
    Z, _ = sim.make_data(P, d, 1.0, 5)
    w = np.zeros(d)
    for n_up in (1, 2):
        sgd_step(w, Z, np.arange(P), P, T, alpha)
        r = sim.simulate(
            P, d, 1.0, T, alpha=alpha, batch_size=P, seed=5, max_updates=n_up, n_test=0
        )
        assert r.n_updates == n_up
        np.testing.assert_allclose(r.dw, w, rtol=1e-12, atol=1e-12)
