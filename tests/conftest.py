"""Shared test fixtures.  matplotlib is forced onto Agg; real-data location is resolved
relative to the repository (../shared/data) and tests that need it skip when absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SGDNOISE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (only on the project's machines)")
    return SHARED_DATA


class SmokeRuns:
    """The folder of one ``sgdnoise reproduce all --scale smoke``: ``runs[claim]`` is that
    claim's ``(result record, output folder)``."""

    def __init__(self, root: Path, log: str):
        self.root = root
        self.log = log

    def __getitem__(self, claim: str) -> tuple[dict, Path]:
        out = self.root / claim
        return json.loads((out / "result.json").read_text()), out


@pytest.fixture(scope="session")
def smoke_all(tmp_path_factory, shared_data) -> SmokeRuns:
    """Every claim at smoke scale, run once exactly as users (and CI) are told to: the CLI's
    ``sgdnoise reproduce all --scale smoke`` in a fresh process.  The per-claim smoke tests
    check its records; one run also lets p19-width and p19-bmax share their grid."""
    root = tmp_path_factory.mktemp("reproduce-all") / "smoke"
    cmd = [sys.executable, "-m", "sgdnoise", "reproduce", "all", "--scale", "smoke",
           "--out", str(root), "--data-dir", str(shared_data), "--device", "cpu",
           "--no-progress"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-6000:])
    return SmokeRuns(root, proc.stdout)
