"""Claim p19-param at smoke scale: agrees, with its metrics and figure on disk."""

from __future__ import annotations

import json

import pytest
import torch

from sgdnoise.experiments import reproduce


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets on a shared 2-core box: threads only add overhead
    yield
    torch.set_num_threads(before)


def test_p19_param_smoke(tmp_path, one_thread):
    (rec,) = reproduce(
        "p19-param", scale="smoke", out=tmp_path / "p19", progress=False, device="cpu"
    )
    assert rec["verdict"] == "agree"
    m = rec["metrics"]
    for arch in ("mlp", "convnet"):
        assert m[f"{arch}_max_rel_error"] <= 1e-10
        # the control (one rate for every layer) must be far off, or the check proves nothing
        assert m[f"{arch}_control_rel_error"] > 1e-3
    assert m["normalized_noise_scale_rel_gap"] < 1e-12
    saved = json.loads((tmp_path / "p19" / "result.json").read_text())
    assert saved["figures"] == ["p19_param.png"]
    assert (tmp_path / "p19" / "p19_param.png").stat().st_size > 1000
