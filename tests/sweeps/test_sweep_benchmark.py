"""benchmarks/sweep.py runs at its smallest settings and writes its JSON (so it cannot rot)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_benchmark_quick(tmp_path, repo_root):
    out = tmp_path / "b.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/sweep.py", "--quick", "--json", str(out)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(out.read_text())
    assert set(rec["results"]) == {"local", "dask", "raw"}
    for r in rec["results"].values():
        assert r["tasks"] == 16 and r["task_seconds_sum"] > 0 and r["wall_seconds"] > 0
    assert {"local_overhead", "dask_overhead", "local_wall_over_raw_pool"} <= set(rec["ratios"])
    assert all(v["baseline"] for v in rec["ratios"].values())
