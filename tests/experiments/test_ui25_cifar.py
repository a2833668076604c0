"""ui25-cifar: the analysis on hand-made frames (every criterion can fail), and the smoke
claim on a real CIFAR-10 subset with a tiny ResNet (CI)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from sgdnoise.experiments import ui25_cifar as uc
from sgdnoise.experiments.criteria import evaluate
from sgdnoise.sweeps import Store

N = 100


def _frames(epochs_to_reach: dict, final: dict, seeds=(0, 1, 2, 3, 4), steps_per_epoch=None):
    """Runs whose norm falls linearly from 2 to ``final[s]`` and crosses 1 at epoch
    ``epochs_to_reach[s]`` (+ a seed jitter of 0.1 epoch)."""
    spe = steps_per_epoch or {"i": 30, "ii": 10, "iii": 10, "iv": 10}
    rng = np.random.default_rng(0)
    runs, curves = [], []
    for s in uc.SCHEDULERS:
        for sd in seeds:
            e_hit = epochs_to_reach[s] + 0.1 * rng.standard_normal()
            ep = np.arange(0, 13, dtype=float)
            g = np.maximum(2 - ep / e_hit, final[s] * math.exp(0.05 * rng.standard_normal()))
            key = f"{s}-{sd}"
            runs.append(dict(key=key, status="done", scheduler=s, seed=sd, grad_norm_min=g.min(),
                             grad_norm_initial=g[0], steps=12 * spe[s], steps_planned=12 * spe[s],
                             test_accuracy=0.3))  # fmt: skip
            for name, x in (("epoch", ep), ("step", ep * spe[s]), ("samples", ep * N)):
                curves.append(pd.DataFrame(dict(key=key, name=f"grad_norm_{name}", x=x, y=g,
                                                scheduler=s, seed=sd)))  # fmt: skip
    return pd.DataFrame(runs), pd.concat(curves, ignore_index=True)


def _judge(crit, data):
    return {j.name: j.decision for j in evaluate(crit, data)}


UI25_LIKE = ({"i": 8, "ii": 6, "iii": 4, "iv": 4}, {"i": 0.6, "ii": 0.5, "iii": 0.2, "iv": 0.2})


def test_analysis_supports_ui25_like_data_per_sample():
    df, cv = _frames(*UI25_LIKE)
    mach, head, t = uc.analyse(df, cv)
    assert set(_judge(uc.machinery_criteria(), mach).values()) == {"supported"}
    assert set(_judge(uc.headline_criteria(), head).values()) == {"supported"}
    assert t["eps"] == pytest.approx(df["grad_norm_min"].max())


def test_per_step_is_not_what_is_judged():
    """(i) reaches ε in the *same* epochs as the others but with 3× the steps: per step it
    looks slower, per sample it is not — the criterion (per sample) is not supported."""
    same = {"i": 5, "ii": 5, "iii": 5, "iv": 5}
    df, cv = _frames(same, UI25_LIKE[1])
    _, head, t = uc.analyse(df, cv)
    steps_i = np.mean([r["step"] for (s, _), r in t["runs"].items() if s == "i"])
    steps_ii = np.mean([r["step"] for (s, _), r in t["runs"].items() if s == "ii"])
    assert steps_i > 2 * steps_ii
    got = _judge(uc.headline_criteria(), head)
    assert got["growing_batch_fewer_samples"] != "supported"


def test_headline_is_contradicted_by_data_against_ui25():
    df, cv = _frames(
        {"i": 3, "ii": 3, "iii": 9, "iv": 9}, {"i": 0.2, "ii": 0.2, "iii": 0.6, "iv": 0.6}
    )
    _, head, _ = uc.analyse(df, cv)
    got = _judge(uc.headline_criteria(), head)
    assert got["iii_iv_fewer_samples"] == got["iii_iv_smaller_norm"] == "contradicted"
    df, cv = _frames({"i": 3, "ii": 9, "iii": 9, "iv": 9}, UI25_LIKE[1])
    _, head, _ = uc.analyse(df, cv)
    assert _judge(uc.headline_criteria(), head)["growing_batch_fewer_samples"] == "contradicted"


@pytest.mark.parametrize("broken", ["steps", "norm_rose", "nan", "failed"])
def test_machinery_fails_with_a_broken_ingredient(broken):
    df, cv = _frames(*UI25_LIKE)
    want = {
        "steps": "steps_match_schedule",
        "norm_rose": "norms_fell",
        "nan": "norms_finite",
        "failed": "runs_done",
    }[broken]
    if broken == "steps":  # a trainer that skips the partial last batch of an epoch
        df.loc[0, "steps"] -= 12
    elif broken == "norm_rose":
        df.loc[0, "grad_norm_min"] = df.loc[0, "grad_norm_initial"] * 1.01
    elif broken == "nan":
        cv.loc[5, "y"] = np.nan
    else:
        df.loc[len(df)] = dict(df.loc[0], key="x", status="failed")
    mach, _, _ = uc.analyse(df, cv)
    got = _judge(uc.machinery_criteria(), mach)
    assert got[want] == "contradicted"


def test_cpu_settings_have_enough_seeds_for_an_interval():
    assert len(uc.SETTINGS["cpu"].seeds) >= 5 and len(uc.SETTINGS["paper"].seeds) >= 3


@pytest.mark.slow
def test_ui25_cifar_smoke(smoke_all):
    rec, out = smoke_all["ui25-cifar"]
    assert rec["verdict"] == "agree"
    assert {c["kind"] for c in rec["criteria"]} == {"machinery"}
    m = rec["metrics"]
    assert m["runs"] == 8
    saved = json.loads((out / "result.json").read_text())
    assert saved["figures"] == ["ui25_cifar.png"]
    s = uc.SETTINGS["smoke"]
    with Store(out / "study.sqlite") as st:
        df, cv = st.to_frame(), st.curves_frame()
    for sch in uc.SCHEDULERS:
        # independent count: Σ_e ceil(N / b_e) from the stage rule b_e = b0 δ^⌊e/K⌋
        b = [min(s.b0 * s.delta ** (e // s.stage), s.n_train) for e in range(s.epochs)]
        if sch == "i":
            b = [s.b0] * s.epochs
        expected = sum(int(np.ceil(s.n_train / bb)) for bb in b)
        assert (df[df.scheduler == sch]["steps"] == expected).all()
        assert m[f"steps_{sch}"] == expected
        # per-sample axis is epochs × N
        c = cv[(cv.scheduler == sch) & (cv.name == "grad_norm_samples")]
        assert c["x"].max() == s.epochs * s.n_train
    sch = uc.make_schedule("iii", s.eta0, s.b0, s.delta, s.gamma, s.eta_cap, s.warmup, s.stage)
    assert sch.expand(s.n_train, s.epochs).lr.max() <= s.eta_cap
