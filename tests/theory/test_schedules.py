"""Schedules: values against hand-computed formulas, epoch/step expansion, bad input."""

import math

import numpy as np
import pytest
import sympy as sp

from sgdnoise.errors import ParameterError
from sgdnoise.theory import schedules as S


def _vals(rule, U, K=1):
    u = np.arange(U)
    return rule.values(u, U, u // K)


def test_decay_rules_match_their_textbook_formulas():
    # independent references written with math.* scalars (exact to rounding)
    U = 10
    np.testing.assert_allclose(_vals(S.Constant(0.3), U), [0.3] * U, rtol=0, atol=1e-15)
    np.testing.assert_allclose(
        _vals(S.Diminishing(0.5), U), [0.5 / math.sqrt(t + 1) for t in range(U)], rtol=1e-14
    )
    cos = [0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * t / U)) for t in range(U)]
    np.testing.assert_allclose(_vals(S.Cosine(0.1, 0.01), U), cos, rtol=1e-14)
    lin = [0.1 - 0.1 * t / U for t in range(U)]
    np.testing.assert_allclose(_vals(S.Linear(0.1), U), lin, rtol=1e-14, atol=1e-17)
    poly = [0.02 + 0.08 * (1 - t / U) ** 3 for t in range(U)]
    np.testing.assert_allclose(_vals(S.Polynomial(0.1, 0.02, 3), U), poly, rtol=1e-14)


def test_stage_rules_and_warmup():
    r = S.StageGeometric(0.1, 2.0, cap=0.5)
    np.testing.assert_allclose(_vals(r, 8, K=2), [0.1, 0.1, 0.2, 0.2, 0.4, 0.4, 0.5, 0.5])
    b = S.GeometricBatch(3, 2)
    assert b.values(np.arange(4)).tolist() == [3, 6, 12, 24]
    assert b.values(np.arange(2)).dtype == np.int64
    w = S.Warmup(0.1, 2.0, 2, S.Linear(0.8))
    # warm-up stages 0,1 (2 steps each), then a linear decay over the remaining 4 steps
    np.testing.assert_allclose(_vals(w, 8, K=2), [0.1, 0.1, 0.2, 0.2, 0.8, 0.6, 0.4, 0.2])


def test_symbolic_forms_are_the_rules():
    sch = S.scheduler_iii(0.1, 1.5, 4, 3, 2, eta_cap=0.3)
    eta, b = sch.symbolic()
    assert eta.subs(S.m_sym, 0) == sp.Rational(1, 10)
    assert eta.subs(S.m_sym, 5) == sp.Rational(3, 10)  # capped
    assert b.subs(S.m_sym, 3) == 4 * 27
    e = S.Cosine(0.2).symbolic()
    assert sp.simplify(e.subs(S.u_sym, S.U_sym / 2) - sp.Rational(1, 10)) == 0


