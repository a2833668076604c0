"""The Langevin benchmark runs (tiny sizes) and writes its JSON; no speed is asserted here."""

import json
import subprocess
import sys


def test_benchmark_quick(tmp_path, repo_root):
    out = tmp_path / "b.json"
    subprocess.run(
        [sys.executable, "benchmarks/langevin.py", "--quick", "--json", str(out)],
        cwd=repo_root,
        check=True,
        capture_output=True,
        timeout=300,
    )
    data = json.loads(out.read_text())
    assert set(data["ratios"]) == set(data["targets"])
    assert all(v > 0 for v in data["ratios"].values())
