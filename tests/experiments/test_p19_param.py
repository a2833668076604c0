"""Claim p19-param at smoke scale: agrees, with its metrics and figure on disk."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_p19_param_smoke(smoke_all):
    rec, out = smoke_all["p19-param"]
    assert rec["verdict"] == "agree"
    m = rec["metrics"]
    for arch in ("mlp", "convnet"):
        assert m[f"{arch}_max_rel_error"] <= 1e-10
        # the control (one rate for every layer) must be far off, or the check proves nothing
        assert m[f"{arch}_control_rel_error"] > 1e-3
    assert m["normalized_noise_scale_rel_gap"] < 1e-12
    saved = json.loads((out / "result.json").read_text())
    assert saved["figures"] == ["p19_param.png"]
    assert (out / "p19_param.png").stat().st_size > 1000
