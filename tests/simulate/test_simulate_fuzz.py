"""Property tests (hypothesis) of the public simulator entry points: every input either runs
or raises ParameterError — never another exception type — and a run never hands back a
non-finite state unreported (every particle with status "done" is finite)."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgdnoise.errors import ParameterError
from sgdnoise.simulate.langevin import langevin_ensemble
from sgdnoise.simulate.outcome import DONE, Target
from sgdnoise.simulate.sgd import sgd
from sgdnoise.theory.finite_sample import make_problem
from sgdnoise.theory.potentials import two_minima_1d
from sgdnoise.theory.sample_loss import sample_loss

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
BASE = two_minima_1d(k_narrow=4.0, depth_narrow=-0.05, barrier=0.1)
PROBLEM = make_problem(BASE, 200, shift_sd=0.1, tilt_sd=1.0, seed=0)

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-3, max_value=3),
    st.integers(min_value=-5, max_value=300),
    st.just(True),
    st.none(),
    st.text(max_size=3),
)
small_ints = st.one_of(st.integers(min_value=-3, max_value=40), numbers)
points = st.one_of(
    numbers,
    st.lists(st.floats(min_value=-4, max_value=4), min_size=0, max_size=5),
    st.lists(st.floats(allow_nan=True), min_size=1, max_size=3),
)
targets = st.one_of(
    st.none(),
    st.builds(Target.crossing, st.floats(min_value=-3, max_value=3)),
    st.builds(Target.interval, st.floats(-3, 0), st.floats(0, 3)),
    st.builds(Target.loss_below, st.floats(-1, 1)),
    st.just((0.0, 1.0)),
)


def _ok(res) -> None:
    done = res.status == DONE
    assert np.all(np.isfinite(res.positions[done]))
    assert np.all(np.isnan(res.first_passage) == (res.first_passage_step < 0))


@SETTINGS
@given(
    lr=st.one_of(st.floats(min_value=1e-4, max_value=5.0), numbers),
    batch_size=small_ints,
    n_chains=small_ints,
    n_steps=small_ints,
    x0=points,
    replacement=st.one_of(st.booleans(), numbers),
    record_every=small_ints,
    max_abs=st.one_of(st.just(math.inf), st.floats(min_value=0.5, max_value=10), numbers),
    target=targets,
    seed=small_ints,
    record=st.one_of(st.sampled_from([("positions",), ("grad_sq",), (), ["positions"]]), numbers),
)
def test_sgd_runs_or_raises_parameter_error(
    lr, batch_size, n_chains, n_steps, x0, replacement, record_every, max_abs, target, seed, record
):
    try:
        res = sgd(
            PROBLEM, lr=lr, batch_size=batch_size, n_chains=n_chains, n_steps=n_steps, x0=x0,
            replacement=replacement, record_every=record_every, max_abs=max_abs,
            first_passage=target, seed=seed, threads=1, record=record,
        )  # fmt: skip
    except ParameterError:
        return
    _ok(res)
    assert res.positions.shape == (n_chains, 1)
    assert np.all(np.isnan(res.grad_sq_chains) | (res.grad_sq_chains >= 0))


@SETTINGS
@given(
    T=st.one_of(st.floats(min_value=1e-3, max_value=5), numbers),
    dt=st.one_of(st.floats(min_value=1e-4, max_value=1.0), numbers),
    n_particles=small_ints,
    n_steps=small_ints,
    x0=points,
    record_every=small_ints,
    target=targets,
    stop=st.one_of(st.booleans(), numbers),
)
def test_langevin_runs_or_raises_parameter_error(
    T, dt, n_particles, n_steps, x0, record_every, target, stop
):
    try:
        res = langevin_ensemble(
            BASE, T, n_particles=n_particles, dt=dt, n_steps=n_steps, x0=x0,
            record_every=record_every, first_passage=target, stop_at_target=stop, threads=1,
        )  # fmt: skip
    except ParameterError:
        return
    _ok(res)
    assert np.all(np.isfinite(res.occupation))


th, u = sp.symbols("theta u", real=True)


@SETTINGS
@given(
    loss=st.sampled_from(
        [(th - u) ** 2, (th - u) ** 4 - (th - u) ** 2, th**3 + u, -(th**2) + u, "theta**2*u", "(("]
    ),
    data=st.one_of(
        st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=6),
        st.lists(st.floats(min_value=0.1, max_value=2), min_size=1, max_size=6),
        numbers,
    ),
    domain=st.one_of(
        st.none(), st.tuples(st.floats(allow_nan=True), st.floats(allow_nan=True)), numbers
    ),
)
def test_sample_loss_constructor_builds_or_raises_parameter_error(loss, data, domain):
    try:
        p = sample_loss(loss, th, u, data=data, domain=domain)
    except ParameterError:
        return
    assert np.all(np.isfinite(p.loss(np.linspace(-1, 1, 5))))
    assert p.n == len(data)


@pytest.mark.parametrize("bad", [None, "problem", 3, object()])
def test_not_a_problem(bad):
    with pytest.raises(ParameterError) as e:
        sgd(bad, lr=0.1, batch_size=1, n_chains=1, n_steps=1)
    assert e.value.parameter == "problem"
