"""UI25 claims at smoke scale: they run, agree, and write their numbers and figures."""

import json

import pytest


@pytest.mark.slow
def test_ui25_bounds_smoke(smoke_all):
    _, out = smoke_all["ui25-bounds"]
    res = json.loads((out / "result.json").read_text())
    assert res["verdict"] == "agree", res["summary"]
    m = res["metrics"]
    assert m["max_rel_error_sums"] < 1e-10
    assert m["exponent_(ii) constant"] == pytest.approx(-1.0, abs=0.03)
    assert m["exponent_(ii) diminishing"] == pytest.approx(-0.5, abs=0.03)
    assert res["figures"] == ["ui25_bounds.png"]
    assert (out / "ui25_bounds.png").stat().st_size > 10_000


@pytest.mark.slow
def test_ui25_synthetic_smoke(smoke_all):
    _, out = smoke_all["ui25-synthetic"]
    res = json.loads((out / "result.json").read_text())
    assert res["verdict"] == "agree", res["summary"]
    m = res["metrics"]
    assert m["divergence_step"] == m["divergence_step_predicted"] > m["lr_crosses_2_over_L_step"]
    for key, v in m.items():
        if key.startswith("min_grad_sq_"):
            assert v < m["bound_" + key.removeprefix("min_grad_sq_")]
    report = (out / "report.md").read_text()
    assert "per sample" in report and "per step" in report
    assert (out / "ui25_grad_norm.png").stat().st_size > 10_000
