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


def test_bad_input_found_inside_a_claim_leaves_no_folder(tmp_path, monkeypatch, capsys):
    """A ParameterError raised while a claim runs (a data file a worker refuses) reaches
    the user as the same one line, exit 2, and the folders the run created — its
    ``.partial`` folder and ``runs/`` — are removed."""
    from sgdnoise.errors import ParameterError
    from sgdnoise.experiments import _catalog, registry

    def run(ctx):
        (ctx.out_dir / "half-written.png").write_bytes(b"x")
        raise ParameterError("data_dir", "/x/cifar.tar.gz", "checksum mismatch")

    entry = _catalog.Entry("test-refused", "BG21", "no_module", "refuses its input")
    monkeypatch.setattr(_catalog, "CLAIMS", (*_catalog.CLAIMS, entry))
    monkeypatch.setitem(
        registry._REGISTRY,
        "test-refused",
        registry.Claim("test-refused", "BG21", "refuses its input", run),
    )
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "test-refused", "--device", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sgdnoise: error: invalid data_dir='/x/cifar.tar.gz': checksum mismatch"]
    assert list(tmp_path.iterdir()) == []


def test_list_answers_from_the_catalog(capsys):
    from sgdnoise.experiments._catalog import entries

    assert main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == list(entries())
