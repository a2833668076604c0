"""The tree is clean under ruff (configured in pyproject.toml)."""

import shutil
import subprocess
import sys

import pytest


def test_ruff_clean(repo_root):
    ruff = shutil.which("ruff") or str(__import__("pathlib").Path(sys.executable).with_name("ruff"))
    if not __import__("pathlib").Path(ruff).exists():
        pytest.fail("ruff is not installed; it is part of the [test] extra")
    proc = subprocess.run([ruff, "check", "."], cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
