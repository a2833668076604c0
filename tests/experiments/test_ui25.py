"""UI25 claims at smoke scale: they run, agree, and write their numbers and figures."""

import json

import pytest

from sgdnoise.experiments import reproduce


@pytest.mark.slow
def test_ui25_bounds_smoke(tmp_path):
    reproduce("ui25-bounds", scale="smoke", out=tmp_path / "b", progress=False)
    res = json.loads((tmp_path / "b" / "result.json").read_text())
    assert res["verdict"] == "agree", res["summary"]
    m = res["metrics"]
    assert m["max_rel_error_sums"] < 1e-10
    assert m["exponent_(ii) constant"] == pytest.approx(-1.0, abs=0.03)
    assert m["exponent_(ii) diminishing"] == pytest.approx(-0.5, abs=0.03)
    assert res["figures"] == ["ui25_bounds.png"]
    assert (tmp_path / "b" / "ui25_bounds.png").stat().st_size > 10_000


@pytest.mark.slow
def test_ui25_synthetic_smoke(tmp_path):
    reproduce("ui25-synthetic", scale="smoke", out=tmp_path / "s", progress=False)
    res = json.loads((tmp_path / "s" / "result.json").read_text())
    assert res["verdict"] == "agree", res["summary"]
    m = res["metrics"]
    assert m["divergence_step"] == m["divergence_step_predicted"] > m["lr_crosses_2_over_L_step"]
    for key, v in m.items():
        if key.startswith("min_grad_sq_"):
            assert v < m["bound_" + key.removeprefix("min_grad_sq_")]
    report = (tmp_path / "s" / "report.md").read_text()
    assert "per sample" in report and "per step" in report
    assert (tmp_path / "s" / "ui25_grad_norm.png").stat().st_size > 10_000
