"""Claim sgw23-perceptron at smoke scale: agrees, writes its figures and exponent metrics,
and importing it does no work."""

import json
import subprocess
import sys

import pytest

from sgdnoise.experiments import all_claims


def test_registered():
    c = all_claims()["sgw23-perceptron"]
    assert c.paper == "SGW23" and c.scales == ("smoke", "cpu", "paper")


def test_import_does_no_work(repo_root):
    # importing the claim must not import numba or compile anything
    code = (
        "import sys, sgdnoise.experiments.sgw23_perceptron; "
        "print('numba' in sys.modules, 'sgdnoise.simulate.perceptron' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.slow
def test_smoke_agrees(smoke_all):
    rec, out = smoke_all["sgw23-perceptron"]
    assert rec["verdict"] == "agree", rec["summary"]
    m = rec["metrics"]
    assert m["n_checks"] == 3 and m["n_agree"] == 3 and m["n_converged"] == m["n_runs"]
    # the smoke checks: perpendicular weight P-independent, signal/noise ratio ∝ P, Δw ∝ T
    assert abs(m["chi0_noise_dwperp_P_exponent"]) <= 0.3
    assert abs(m["chi0_noise_ratio_P_exponent"] - 1) <= 0.3
    assert abs(m["chi0_noise_dw1_T_exponent"] - 1) <= 0.1
    saved = json.loads((out / "result.json").read_text())
    assert set(saved["figures"]) == {"noise_regime_vs_P.png", "collapse.png", "crossover.png"}
    for f in saved["figures"]:
        assert (out / f).stat().st_size > 1000
    assert "Exponent checks" in (out / "report.md").read_text()
