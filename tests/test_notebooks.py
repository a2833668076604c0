"""Every notebook in notebooks/ is a jupytext percent-format script that parses into a real
notebook and runs top to bottom (in a subprocess, on Agg, inside a scratch folder); run as a
script, each saves its figures as PNGs (``sgdnoise.display.show``) instead of showing them."""

import os
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no jupytext notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, repo_root):
    nb = jupytext.read(path, fmt="py:percent")
    kinds = {c.cell_type for c in nb.cells}
    assert {"markdown", "code"} <= kinds, "a notebook explains (markdown) and computes (code)"
    env = dict(os.environ, MPLBACKEND="Agg", SGDNOISE_NOTEBOOK_TEST="1")
    env["PYTHONPATH"] = os.pathsep.join([str(repo_root), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = sorted((tmp_path / "figures").glob("*.png"))
    assert figures, "a derivation shows its figures: run as a script it saves them"
    assert all(f.read_bytes()[:4] == b"\x89PNG" for f in figures)