@pytest.mark.parametrize("n_train", [100, 101, 64])
def test_epoch_expansion_steps_per_epoch(n_train):
    sch = S.scheduler_ii("cosine", 0.1, 8, 2, 2)
    ex = sch.expand(n_train, 7)
    epochs, counts = np.unique(ex.epoch, return_counts=True)
    assert epochs.tolist() == list(range(7))
    for e, c in zip(epochs, counts):
        b = min(8 * 2 ** (e // 2), n_train)
        assert c == math.ceil(n_train / b)
        assert np.all(ex.batch_size[ex.epoch == e] == b)
        # epoch clock: η constant within an epoch, the cosine over epochs
        lr = ex.lr[ex.epoch == e]
        assert np.all(lr == lr[0])
        assert lr[0] == pytest.approx(0.05 * (1 + math.cos(math.pi * e / 7)), rel=1e-14)
    # every epoch sees at least n_train samples, less than one batch more
    per_epoch = np.bincount(ex.epoch, weights=ex.batch_size)
    assert np.all(per_epoch >= n_train) and np.all(per_epoch < n_train + ex.batch_size.max())
    assert ex.lr.dtype == np.float64 and ex.batch_size.dtype == np.int64
    assert ex.epoch.dtype == np.int64
    assert ex.samples[-1] == ex.batch_size.sum()


def test_step_clock_decays_over_all_steps_and_batch_caps_at_n_train():
    sch = S.scheduler_ii("linear", 0.1, 16, 4, 1)
    ex = sch.expand(50, 4, lr_clock="step")
    T = ex.n_steps
    np.testing.assert_allclose(ex.lr, 0.1 * (1 - np.arange(T) / T), rtol=1e-14, atol=1e-17)
    assert ex.batch_size.max() == 50  # 16·4² = 256 capped at the data set size


def test_step_expansion():
    sch = S.scheduler_iv(0.01, 2.0, 2, "constant", 2, 2, 3)
    ex = sch.expand_steps(12)
    assert ex.stage.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert ex.batch_size.tolist() == [2] * 3 + [4] * 3 + [8] * 3 + [16] * 3
    np.testing.assert_allclose(ex.lr, [0.01] * 3 + [0.02] * 3 + [0.04] * 6)
    assert np.all(ex.epoch == 0)
    assert sch.expand_steps(12, stage_length=6).stage.tolist() == [0] * 6 + [1] * 6


@pytest.mark.parametrize(
    "make, parameter",
    [
        (lambda: S.GeometricBatch(8, 1.0), "delta"),
        (lambda: S.GeometricBatch(8, 0.5), "delta"),
        (lambda: S.scheduler_ii("cosine", 0.1, 8, 1.0, 2), "delta"),
        (lambda: S.StageGeometric(0.1, 0.0), "gamma"),
        (lambda: S.StageGeometric(0.1, -2.0), "gamma"),
        (lambda: S.scheduler_iii(0.1, 2.0, 8, 3.0, 2), "gamma"),  # γ² ≥ δ
        (lambda: S.scheduler_iii(0.1, 0.9, 8, 3.0, 2), "gamma"),  # no growth
        (lambda: S.scheduler_ii("cosine", 0.1, 8, 2.0, 0), "stage_length"),
        (lambda: S.scheduler_ii("cosine", 0.1, 8, 2.0, -3), "stage_length"),
        (lambda: S.scheduler_i("cosine", 0.1, 8).expand_steps(10, stage_length=0), "stage_length"),
        (lambda: S.scheduler_iv(0.1, 1.5, 0, "cosine", 8, 2, 2), "warmup_stages"),
        (lambda: S.ConstantBatch(0), "b0"),
        (lambda: S.GeometricBatch(0, 2.0), "b0"),
        (lambda: S.scheduler_i("constant", 0.1, 0), "b0"),
        (lambda: S.Constant(0.0), "eta0"),
        (lambda: S.Diminishing(-1.0), "eta0"),
        (lambda: S.scheduler_iii(0.0, 1.5, 8, 3.0, 2), "eta0"),
        (lambda: S.Cosine(-0.1), "eta_max"),
        (lambda: S.Cosine(0.1, 0.2), "eta_min"),
        (lambda: S.StageGeometric(0.1, 1.5, cap=0.05), "eta_cap"),
        (lambda: S.decay("step", 0.1), "decay"),
        (lambda: S.scheduler_i("cosine", 0.1, 8).expand(0, 3), "n_train"),
        (lambda: S.scheduler_i("cosine", 0.1, 8).expand(10, 0), "epochs"),
        (lambda: S.scheduler_i("cosine", 0.1, 8).expand(10, 3, lr_clock="x"), "lr_clock"),
        (lambda: S.scheduler_i("cosine", 0.1, 8).expand_steps(0), "n_steps"),
    ],
)
def test_bad_input_names_the_parameter(make, parameter):
    with pytest.raises(ParameterError) as err:
        make()
    assert err.value.parameter == parameter
