"""CLI contract (DESIGN.md §9): list, reproduce, exit 2 and nothing written on bad input."""

import json
import subprocess
import sys

import pytest

from sgdnoise.cli import main


def test_python_m_is_the_same_command(repo_root):
    proc = subprocess.run(
        [sys.executable, "-m", "sgdnoise", "list", "--json"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=True,
    )
    claims = json.loads(proc.stdout)
    ids = [c["id"] for c in claims]
    assert len(ids) == len(set(ids))
    for c in claims:
        assert set(c) == {"id", "paper", "scales", "statement"}
        assert c["statement"]


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["reproduce", "no-such-claim"], "claim"),
        (["reproduce", "all", "--scale", "huge"], "scale"),
        (["reproduce", "all", "--device", "tpu"], "device"),
        (["reproduce", "all", "--seed", "-3"], "seed"),
        (["reproduce", "all", "--data-dir", "/nonexistent/folder"], "data_dir"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
