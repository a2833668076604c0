"""ui25-cifar at smoke scale (real CIFAR-10 subset, a tiny ResNet)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sgdnoise.experiments.ui25_cifar import SETTINGS, make_schedule
from sgdnoise.sweeps import Store


@pytest.mark.slow
def test_ui25_cifar_smoke(smoke_all):
    rec, out = smoke_all["ui25-cifar"]
    assert rec["verdict"] == "agree"
    m = rec["metrics"]
    assert m["runs"] == m["runs_done"] == 8
    assert m["step_count_matches"] == m["all_norms_fell"] == 1.0
    saved = json.loads((out / "result.json").read_text())
    assert saved["figures"] == ["ui25_cifar.png"]
    s = SETTINGS["smoke"]
    with Store(out / "study.sqlite") as st:
        df, cv = st.to_frame(), st.curves_frame()
    for sch in ("i", "ii", "iii", "iv"):
        # independent count: Σ_e ceil(N / b_e) from the stage rule b_e = b0 δ^⌊e/K⌋
        b = [
            min(s["b0"] * s["delta"] ** (e // s["stage"]), s["n_train"]) for e in range(s["epochs"])
        ]
        if sch == "i":
            b = [s["b0"]] * s["epochs"]
        expected = sum(int(np.ceil(s["n_train"] / bb)) for bb in b)
        assert (df[df.scheduler == sch]["steps"] == expected).all()
        assert m[f"steps_total_{sch}"] == expected
        # per-sample axis is epochs × N; the step axis ends at the run's step count
        c = cv[(cv.scheduler == sch) & (cv.name == "grad_norm_samples")]
        assert c["x"].max() == s["epochs"] * s["n_train"]
    sch = make_schedule(
        "iii", s["eta0"], s["b0"], s["delta"], s["gamma"], s["eta_cap"], s["warmup"], s["stage"]
    )
    assert sch.expand(s["n_train"], s["epochs"]).lr.max() <= s["eta_cap"]
