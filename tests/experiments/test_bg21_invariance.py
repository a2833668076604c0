"""bg21-invariance at smoke scale: runs through the claim interface and agrees."""

import json

import pytest


@pytest.mark.slow
def test_smoke_agrees(smoke_all):
    rec, out = smoke_all["bg21-invariance"]
    assert rec["verdict"] == "agree", rec["summary"]
    data = json.loads((out / "result.json").read_text())
    m = data["metrics"]
    # the laws agree in the SDE regime and part where η·h_max = O(1), before the narrow
    # minimum's linear stability limit η·h_max = 2 has been passed by more than one step
    assert 0.2 < m["eta_part_times_h_max"] <= 2.0
    assert m["eta_part_measured"] <= 2 * m["eta_stability_limit"]
    assert m["reference_vs_fp_pvalue"] > 0.05
    assert data["figures"] == ["invariance.png"]
    assert (out / "invariance.png").stat().st_size > 10_000
    # the test's power against a law at the stated distance ε is reported and high
    assert m["power_at_eps"] >= 0.8
    assert "**Power**" in (out / "report.md").read_text()
