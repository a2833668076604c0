"""Claim kcl23-eos at smoke scale: λmax within 10% of 2/η after sharpening from below."""

from __future__ import annotations

import json

import pytest
import torch

from sgdnoise.experiments import reproduce


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_kcl23_eos_smoke(tmp_path, one_thread):
    (rec,) = reproduce(
        "kcl23-eos", scale="smoke", out=tmp_path / "eos", progress=False, device="cpu"
    )
    assert rec["verdict"] == "agree"
    m = rec["metrics"]
    assert m["two_over_lr"] == pytest.approx(2 / m["lr"])
    assert abs(m["ratio_to_two_over_lr"] - 1) <= 0.10
    assert m["lambda_max_initial"] < 0.9 * m["two_over_lr"]  # GD did the sharpening
    assert m["diverged"] == 0.0
    saved = json.loads((tmp_path / "eos" / "result.json").read_text())
    assert saved["figures"] == ["kcl23_eos.png"]
    assert "λmax" in (tmp_path / "eos" / "report.md").read_text()
