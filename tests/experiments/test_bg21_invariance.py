"""bg21-invariance: smoke agrees through the claim interface; on synthetic statistics
(fast) the criteria pass when equal-T laws agree and fail with a broken ingredient."""

import json

import numpy as np
import pytest

from sgdnoise.experiments import bg21_invariance

BATCHES = (1, 2, 3, 4, 8, 16)
SDE = (2, 3)


@pytest.mark.slow
def test_smoke_agrees(smoke_all):
    rec, out = smoke_all["bg21-invariance"]
    assert rec["verdict"] == "agree", rec["summary"]
    data = json.loads((out / "result.json").read_text())
    assert {c["name"] for c in data["criteria"]} == {
        "equal-T-same-occupation",
        "equal-T-same-spread",
        "laws-part-at-large-eta",
    }
    assert data["figures"] == ["invariance.png"]


def _stats(reps, occ_of_b, spread_of_b, seed=0, sd=0.005):
    rng = np.random.default_rng(seed)
    noise = lambda: sd * rng.standard_normal((reps, len(BATCHES)))
    occ = np.array([occ_of_b(b) for b in BATCHES])[None, :] + noise()
    spr = np.array([spread_of_b(b) for b in BATCHES])[None, :] + noise()
    return {"occupation": occ, "spread": spr}


def _contrast(reps, seed=1, sd=0.005):
    rng = np.random.default_rng(seed)  # the law at 2T: +0.07 wide, +log 2 variance
    return {"occupation": 0.56 + sd * rng.standard_normal(reps),
            "spread": -4.0 + np.log(2) + sd * rng.standard_normal(reps)}  # fmt: skip


def _spread(b):  # linear-SGD log variance, η = 0.02 B, h = 3.6
    return -4.0 - np.log(1 - 0.02 * b * 3.6 / 2)


def _judge(stats, reps, smoke):
    pred = _spread(16) - _spread(1)
    js, _ = bg21_invariance.analyse(stats, _contrast(reps), BATCHES, SDE, 16, pred, 1.15,
                                    smoke=smoke)  # fmt: skip
    return {j.name: j.decision for j in js}


@pytest.mark.parametrize("reps,smoke", [(2, True), (5, False)])
def test_criteria_pass_when_equal_T_laws_agree(reps, smoke):
    d = _judge(_stats(reps, lambda b: 0.49, _spread), reps, smoke)
    assert set(d.values()) == {"supported"}, d


@pytest.mark.parametrize("reps,smoke", [(2, True), (5, False)])
def test_criteria_fail_with_a_broken_ingredient(reps, smoke):
    # minibatch noise not divided by B: the law follows η, not η/B — at B = 2, 3 it is the
    # law at 2T, 3T — and no finite-η breakdown appears (the spread follows T only)
    occ = lambda b: 0.49 + 0.07 * np.log2(b)
    spr = lambda b: -4.0 + np.log(b)
    d = _judge(_stats(reps, occ, spr), reps, smoke)
    assert d["equal-T-same-occupation"] == d["equal-T-same-spread"] == "contradicted"
    # an SGD law that never parts (e.g. the simulator run with a tiny η whatever B says)
    d = _judge(_stats(reps, lambda b: 0.49, lambda b: -4.0), reps, smoke)
    assert d["laws-part-at-large-eta"] == "contradicted"
