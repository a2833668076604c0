"""Claim p19-param: its criteria pass on the real comparison and fail when the per-layer
rates are broken (a tiny float64 run), and the claim agrees at smoke scale."""

from __future__ import annotations

import json
import math

import pytest
import torch

from sgdnoise.experiments import p19_param
from sgdnoise.nets import synthetic_dataset

TINY = p19_param.Settings("synthetic", 32, 6, 8, 1, (("mlp", (("width", 16), ("depth", 2))),))


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset(
        n_train=32, n_test=8, input_shape=(3, 4, 4), num_classes=10, seed=0, device="cpu",
        dtype=torch.float64,
    )  # fmt: skip


def _run(data):
    res = {"mlp": p19_param.compare(data, "mlp", dict(TINY.nets[0][1]), TINY)}
    _, gap = p19_param.gbar_gap(32, TINY.batch, 48)
    return {j.name: j for j in p19_param.judge(res, gap)}


def test_criteria_pass_on_the_true_per_layer_rates(data):
    judged = _run(data)
    assert {j.decision for j in judged.values()} == {"supported"}
    assert judged["twin-mlp"].estimate <= 1e-13
    assert judged["twin-mlp"].derived and judged["twin-mlp"].power is None


def test_broken_per_layer_rates_fail_the_twin_check(data, monkeypatch):
    """Per-layer rates off by 1% (a wrong σ_w² or fan-in) drift far beyond the tolerance."""
    import sgdnoise.nets.parameterization as pz

    real = pz.to_standard

    def broken(net):
        twin, scale = real(net)
        return twin, {k: v * 1.01 for k, v in scale.items()}

    monkeypatch.setattr(pz, "to_standard", broken)
    judged = _run(data)
    assert judged["twin-mlp"].decision == "contradicted"
    assert judged["twin-mlp"].estimate > 1e-6


def test_a_control_that_does_not_drift_fails():
    """If one rate for every layer matched too, the comparison could not tell rates apart."""
    res = {"mlp": dict(worst=1e-16, control=1e-9)}
    judged = {j.name: j for j in p19_param.judge(res, 0.0)}
    assert judged["control-mlp"].decision == "contradicted"
    res = {"mlp": dict(worst=math.nan, control=math.nan)}  # the NTK run diverged
    assert {j.decision for j in p19_param.judge(res, 0.0) if "mlp" in j.name} == {"contradicted"}
    assert p19_param.judge({}, 1e-9)[0].decision == "contradicted"  # ḡ conversions disagree


def test_settings_are_one_frozen_instance_per_scale():
    import dataclasses

    assert set(p19_param.SETTINGS) == {"smoke", "cpu", "paper"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        p19_param.SETTINGS["smoke"].steps = 1


@pytest.mark.slow
def test_p19_param_smoke(smoke_all):
    rec, out = smoke_all["p19-param"]
    assert rec["verdict"] == "agree"
    assert {c["name"] for c in rec["criteria"]} == {
        "twin-mlp", "control-mlp", "twin-convnet", "control-convnet", "gbar-both-ways",
    }  # fmt: skip
    m = rec["metrics"]
    for arch in ("mlp", "convnet"):
        assert m[f"{arch}_max_rel_error"] <= 1e-10
        # the control (one rate for every layer) must be far off, or the check proves nothing
        assert m[f"{arch}_control_rel_error"] > 1e-3
    assert m["normalized_noise_scale_rel_gap"] < 1e-12
    saved = json.loads((out / "result.json").read_text())
    assert saved["figures"] == ["p19_param.png"]
    assert (out / "p19_param.png").stat().st_size > 1000
