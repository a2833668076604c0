"""Code generation from sympy and the Langevin ensemble: values, reproducibility, statistics."""

from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

from sgdnoise.errors import ParameterError
from sgdnoise.simulate import codegen
from sgdnoise.simulate.langevin import compile_potential, langevin_ensemble
from sgdnoise.theory.potentials import Potential, two_minima_1d, two_minima_2d


def test_hoisting_preserves_values():
    x, a, b = sp.symbols("x a b", real=True)
    exprs = [sp.sin(a * b) * x**3 + sp.exp(a) * x + b**2, sp.sqrt(a**2 + b * x**2)]
    new, inv = codegen.hoist_invariants(exprs, [x])
    assert all(not (e.free_symbols & {a, b}) for e in new)
    vals = {a: 0.7, b: 1.3}
    csub = {s: e.subs(vals) for s, e in inv}
    for xv in (-2.0, 0.3, 1.7):
        for e0, e1 in zip(exprs, new, strict=True):
            assert float(e1.subs(csub).subs(x, xv)) == pytest.approx(
                float(e0.subs(vals).subs(x, xv))
            )


@pytest.mark.parametrize("pot", [two_minima_1d(kappa=0.5), two_minima_2d()], ids=["1d", "2d"])
def test_generated_drift_and_noise_match_sympy(pot):
    mod = compile_potential(pot)
    c = np.empty(mod.N_DERIVED)
    mod.prepare(pot.param_vector, c)
    rng = np.random.default_rng(0)
    grads = pot.grad_fns()
    for _ in range(20):
        z = rng.uniform(-2, 2, size=pot.dim)
        g = np.array(mod.drift(z, c))
        s = np.array(mod.noise_sd(z, c))
        want_g = [-f(*z, *pot.values) for f in grads]
        want_s = np.sqrt([np.asarray(v, float) for v in pot.noise_at(*[np.array(t) for t in z])])
        np.testing.assert_allclose(g, want_g, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(s, want_s.ravel(), rtol=1e-12)


def test_one_kernel_per_family():
    a = compile_potential(two_minima_1d())
    b = compile_potential(two_minima_1d(k_narrow=6.0, barrier=0.25))
    assert a is b  # parameters are runtime arguments


def test_same_seed_same_output_any_thread_count():
    pot = two_minima_1d()
    kw = dict(n_particles=3000, dt=0.01, n_steps=200, seed=7, record_every=50)
    r1 = langevin_ensemble(pot, 0.5, threads=1, **kw)
    r2 = langevin_ensemble(pot, 0.5, threads=2, **kw)
    r3 = langevin_ensemble(pot, 0.5, threads=2, **{**kw, "seed": 8})
    np.testing.assert_array_equal(r1.positions, r2.positions)
    np.testing.assert_array_equal(r1.occupation, r2.occupation)
    assert not np.array_equal(r1.positions, r3.positions)
    assert r1.occupation.shape == (4,) and r1.times[-1] == pytest.approx(2.0)


def test_ou_variance_is_the_exact_discrete_value():
    """On L = kθ²/2 Euler–Maruyama is an AR(1) with stationary variance
    Tσ²/(k(2 − k dt)) exactly; 40k independent particles estimate it to ±0.7% (1 sd)."""
    th, k = sp.Symbol("theta", real=True), sp.Symbol("k", positive=True)
    s2 = sp.Symbol("sigma2", positive=True)
    pot = Potential(
        "quadratic", (th,), (k, s2), k * th**2 / 2, (s2,), (2.0, 1.5), ((-10.0, 10.0),), (1.0,), 0.0
    )
    T, dt = 0.3, 0.05
    r = langevin_ensemble(pot, T, n_particles=40_000, dt=dt, n_steps=400, x0=[0.0], seed=1)
    want = T * 1.5 / (2.0 * (2 - 2.0 * dt))
    assert r.positions.var() == pytest.approx(want, rel=0.03)  # > 4 sd
    assert abs(r.positions.mean()) < 4 * np.sqrt(want / 40_000)


def test_state_dependent_noise_is_ito():
    """Pure noise dθ = sqrt(TΣ(θ)) dW with Σ = 1 + θ²: under Itô the mean stays put exactly
    (zero drift), under Stratonovich it would drift by ¼TΣ'(θ) = Tθ/2."""
    th = sp.Symbol("theta", real=True)
    pot = Potential(
        "flat", (th,), (), sp.Integer(0) * th, (1 + th**2,), (), ((-50.0, 50.0),), (1.0,), 0.0
    )
    r = langevin_ensemble(pot, 0.1, n_particles=50_000, dt=0.01, n_steps=100, x0=[1.0], seed=3)
    sd = r.positions.std() / np.sqrt(50_000)
    assert abs(r.positions.mean() - 1.0) < 4 * sd  # Stratonovich would give ≈ 1.05


@pytest.mark.parametrize(
    "kw,param",
    [
        (dict(T=0.0), "T"),
        (dict(T=-1.0), "T"),
        (dict(dt=0.0), "dt"),
        (dict(dt=float("inf")), "dt"),
        (dict(dt=float("nan")), "dt"),
        (dict(n_particles=0), "n_particles"),
        (dict(n_steps=-1), "n_steps"),
        (dict(threads=0), "threads"),
        (dict(x0=[0.0, 1.0]), "x0"),
    ],
)
def test_bad_input(kw, param):
    args = dict(T=0.5, n_particles=10, dt=0.01, n_steps=5) | kw
    T = args.pop("T")
    with pytest.raises(ParameterError) as e:
        langevin_ensemble(two_minima_1d(), T, **args)
    assert e.value.parameter == param


def test_potential_without_minimum_is_refused():
    pot = replace(two_minima_1d(), domain=((1.5, 2.5),))
    with pytest.raises(ParameterError) as e:
        langevin_ensemble(pot, 0.5, n_particles=10, dt=0.01, n_steps=5)
    assert e.value.parameter == "potential"
