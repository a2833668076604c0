"""Claim kcl23-eos: the smoke run agrees (λmax within 10% of 2/η after sharpening from
below), and each criterion fails on a trace where GD does not reach the edge (fast)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sgdnoise.experiments import kcl23_eos as E
from sgdnoise.experiments.criteria import verdict


@pytest.mark.slow
def test_kcl23_eos_smoke(smoke_all):
    rec, out = smoke_all["kcl23-eos"]
    assert rec["verdict"] == "agree"
    m = rec["metrics"]
    assert m["two_over_lr"] == pytest.approx(2 / m["lr"])
    crit = {c["name"]: c for c in rec["criteria"]}
    assert set(crit) == {"at-edge", "starts-below"}
    assert abs(crit["at-edge"]["estimate"] - 1) <= E.MARGIN
    assert crit["starts-below"]["estimate"] < E.START  # GD did the sharpening
    assert m["diverged"] == 0.0
    saved = json.loads((out / "result.json").read_text())
    assert saved["figures"] == ["kcl23_eos.png"]
    assert "λmax" in (out / "report.md").read_text()


def _run(s, start, late, seed=0, diverged=False):
    """A synthetic λmax trace: ``start``·2/η at step 0, ``late``·2/η (± 2%) from mid-run."""
    edge = 2 / s.lr
    rng = np.random.default_rng(seed)
    steps = range(0, s.steps + 1, s.every)
    trace = [
        (t, edge * (start if t < s.steps / 2 else late * (1 + 0.02 * rng.standard_normal())), 1.0)
        for t in steps
    ]
    return {"trace": trace, "lambda0": edge * start, "diverged": diverged, "name": "synthetic"}


def test_smoke_machinery_can_fail():
    s = E.SETTINGS["smoke"]
    assert verdict(E.analyse([_run(s, 0.5, 1.0)], s, "smoke")[0]) == "agree"
    stuck = {j.name: j.decision for j in E.analyse([_run(s, 0.5, 0.5)], s, "smoke")[0]}
    assert stuck == {"at-edge": "contradicted", "starts-below": "supported"}
    from_above = {j.name: j.decision for j in E.analyse([_run(s, 1.3, 1.0)], s, "smoke")[0]}
    assert from_above == {"at-edge": "supported", "starts-below": "contradicted"}
    diverged = E.analyse([_run(s, 0.5, 1.0, diverged=True)], s, "smoke")[0]
    assert verdict(diverged) == "disagree"


def test_cpu_equivalence_and_sharpening():
    s = E.SETTINGS["cpu"]
    good = [_run(s, 0.6, 1.0, seed) for seed in range(s.seeds)]
    judged, metrics = E.analyse(good, s, "cpu")
    assert {j.name: j.decision for j in judged} == {"at-edge": "supported", "sharpens": "supported"}
    assert metrics["ratio_to_two_over_lr"] == pytest.approx(1.0, abs=0.03)
    short = [_run(s, 0.6, 0.7, seed) for seed in range(s.seeds)]  # stops 30% short of 2/η
    assert {j.name: j.decision for j in E.analyse(short, s, "cpu")[0]}["at-edge"] == (
        "contradicted"
    )
    falls = [_run(s, 1.5, 1.0, seed) for seed in range(s.seeds)]  # catapults down to 2/η
    assert {j.name: j.decision for j in E.analyse(falls, s, "cpu")[0]}["sharpens"] == (
        "contradicted"
    )
    # a diverged seed has no ratio: it is left out (and the rest still decide)
    mixed = good[:2] + [_run(s, 0.6, 1.0, 9, diverged=True)]
    judged, metrics = E.analyse(mixed, s, "cpu")
    assert metrics["diverged"] == 1 and judged[0].n == 2 and judged[0].decision == "undecided"
    assert math.isfinite(metrics["ratio_to_two_over_lr"])


def test_seeds_run_through_the_store_and_resume(tmp_path, monkeypatch):
    """Each seed is one run in the claim's sweeps store: the trace read back is the one a
    direct :func:`gd_run` gives (float64 round trip), and a second call resumes with
    nothing to train."""
    from dataclasses import replace

    from sgdnoise.experiments.runner import RunContext
    from sgdnoise.sweeps import Store

    s = replace(E.SETTINGS["smoke"], n_train=64, width=16, steps=60, every=20, seeds=2)
    monkeypatch.setitem(E.SETTINGS, "smoke", s)
    ctx = RunContext("kcl23-eos", "smoke", tmp_path, progress=False)
    res = E.run(ctx)  # the smoke criteria judge seed 0
    assert {j.name for j in res.criteria} == {"at-edge", "starts-below"}
    assert res.metrics["seeds"] == 2
    runs = E.run_seeds(ctx, s, [0, 1])  # resumes: nothing left to train
    for seed, r in zip((0, 1), runs, strict=True):
        ref = E.gd_run(s, seed)
        assert r["lambda0"] == ref["lambda0"] and r["diverged"] == ref["diverged"]
        assert len(r["trace"]) == s.steps // s.every + 1
        np.testing.assert_array_equal(np.array(r["trace"]), np.array(ref["trace"]))
    with Store(tmp_path / "study.sqlite") as st:
        df = st.to_frame()
    assert len(df) == 2 and (df["attempts"] == 1).all()


def test_cpu_has_five_seeds_and_the_worker_refuses_bad_settings():
    assert E.SETTINGS["cpu"].seeds >= 5
    from sgdnoise.errors import ParameterError

    good = dict(data="synthetic", n_train=64, width=8, lr=0.1, steps=10, every=5,
                dtype="float64", seed=0)  # fmt: skip
    E._check(**good)
    for k, v in (("every", 11), ("dtype", "float16"), ("lr", 0.0), ("data", "svhn")):
        with pytest.raises(ParameterError, match=k):
            E._check(**dict(good, **{k: v}))
