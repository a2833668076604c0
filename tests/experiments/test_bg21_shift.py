"""bg21-shift at smoke scale: runs through the claim interface and agrees."""

import json

import pytest


@pytest.mark.slow
def test_smoke_agrees(smoke_all):
    rec, out = smoke_all["bg21-shift"]
    assert rec["verdict"] == "agree", rec["summary"]
    data = json.loads((out / "result.json").read_text())
    m = data["metrics"]
    assert m["diverged_fraction"] == 0
    # the verdict sentence states the direction of the effect for both shifts
    assert "domain shift: higher T" in data["summary"]
    assert "sampling shift: higher T" in data["summary"]
    # with this loss a domain shift towards the barrier is lowered by temperature (weight
    # moves to the wide minimum) while the sampling-shift loss rises with ½ tr(HC)
    assert m["domain_loss_lowered_by_T"] == 1.0 and m["sampling_loss_lowered_by_T"] == 0.0
    assert data["figures"] == ["test_loss_vs_T.png"]
    assert (out / "test_loss_vs_T.png").stat().st_size > 10_000
