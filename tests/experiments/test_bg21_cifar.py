"""Claim bg21-cifar: the equal-T statistics by hand on a constructed grid, and the claim at
smoke scale on real CIFAR-10 images."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from sgdnoise.experiments.bg21_cifar import invariance


def test_invariance_by_hand():
    # T=1: B=8 → losses 1, 2 (mean 1.5, sem 0.5); B=32 → 2, 3 (mean 2.5, sem 0.5)
    # T=2: B=8 → 5, 5 (sem 0); B=32 → 4, 6 (mean 5, sem 1)
    vals = {(1.0, 8): [1, 2], (1.0, 32): [2, 3], (2.0, 8): [5, 5], (2.0, 32): [4, 6]}
    rows = [
        dict(T=T, batch=b, seed=s, test_loss=float(v))
        for (T, b), vs in vals.items()
        for s, v in enumerate(vs)
    ]
    inv = invariance(pd.DataFrame(rows), "test_loss")
    assert inv["per_T"][1.0] == pytest.approx(1.0 / math.hypot(0.5, 0.5))
    assert inv["per_T"][2.0] == pytest.approx(0.0)
    # resolution: B=8: |5 − 1.5| / 0.5 = 7; B=32: |5 − 2.5| / hypot(0.5, 1)
    assert inv["resolution"] == pytest.approx(7.0)
    # a diverged seed blanks its cell rather than averaging it away
    rows[0]["test_loss"] = math.nan
    inv = invariance(pd.DataFrame(rows), "test_loss")
    assert math.isnan(inv["stats"].loc[(1.0, 8), "mean"])


@pytest.mark.slow
@pytest.mark.realdata
def test_bg21_cifar_smoke(smoke_all):
    rec, out = smoke_all["bg21-cifar"]
    assert rec["verdict"] == "agree", rec["summary"]
    m = rec["metrics"]
    assert m["n_runs"] == 18 and m["n_diverged"] == 0
    assert m["z_max_equal_T"] <= 3 < m["z_resolution"]
    saved = json.loads((out / "result.json").read_text())
    for f in (
        "bg21_cifar_test_loss_vs_T.png",
        "bg21_cifar_shift_penalty.png",
        "bg21_cifar_heatmap.png",
    ):
        assert f in saved["figures"] and (out / f).stat().st_size > 1000


@pytest.mark.parametrize("scale", ["smoke", "cpu", "paper"])
def test_spec_of_every_scale_validates_and_pairs_share_T(scale):
    from types import SimpleNamespace

    from sgdnoise.experiments.bg21_cifar import SETTINGS, spec
    from sgdnoise.sweeps import load_spec
    from sgdnoise.theory.conventions import lr_from_temperature

    s = SETTINGS[scale]
    sp = load_spec(spec(SimpleNamespace(seed=0, device="cpu"), s, "/data"))
    assert len(sp) == len(s["temperatures"]) * len(s["batches"]) * s["seeds"]
    # η = T·B along each equal-T line: the largest rate of the grid
    top = lr_from_temperature(max(s["temperatures"]), max(s["batches"]))
    assert top == pytest.approx(max(s["temperatures"]) * max(s["batches"]), rel=1e-14)
