"""benchmarks/nets.py runs end to end at its smallest settings and writes its JSON (so the
script cannot rot); the numbers themselves are not asserted — timings are machine-dependent."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.realdata
@pytest.mark.slow
def test_benchmark_quick(shared_data, repo_root, tmp_path):
    out = tmp_path / "nets.json"
    env = dict(os.environ, PYTHONPATH=str(repo_root))
    proc = subprocess.run(
        [
            sys.executable,
            str(repo_root / "benchmarks" / "nets.py"),
            "--quick",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--data-dir",
            str(shared_data),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    for key in ("throughput", "lanczos_vs_power", "vmap_ensemble", "centered_precompute"):
        assert r[key]["ratio"] is None or r[key]["ratio"] > 0
        assert r[key]["baseline"]
    assert r["lanczos_vs_power"]["lanczos_hvps"] is not None
    # float32 ensemble and sequential runs follow the same trajectory up to rounding
    assert r["vmap_ensemble"]["small_max_abs_weight_difference"] < 1e-4
    # precomputing f(w0, x) changes float rounding only, not the trajectory
    assert r["centered_precompute"]["weight_change_rel_difference"] < 1e-3
    # Hessian products (PyHessian absent here: our numbers only); the certified λmax is within
    # its returned bound of the reference (itself within 1e-6 relative)
    h = r["hvp"]
    assert h["ours_hvp_seconds"] > 0 and h["ours_setup_seconds"] > 0
    for err, bound in zip(h["ours_certified_rel_errors"], h["ours_certified_rel_bounds"]):
        assert err <= bound + 2e-6 and bound <= 1e-3
