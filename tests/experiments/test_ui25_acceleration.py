"""UI25 `ui25-acceleration`: time to target, its censoring rule, and criteria that fail when
(iii)/(iv) are not faster (or a broken ingredient)."""

import json

import numpy as np
import pandas as pd
import pytest

from sgdnoise.experiments import _ui25_accel_analysis as aa
from sgdnoise.experiments import _ui25_sim as sim
from sgdnoise.experiments import ui25_acceleration as ua
from sgdnoise.experiments.criteria import evaluate

PAIRS = ((2.0, 1.4), (4.0, 1.9))


def test_time_to_target_and_censoring():
    steps, samples = np.arange(5) * 10, np.arange(5) * 40
    g = np.array([5.0, 3.0, 1.0, 0.5, 0.2])
    assert aa.time_to_target(steps, samples, g, 1.0) == (20.0, 80.0, True)
    assert aa.time_to_target(steps, samples, g, 0.1) == (40.0, 160.0, False)


def _frame(speed_x=0.25, censor_x=False, seeds=(0, 1, 2, 3, 4)):
    """(i) runs take 1000 steps / 2000 samples to ε, (ii) 400 / 1600; (iii)/(iv) take
    ``speed_x`` × (ii)'s cost (seed jitter 3%), or never reach ε (``censor_x``)."""
    rng = np.random.default_rng(0)
    rows = []
    for p in sim.PROBLEMS:
        for s in seeds:
            for n in ("(i) constant", "(i) cosine"):
                rows.append(dict(problem=p, pair="", scheduler=n, seed=s, steps=1000.0,
                                 samples=2000.0, reached=n == "(i) cosine", run_steps=2000.0,
                                 run_samples=4000.0))  # fmt: skip
            for pr in PAIRS:
                lab = aa.pair_label(*pr)
                rows.append(dict(problem=p, pair=lab, scheduler="(ii) cosine", seed=s,
                                 steps=400.0, samples=1600.0, reached=True, run_steps=800.0,
                                 run_samples=4000.0))  # fmt: skip
                for x in aa.ACCEL:
                    j = np.exp(0.03 * rng.standard_normal())
                    rows.append(dict(problem=p, pair=lab, scheduler=x, seed=s,
                                     steps=400 * speed_x * j, samples=1600 * speed_x * j,
                                     reached=not censor_x, run_steps=300.0,
                                     run_samples=4000.0))  # fmt: skip
    return pd.DataFrame(rows)


def _decisions(frame):
    return {j.name: j.decision for j in evaluate(aa.criteria(PAIRS), aa.units(frame, PAIRS))}


def test_acceleration_criteria_can_pass_and_fail():
    assert set(_decisions(_frame()).values()) == {"supported"}
    assert set(_decisions(_frame(speed_x=4.0)).values()) == {"contradicted"}


def test_a_censored_accelerating_scheduler_never_counts_as_faster():
    """(iii)/(iv) that never reach ε (their short runs end at 300 steps, before the
    baselines' 400) count at the seed's longest run: not faster, contradicted."""
    d = aa.units(_frame(censor_x=True), PAIRS)
    assert all(np.all(v > 0) for v in d.values())
    assert set(_decisions(_frame(censor_x=True)).values()) == {"contradicted"}


def test_machinery_time_to_target_is_exact_gradient_descent():
    s = ua.AccelSettings(n_data=32, epochs=3, stage=1, chains=4, seeds=(0, 1, 2))
    frame = pd.DataFrame({"run_samples": [96.0, 96.0]})
    d = ua.machinery_units(s, frame, 0)
    got = {j.name: j.decision for j in evaluate(aa.machinery_criteria(), d)}
    assert got == {"target-time-exact": "supported", "samples-processed": "supported"}
    bad = {"target-time-exact": [d["target-time-exact"][0] + 3], "samples-processed": [0.5]}
    got = {j.name: j.decision for j in evaluate(aa.machinery_criteria(), bad)}
    assert set(got.values()) == {"contradicted"}


@pytest.mark.slow
def test_ui25_acceleration_smoke(smoke_all):
    _, out = smoke_all["ui25-acceleration"]
    res = json.loads((out / "result.json").read_text())
    assert res["verdict"] == "agree", res["summary"]
    assert {c["kind"] for c in res["criteria"]} == {"machinery"}
    assert (out / "ui25_acceleration.png").stat().st_size > 10_000
