"""Property-based fuzzing of the keyword constructor (hypothesis, derandomized so CI is
reproducible): random polynomial losses, boxes and noise either give a Potential whose
basin masses are finite, non-negative and sum to one, or a ParameterError — never another
exception type, never a silent NaN."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgdnoise.errors import ParameterError
from sgdnoise.theory.basins import basins, laplace_log_weights
from sgdnoise.theory.density import StationaryDensity
from sgdnoise.theory.escape import kramers_time, mean_first_passage_time
from sgdnoise.theory.potentials import potential

x, y = sp.symbols("x y", real=True)
coef = st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 2))
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def one_d(draw):
    """Mostly confining polynomials (random multi-wells; a positive even leading term and a
    box around the origin) so that valid potentials are fuzzed too; the rest arbitrary."""
    mode = draw(st.sampled_from(["wells", "wells", "confining", "confining", "any"]))
    if mode == "wells":  # 2 or 3 wells at random places, tilted
        roots = sorted(round(draw(st.floats(-2.5, 2.5)), 2) for _ in range(draw(st.integers(2, 3))))
        loss = draw(st.floats(0.2, 2)) * sp.prod([(x - r) ** 2 for r in roots])
        loss += round(draw(st.floats(-0.5, 0.5)), 2) * x
        dom = (-4.0, 4.0)
    elif mode == "confining":
        k = draw(st.integers(1, 3))
        top = draw(st.floats(0.1, 2)) * x ** (2 * k)
        loss = top + sum(draw(coef) * x**i for i in range(1, 2 * k))
        half = draw(st.sampled_from([3.0, 4.0, 5.0]))
        dom = (-half + draw(st.floats(-0.5, 0.5)), half)
    else:
        deg = draw(st.integers(1, 6))
        loss = sum(draw(coef) * x**i for i in range(deg + 1))
        lo = draw(st.floats(-4, 1, allow_nan=False))
        dom = (lo, lo + draw(st.sampled_from([0.0, -1.0, 0.5, 2.0, 4.0, 6.0])))
    kind = draw(st.sampled_from(["const", "const", "state", "state", "bad-const", "stray"]))
    if kind == "const":
        noise = draw(st.floats(0.1, 3))
    elif kind == "state":
        noise = draw(st.floats(-0.5, 1)) + draw(st.floats(0, 1)) * x**2
    elif kind == "bad-const":
        noise = draw(st.sampled_from([0.0, -0.5, float("nan")]))
    else:
        noise = 1 + sp.Symbol("b") * x**2  # a symbol without a value
    return loss, dom, noise


def _check_valid(pot, T):
    b = basins(pot)
    masses = StationaryDensity(pot, T).basin_masses()
    assert masses.shape == (len(b),)
    assert np.all(np.isfinite(masses)) and np.all(masses >= 0)
    assert masses.sum() == pytest.approx(1.0, abs=1e-9)
    try:
        lw = laplace_log_weights(pot, T)[1]
    except ParameterError as e:  # a degenerate minimum, or Φ without a minimum near L's
        assert e.parameter in {"potential", "T"}
    else:
        assert np.all(np.isfinite(lw))
    for i, j in b.saddles:
        for a, c in ((i, j), (j, i)):
            for fn in (kramers_time, mean_first_passage_time):
                try:
                    lt = fn(pot, T, a, c, log=True)
                except ParameterError as e:  # Kramers at a flat (degenerate) bottom or top
                    assert fn is kramers_time and e.parameter == "potential"
                    continue
                assert np.isfinite(lt)
                try:
                    t = fn(pot, T, a, c)
                except ParameterError as e:  # beyond float range: refused, never inf
                    assert e.parameter == "T" and lt > 700
                else:
                    assert np.isfinite(t) and t > 0 and np.log(t) == pytest.approx(lt)


@FUZZ
@given(one_d(), st.sampled_from([0.01, 0.05, 0.5, 2.0]))
def test_fuzz_1d_constructor(spec, T):
    loss, dom, noise = spec
    try:
        pot = potential(loss, coords=x, domain=dom, noise=noise)
    except ParameterError as e:
        assert e.parameter in {"loss", "domain", "noise", "params", "coords"}
        assert str(e).startswith(f"invalid {e.parameter}=")
        return
    _check_valid(pot, T)


@st.composite
def two_d(draw):
    cx = [draw(coef) for _ in range(4)] + [draw(st.floats(0.1, 2))]
    cy = [draw(coef) for _ in range(2)] + [draw(st.floats(-0.5, 2))]
    loss = sum(c * x**i for i, c in enumerate(cx)) + sum(c * y**i for i, c in enumerate(cy))
    loss += round(draw(st.floats(-0.5, 0.5)), 2) * x * y
    box = [(-3.0, 3.0), (-3.0, draw(st.sampled_from([3.0, 3.0, -3.0, 1.0])))]
    noise = draw(st.sampled_from([1.0, 1.0, -1.0, 0.5]))
    return loss, box, noise


@settings(max_examples=6, deadline=None, derandomize=True)
@given(two_d())
def test_fuzz_2d_constructor(spec):
    """Construction only (2-D densities cost seconds each; tests/theory/test_basins_nd.py
    checks them against exact answers)."""
    loss, box, noise = spec
    try:
        pot = potential(loss, coords=(x, y), domain=box, noise=noise)
    except ParameterError as e:
        assert e.parameter in {"loss", "domain", "noise"}
        return
    b = basins(pot)
    assert len(b) >= 1
    labels = b.assign(np.array([[0.1, 0.2], [-0.3, 0.4]]))
    assert set(labels.tolist()) <= set(range(len(b)))
