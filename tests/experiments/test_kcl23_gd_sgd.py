"""Claim kcl23-gd-sgd: the criteria on synthetic frames where KCL23's GD–SGD discrepancy holds
(supported) and where each ingredient breaks (contradicted / undecided), and the claim's
whole path — grid arguments, report, figure — with the grid runner replaced by a synthetic
frame (no training)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.experiments import _kcl23_worker as W
from sgdnoise.experiments import kcl23_gd_sgd as gs
from sgdnoise.experiments.criteria import verdict
from sgdnoise.experiments.runner import RunContext

S = replace(gs.SETTINGS["cpu"], seeds=8)
N = 1000


def _frame(lam_gd=None, lam_sgd=None, acc_gd=None, acc_sgd=None, s=S, n=N, status=None):
    """One row per run: λmax(η) and test accuracy(η) per arm, with seed noise.  Default:
    KCL23's picture — λmax ≈ 2/η under GD and below it under SGD, accuracy rising with η
    only under SGD (+3 points over the range)."""
    lam_gd = lam_gd or (lambda lr: 0.9 * 2 / lr)
    lam_sgd = lam_sgd or (lambda lr: 0.3 * 2 / lr**1.5)
    acc_gd = acc_gd or (lambda lr: 0.34)
    span = math.log(max(s.lr) / min(s.lr))
    acc_sgd = acc_sgd or (lambda lr: 0.34 + 0.03 * math.log(lr / min(s.lr)) / span)
    rng = np.random.default_rng(7)
    rows = []
    for b, lam, acc in ((n, lam_gd, acc_gd), (s.sgd_batch, lam_sgd, acc_sgd)):
        for lr in s.lr:
            for sd in range(s.seeds):
                lm = lam(lr) * math.exp(0.05 * rng.standard_normal())
                a = acc(lr) + 0.003 * rng.standard_normal()
                rows.append(dict(batch=b, lr=lr, seed=sd, status="done", lambda_max=lm,
                                 lambda_max_power=lm * 1.001, epochs=10.0,
                                 test_accuracy=a))  # fmt: skip
    df = pd.DataFrame(rows)
    if status is not None:
        df["status"] = [status(r) for r in df.itertuples()]
    return df


def _judge(df, scale="cpu", s=S):
    judged, shown, values, margin = gs.analyse(df, s, N, scale)
    return {j.name: j for j in judged}, {j.name: j for j in shown}, values, margin


def test_settings_refuse_too_few_rates_or_seeds():
    with pytest.raises(ParameterError) as e:
        replace(S, lr=(0.1, 0.1))
    assert e.value.parameter == "lr"
    with pytest.raises(ParameterError):
        replace(S, seeds=2)


def test_the_papers_picture_is_supported():
    judged, _, values, margin = _judge(_frame())
    assert {j.decision for j in judged.values()} == {"supported"}
    assert judged["gd-lambda-falls"].estimate == pytest.approx(-1.0, abs=0.05)
    assert judged["sgd-lambda-falls"].estimate == pytest.approx(-1.5, abs=0.05)
    assert judged["sgd-accuracy-moves"].estimate == pytest.approx(0.03, abs=0.003)
    assert margin == pytest.approx(0.015, abs=0.002)
    # GD at the edge of stability: λmax·η/2 ≈ 0.9 at every η
    assert all(np.allclose(r, 0.9, rtol=0.2) for r in values["gd"]["edge_ratio"].values())
    smoke, shown, _, _ = _judge(_frame(), scale="smoke")
    assert set(smoke) == {"runs-at-target", "lanczos-vs-power", "gd-lambda-falls",
                          "sgd-lambda-falls"}  # fmt: skip
    assert verdict(smoke.values()) == "agree" and set(shown) == {"sgd-accuracy-moves",
                                                                 "gd-accuracy-flat"}  # fmt: skip


@pytest.mark.parametrize("arm", ["gd", "sgd"])
def test_lambda_rising_with_eta_is_contradicted(arm):
    judged, _, _, _ = _judge(_frame(**{f"lam_{arm}": lambda lr: 50 * lr}))
    assert judged[f"{arm}-lambda-falls"].decision == "contradicted"
    smoke, _, _, _ = _judge(_frame(**{f"lam_{arm}": lambda lr: 50 * lr}), scale="smoke")
    assert verdict(smoke.values()) == "disagree"


def test_gd_accuracy_moving_like_sgd_contradicts_flatness():
    span = math.log(max(S.lr) / min(S.lr))
    judged, _, _, _ = _judge(_frame(acc_gd=lambda lr: 0.34 + 0.03 * math.log(lr / 0.025) / span))
    assert judged["gd-accuracy-flat"].decision == "contradicted"


def test_null_accuracy_leaves_both_accuracy_criteria_unsupported():
    # accuracy flat under SGD too: no benefit of η, and no margin to judge GD against
    judged, _, _, margin = _judge(_frame(acc_sgd=lambda lr: 0.34))
    assert judged["sgd-accuracy-moves"].decision != "supported"
    assert judged["gd-accuracy-flat"].decision == "undecided"
    assert margin < 0.002 and verdict(judged.values()) != "agree"
    # accuracy falling with η under SGD: the paper's direction contradicted
    judged, _, _, _ = _judge(_frame(acc_sgd=lambda lr: 0.40 - lr))
    assert judged["sgd-accuracy-moves"].decision == "contradicted"


def test_capped_runs_enter_no_value_and_fail_the_smoke_machinery():
    df = _frame(status=lambda r: "capped" if (r.batch == N and r.seed == 0) else "done")
    judged, _, values, _ = _judge(df)
    assert len(values["gd"]["lambda_slope"]) == S.seeds - 1
    assert len(values["sgd"]["lambda_slope"]) == S.seeds
    smoke, _, _, _ = _judge(df, scale="smoke")
    assert smoke["runs-at-target"].decision == "contradicted"


def test_claim_runs_gd_at_full_batch_and_reports(monkeypatch, tmp_path):
    seen = {}

    def fake_grid(ctx, name, fixed, product, *, zips=()):
        seen.update(fixed=fixed, product=product, zips=zips)
        s = gs.SETTINGS[ctx.scale]
        return _frame(s=s, n=W.PROTOCOL[ctx.scale].n_train)

    monkeypatch.setattr(W, "run_grid", fake_grid)
    ctx = RunContext("kcl23-gd-sgd", "smoke", tmp_path, progress=False)
    res = gs.run(ctx)
    s, n = gs.SETTINGS["smoke"], W.PROTOCOL["smoke"].n_train
    # GD is the worker at B = N with a step budget; SGD keeps the protocol's epoch cap
    assert seen["zips"][0] == {"batch": [n], "max_epochs": [s.gd_epochs]}
    assert seen["zips"][1] == {
        "batch": [s.sgd_batch],
        "max_epochs": [W.PROTOCOL["smoke"].max_epochs],
    }
    assert res.verdict == "agree"
    assert "GD λmax·η/2" in res.details and "Not judged at smoke" in res.details
    assert (tmp_path / "kcl23_gd_sgd.png").is_file()
    json.dumps(res.metrics)
