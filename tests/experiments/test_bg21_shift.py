"""bg21-shift: smoke agrees through the claim interface; on synthetic measurements (fast)
every criterion passes on the theory and fails when an ingredient is broken."""

import json

import numpy as np
import pytest

from sgdnoise.experiments import _bg21, bg21_shift


@pytest.mark.slow
def test_smoke_agrees(smoke_all):
    rec, out = smoke_all["bg21-shift"]
    assert rec["verdict"] == "agree", rec["summary"]
    data = json.loads((out / "result.json").read_text())
    names = {c["name"]: c["decision"] for c in data["criteria"]}
    assert names["domain-loss-falls-with-T"] == "supported"
    assert data["metrics"]["diverged_fraction"] == 0
    assert data["figures"] == ["test_loss_vs_T.png"]


@pytest.fixture(scope="module")
def smoke_theory():
    cfg = bg21_shift.SETTINGS["smoke"]
    train = _bg21.problem(cfg.n, 0)
    tests = bg21_shift.make_test_losses(train, 0)
    return cfg, bg21_shift.theory(train, tests, cfg.temps), bg21_shift.formula_range(train)


def _meas(th, reps, sd, seed=0, **override):
    rng = np.random.default_rng(seed)
    out = {}
    for k, v in th.items():
        base = override.get(k, v["fp"])
        out[k] = base[None, :] + sd * rng.standard_normal((reps, base.size))
    return out


@pytest.mark.parametrize("reps,smoke", [(2, True), (5, False)])
def test_criteria_pass_on_the_theory(smoke_theory, reps, smoke):
    cfg, th, tf = smoke_theory
    js = bg21_shift.analyse(_meas(th, reps, 5e-4), th, cfg.temps, cfg.t_drop, tf, smoke=smoke)
    assert len(js) == 6 and all(j.decision == "supported" for j in js), js


@pytest.mark.parametrize("reps,smoke", [(2, True), (5, False)])
def test_criteria_fail_with_a_broken_ingredient(smoke_theory, reps, smoke):
    cfg, th, tf = smoke_theory
    run = lambda m: {j.name: j.decision for j in bg21_shift.analyse(
        m, th, cfg.temps, cfg.t_drop, tf, smoke=smoke)}  # fmt: skip
    # basin weights frozen at the coldest T: no weight moves to the wide minimum, so the
    # domain-shift loss only grows with ½tr(HC); the sampling loss read with its sign flipped
    w = th["domain"]["fp"]
    frozen = w[0] + (th["domain"]["formula"] - th["domain"]["formula"][0])
    d = run(_meas(th, reps, 5e-4, domain=frozen, sampling=-th["sampling"]["fp"]))
    assert d["domain-loss-falls-with-T"] == "contradicted"
    assert d["sampling-loss-rises-with-T"] == "contradicted"
    assert d["fp-theory-domain"] == d["fp-theory-sampling"] == "contradicted"
    assert d["shift-curvature-sampling"] == "contradicted"
    # the test set shifted by the wrong amount: every value off by a fixed offset
    off = {k: v["fp"] + 0.05 for k, v in th.items()}
    d = run(_meas(th, reps, 5e-4, **off))
    assert d["shift-curvature-domain-small"] == d["fp-theory-domain"] == "contradicted"
