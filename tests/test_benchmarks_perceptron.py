"""The perceptron benchmark runs with its smallest settings and writes its JSON (so it
cannot rot); its numbers are not asserted (timings are not unit tests)."""

import json
import subprocess
import sys


def test_benchmark_quick(tmp_path, repo_root):
    out = tmp_path / "b.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(repo_root / "benchmarks" / "perceptron.py"),
            "--quick",
            "--json",
            str(out),
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["config"]["P"] == 512
    assert data["event_steps_per_s"] > 0 and data["reference_steps_per_s"] > 0
    assert "baseline" in data and data["ratio_event_over_reference"] > 0
