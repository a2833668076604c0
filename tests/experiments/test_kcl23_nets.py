"""KCL23 network claims at smoke scale (real MNIST subset): each must agree, with its grid in
the sweeps store, and the numbers behind the verdict must say what the verdict says."""

from __future__ import annotations

import json

import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.experiments import _kcl23_protocol as P
from sgdnoise.experiments import reproduce
from sgdnoise.sweeps import Store


def _run(claim, smoke_all):
    rec, out = smoke_all[claim]
    saved = json.loads((out / "result.json").read_text())
    assert saved["verdict"] == rec["verdict"]
    for f in saved["figures"]:
        assert (out / f).is_file()
    with Store(out / "study.sqlite") as st:
        df = st.to_frame()
    assert (df["status"] == "done").all()
    m = rec["metrics"]
    assert m["runs"] == len(df) == m["runs_reached_target"]
    # Lanczos vs the power-iteration baseline on every smoke run (independent computation)
    assert m["power_vs_lanczos_max_rel_diff"] <= P.POWER_REL_TOL
    # the headline statistic is reported by every claim, from the store's runs
    assert -1 <= m["spearman_lambda_acc"] <= 1 and m["spearman_ci_low"] <= m["spearman_ci_high"]
    assert "Spearman ρ(λmax, test acc)" in (out / "report.md").read_text()
    return rec, df


@pytest.mark.slow
def test_kcl23_lr_smoke(smoke_all):
    rec, df = _run("kcl23-lr", smoke_all)
    assert rec["verdict"] == "agree"
    m = rec["metrics"]
    assert m["dlambda_B16_ci_high"] < 0 and m["dlambda_B64_ci_high"] < 0
    # recompute one effect from the store: mean over seeds of λ(η_max) − λ(η_min) at B=16
    sub = df[df["batch"] == 16].pivot_table(index="seed", columns="lr", values="lambda_max")
    assert (sub[0.2] - sub[0.05]).mean() == pytest.approx(m["dlambda_B16"], rel=1e-9)


@pytest.mark.slow
def test_kcl23_scaling_smoke(smoke_all):
    rec, df = _run("kcl23-scaling", smoke_all)
    assert rec["verdict"] == "agree"
    m = rec["metrics"]
    assert m["spearman_k_lambda_ci_high"] < 0 or m["spearman_k_lambda_ci_low"] > 0
    assert set(df["lr"] / df["batch"]) == {0.025 / 8}  # every point on one η/B line


@pytest.mark.slow
def test_kcl23_sam_smoke(smoke_all):
    rec, df = _run("kcl23-sam", smoke_all)
    assert rec["verdict"] == "agree"
    assert rec["metrics"]["dlambda_B16_ci_high"] < 0
    assert set(df["rho"]) == {0.0, 0.05}


@pytest.mark.slow
def test_kcl23_dropout_smoke(smoke_all):
    rec, _ = _run("kcl23-dropout", smoke_all)
    assert rec["verdict"] == "agree"
    m = rec["metrics"]
    assert m["spearman_p_lambda_ci_high"] < 0
    assert m["lambda_mean_p0.5"] < m["lambda_mean_p0"]


@pytest.mark.slow
def test_kcl23_bn_smoke(smoke_all, tmp_path, shared_data):
    rec, df = _run("kcl23-bn", smoke_all)
    assert rec["verdict"] == "agree"
    assert set(df["batch_norm"]) == {False, True}
    # a killed run's store in OUT.partial is kept by the runner and resumed: nothing is
    # trained again (simulated by placing the finished store there)
    import shutil

    (tmp_path / "b.partial").mkdir()
    (tmp_path / "b.partial" / "stale.png").write_bytes(b"x")
    shutil.copy2(smoke_all["kcl23-bn"][1] / "study.sqlite", tmp_path / "b.partial")
    (again,) = reproduce(
        "kcl23-bn", scale="smoke", out=tmp_path / "b", progress=False, data_dir=shared_data
    )
    assert not (tmp_path / "b" / "stale.png").exists()
    with Store(tmp_path / "b" / "study.sqlite") as st:
        df2 = st.to_frame()
    assert sorted(df2["key"]) == sorted(df["key"])
    assert (df2["attempts"] == 1).all()
    assert again["metrics"] == rec["metrics"]


def test_protocol_refuses_bad_settings():
    good = dict(P.fixed_for("smoke"), lr=0.1, batch=16, seed=0)
    P._check(**good)
    for key, bad in [
        ("dropout", 1.0),
        ("lr", 0.0),
        ("batch", 10_000),
        ("n_measure", 1),
        ("data", "svhn"),
        ("target", 0.0),
        ("batch_norm", "false"),  # a string must not read as True
        ("check_power", 1),
    ]:
        with pytest.raises(ParameterError) as e:
            P._check(**dict(good, **{key: bad}))
        assert e.value.parameter == key


def test_decide_rule():
    assert P.decide("smoke", True, {"a": True}, {"x": None})[0] == "agree"
    assert P.decide("smoke", False, {"a": True}, {})[0] == "disagree"
    assert P.decide("smoke", True, {"a": False}, {})[0] == "disagree"
    assert P.decide("cpu", True, {}, {"x": True, "y": True})[0] == "agree"
    assert P.decide("cpu", True, {}, {"x": True, "y": None})[0] == "inconclusive"
    assert P.decide("paper", True, {}, {"x": True, "y": False})[0] == "disagree"
    assert P.decide("paper", False, {}, {"x": True})[0] == "inconclusive"


def test_gain_fade_and_missing_cells():
    import pandas as pd

    # gain at B=16: acc(high) − acc(low) = +0.10 per seed; at B=64: +0.02 ± 0.01 by seed
    rows = []
    for seed, extra in enumerate([0.01, 0.0, -0.01]):
        rows += [
            dict(seed=seed, batch=16, lr=0.1, acc=0.70),
            dict(seed=seed, batch=16, lr=0.4, acc=0.80),
            dict(seed=seed, batch=64, lr=0.1, acc=0.70),
            dict(seed=seed, batch=64, lr=0.4, acc=0.72 + extra),
        ]
    df = pd.DataFrame(rows)
    fade = P.gain_fade(df, "acc", "lr", 0.1, 0.4, 16, 64)
    assert fade.mean == pytest.approx(0.08) and fade.positive and fade.n == 3
    eff = P.paired_effect(df, "acc", "lr", 0.1, 0.4, by="batch", by_values=[16, 64, 256])
    assert eff[16].mean == pytest.approx(0.10) and eff[64].mean == pytest.approx(0.02)
    # no run at B=256: undecided, never a crash
    assert not eff[256].positive and not eff[256].negative and eff[256].n == 0
    none = P.gain_fade(df[df.batch == 16], "acc", "lr", 0.1, 0.4, 16, 64)
    assert none.n == 0 and P.tri(none) is None
