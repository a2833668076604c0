"""Finite-sample losses of your own (theory.sample_loss): L_N, ∇L_N and Σ_N against direct
per-sample evaluation, the Potential's minima against the polynomial's roots, any number of
minima, a non-polynomial N-D loss by finite differences, and bad input naming its argument."""

import numpy as np
import pytest
import sympy as sp

from sgdnoise.errors import ParameterError
from sgdnoise.theory.basins import minima
from sgdnoise.theory.finite_sample import FiniteSampleLoss, make_problem
from sgdnoise.theory.potentials import two_minima_1d
from sgdnoise.theory.sample_loss import SampleLoss, sample_loss

th, u, v, a = sp.symbols("theta u v a", real=True)
QUARTIC = ((th - u) ** 2 - 1) ** 2 / 4 + (a + v) * th
TRIPLE = (th - u) ** 2 * ((th - u) ** 2 - 2) ** 2 / 8 + v * th


def _sampler(rng):
    return np.column_stack([0.05 * rng.standard_normal(500), 2.0 * rng.standard_normal(500)])


@pytest.fixture(scope="module")
def quartic():
    return sample_loss(QUARTIC, th, (u, v), sampler=_sampler, params={"a": 0.05}, domain=(-3, 3))


def test_quartic_double_well_matches_per_sample_evaluation(quartic):
    xs = quartic.samples
    assert xs.shape == (500, 2)
    np.testing.assert_array_equal(xs, _sampler(np.random.default_rng(0)))  # seed 0 default
    grid = np.linspace(-2, 2, 9)[:, None]
    U, V = xs[None, :, 0], xs[None, :, 1]
    ell = ((grid - U) ** 2 - 1) ** 2 / 4 + (0.05 + V) * grid  # typed independently
    g = (grid - U) * ((grid - U) ** 2 - 1) + 0.05 + V
    np.testing.assert_allclose(quartic.loss(grid[:, 0]), ell.mean(axis=1), rtol=1e-11)
    np.testing.assert_allclose(quartic.grad(grid[:, 0]), g.mean(axis=1), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(quartic.noise(grid[:, 0]), g.var(axis=1), rtol=1e-9)
    np.testing.assert_allclose(quartic.per_sample_gradients(grid[:, 0]), g, rtol=1e-9, atol=1e-12)
    pot = quartic.potential
    ms = minima(pot)
    assert len(ms) == 2  # refused before as "3 critical points … not two minima"
    # the Potential is exactly (L_N, Σ_N)
    np.testing.assert_allclose(pot.loss_at(grid[:, 0]), ell.mean(axis=1), rtol=1e-11)
    np.testing.assert_allclose(pot.noise_at(grid[:, 0])[0], g.var(axis=1), rtol=1e-9)
    assert ms[0].location[0] < pot.split_offset < ms[1].location[0]
    assert "N=500" in repr(quartic) and len(repr(quartic)) < 200


def test_triple_well_has_three_minima_and_string_loss_reads_the_same():
    data = _sampler(np.random.default_rng(3))
    tri = sample_loss(TRIPLE, th, (u, v), data=data, domain=(-3, 3))
    ms = minima(tri.potential)
    assert len(ms) == 3
    # minima of the population loss at 0, ±√2 move by O(shift_sd + tilt/sqrt(N))
    np.testing.assert_allclose([m.location[0] for m in ms], [-np.sqrt(2), 0, np.sqrt(2)], atol=0.1)
    text = sample_loss(
        "(theta - u)**2*((theta - u)**2 - 2)**2/8 + v*theta", th, (u, v), data=data, domain=(-3, 3)
    )
    np.testing.assert_allclose(text.loss_coeffs, tri.loss_coeffs, rtol=1e-12)


def test_family_is_one_instance_of_the_general_type():
    base = two_minima_1d(k_narrow=4.0, depth_narrow=-0.05, barrier=0.1)
    prob = make_problem(base, 300, shift_sd=0.1, tilt_sd=1.0, seed=1)
    assert isinstance(prob, FiniteSampleLoss) and isinstance(prob, SampleLoss)
    assert prob.grad_coeffs.shape == (300, 6) and prob.base is base
    np.testing.assert_allclose(prob.potential.loss_at(0.3), prob.loss(0.3), rtol=1e-12)


def test_nonpolynomial_2d_loss_by_finite_differences():
    w0, w1, x0, x1, y = sp.symbols("w0 w1 x0 x1 y", real=True)
    ell = sp.log(1 + sp.exp(-y * (w0 * x0 + w1 * x1))) + (w0**2 + w1**2) / 20
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2))
    data = np.column_stack([X, np.sign(X[:, 0] + 0.3 * rng.standard_normal(200))])
    p = sample_loss(ell, (w0, w1), (x0, x1, y), data=data)
    pts = rng.standard_normal((5, 2))
    h = 1e-6
    fd = np.stack(
        [(p.loss(pts + h * e) - p.loss(pts - h * e)) / (2 * h) for e in np.eye(2)], axis=-1
    )
    np.testing.assert_allclose(p.grad(pts), fd, rtol=1e-6, atol=1e-8)
    assert p.noise(pts).shape == (5, 2) and np.all(p.noise(pts) > 0)
    with pytest.raises(ParameterError) as e:
        p.potential  # noqa: B018
    assert e.value.parameter == "loss"


@pytest.mark.parametrize(
    "kw, parameter",
    [
        ({"params": {}}, "params"),  # a has no value
        ({"coords": (th, sp.Symbol("w", real=True))}, "coords"),  # ℓ ignores w
        ({"loss": th**3 + u * th + a}, "loss"),  # unbounded below
        ({"loss": -((th - u) ** 2) + v + a}, "loss"),  # no minimum
        ({"loss": (th - u) ** 2 + a, "domain": (5, 6)}, "loss"),  # no minimum in the domain
        ({"domain": (1, -1)}, "domain"),  # reversed
        ({"loss": "theta**2 +* u"}, "loss"),
        ({"loss": 3}, "loss"),
        ({"coords": "theta"}, "coords"),
        ({"sample_vars": (th,)}, "sample_vars"),
        ({"data": np.zeros((4, 3))}, "data"),
        ({"data": np.full((4, 2), np.nan)}, "data"),
        ({"data": None}, "data"),  # neither data nor sampler
        ({"sampler": _sampler}, "data"),  # both
        ({"data": None, "sampler": 3}, "sampler"),
        ({"data": None, "sampler": lambda rng: rng.random((5, 7))}, "sampler"),
        ({"data": None, "sampler": lambda rng: 1 / 0}, "sampler"),
        ({"params": {"a": float("inf")}}, "params[a]"),
    ],
)
def test_bad_input_names_the_argument(kw, parameter):
    args = dict(loss=QUARTIC, coords=th, sample_vars=(u, v), data=np.zeros((4, 2)))
    args["params"] = {"a": 0.1}
    args.update(kw)
    with pytest.raises(ParameterError) as e:
        sample_loss(args.pop("loss"), args.pop("coords"), args.pop("sample_vars"), **args)
    assert e.value.parameter == parameter
