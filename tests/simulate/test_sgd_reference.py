"""The one SGD simulator reproduces, bit for bit, what the former constant-SGD kernel
(``simulate.sgd.sgd_chains`` before the unification, commit b43c616) and the former
scheduled kernel (``simulate.schedulers.run_sgd``) returned for the same seeds.

``data/sgd_reference.npz`` was written by that code with exactly the calls below: constant
SGD with and without replacement (records every 30/40 steps, one start per chain), a run
that diverges (η = 0.6 > 2/h at the narrow minimum: every chain's divergence step), and a
scheduler-(ii) run on the noisy quadratic (mean ‖∇f‖² at every step)."""

import numpy as np
import pytest

from sgdnoise.simulate.schedulers import run_sgd
from sgdnoise.simulate.sgd import sgd
from sgdnoise.theory import finite_sample as fs
from sgdnoise.theory import schedules as S
from sgdnoise.theory.potentials import two_minima_1d
from sgdnoise.theory.ui25_problems import noisy_quadratic


@pytest.fixture(scope="module")
def ref(repo_root):
    return np.load(repo_root / "tests" / "simulate" / "data" / "sgd_reference.npz")


@pytest.fixture(scope="module")
def problem():
    base = two_minima_1d(k_narrow=4.0, depth_narrow=-0.05, barrier=0.1)
    return fs.make_problem(base, 1000, shift_sd=0.1, tilt_sd=3.0, seed=0)


CASES = {
    "a": dict(lr=0.05, batch_size=4, n_chains=300, n_steps=120, record_every=30, seed=3),
    "b": dict(
        lr=0.02,
        batch_size=7,
        n_chains=300,
        n_steps=120,
        replacement=False,
        seed=5,
        record_every=40,
    ),  # fmt: skip
    "c": dict(lr=0.6, batch_size=1, n_chains=40, n_steps=60, record_every=1, seed=1),
}


@pytest.mark.parametrize("key", list(CASES))
def test_constant_sgd_equals_the_former_kernel(problem, ref, key):
    kw = dict(CASES[key])
    if key != "c":
        kw["x0"] = np.linspace(-1.5, 1.5, 300)
    r = sgd(problem, **kw)
    np.testing.assert_array_equal(r.positions, ref[f"{key}_positions"])
    np.testing.assert_array_equal(r.records, ref[f"{key}_records"])
    np.testing.assert_array_equal(r.status, ref[f"{key}_status"])
    np.testing.assert_array_equal(r.diverged_step, ref[f"{key}_step"])
    if key == "c":  # the diverging case: every chain reported, none silently non-finite
        assert r.n_diverged == 40 and np.all(r.status_names == "diverged")
        assert r.finite_positions.shape == (0, 1)


def test_scheduled_sgd_matches_the_former_scheduled_kernel(ref):
    """Same random streams and the same sums; only the gradient's algebra is compiled
    differently now (hoisted per-sample constants), so agreement is to rounding."""
    q = run_sgd(
        noisy_quadratic(n_samples=64, seed=3),
        S.scheduler_ii("cosine", 0.5, 2, 2, 10),
        n_steps=40,
        n_chains=40,
        seed=7,
    )
    np.testing.assert_allclose(q.grad_sq, ref["q_grad_sq"], rtol=1e-12)
    np.testing.assert_array_equal(q.diverged_step, ref["q_div"])
