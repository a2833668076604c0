"""Claim kcl23-eos at smoke scale: λmax within 10% of 2/η after sharpening from below."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_kcl23_eos_smoke(smoke_all):
    rec, out = smoke_all["kcl23-eos"]
    assert rec["verdict"] == "agree"
    m = rec["metrics"]
    assert m["two_over_lr"] == pytest.approx(2 / m["lr"])
    assert abs(m["ratio_to_two_over_lr"] - 1) <= 0.10
    assert m["lambda_max_initial"] < 0.9 * m["two_over_lr"]  # GD did the sharpening
    assert m["diverged"] == 0.0
    saved = json.loads((out / "result.json").read_text())
    assert saved["figures"] == ["kcl23_eos.png"]
    assert "λmax" in (out / "report.md").read_text()
