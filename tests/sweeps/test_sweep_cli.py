"""``sgdnoise sweep`` / ``sgdnoise report``: exit codes 0, 1, 2 and nothing written on bad input."""

from __future__ import annotations

import hashlib
import socket
import sqlite3

import pytest

from sgdnoise.cli import main

SPEC = """
name = "cli"
function = "{fn}"
[fixed]
fail_flag = "{flag}"
[product]
x = [1, 2, 3]
seed = [0, 1]
"""


def write_spec(tmp_path, helper_module, flag="", **subst):
    text = SPEC.format(fn=f"{helper_module}:mc_pi", flag=flag)
    for k, v in subst.items():
        text = text.replace(k, v)
    p = tmp_path / "spec.toml"
    p.write_text(text)
    return p


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sweep_then_report(tmp_path, helper_module, capsys):
    flag = tmp_path / "flag"
    flag.write_text("")
    spec = write_spec(tmp_path, helper_module, str(flag))
    db = tmp_path / "cli.db"
    argv = ["sweep", str(spec), "--store", str(db), "--workers", "2", "--no-progress"]
    assert main(argv) == 1  # x = 3 fails while the flag exists
    assert "2 failed" in capsys.readouterr().out
    flag.unlink()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "4 already final, 2 run now" in out and "6 done" in out
    assert main(["report", str(db), "--out", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## Sweep `cli`" in md and "| 0 | 0 | 6 | 0 | 0 |" in md
    assert "pi_est" in md and "metric_x" in md
    pngs = sorted(p.name for p in (tmp_path / "rep").glob("*.png"))
    assert "cli-pi_est.png" in pngs and "cli-curves-running.png" in pngs
    for name in pngs:
        assert f"![{name}]({name})" in md
    # the default report folder sits beside the store
    assert main(["report", str(db)]) == 0
    assert (tmp_path / "cli-report" / "report.md").exists()


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "subst,extra,needle",
    [
        ({"seed = [0, 1]": "seed = []"}, [], "product.seed"),
        ({"x = [1, 2, 3]": "x = [1]\nlr = [0.1]"}, [], "parameter='lr'"),
        ({"[fixed]": "[fixd]"}, [], "spec key"),
        ({}, ["--executor", "slurm"], "executor"),
        ({}, ["--workers", "0"], "workers"),
        ({}, ["--executor", "dask", "--scheduler", "tcp://127.0.0.1:PORT"], "scheduler"),
    ],
)
def test_bad_sweep_exits_2_one_line_nothing_written(
    tmp_path, helper_module, capsys, subst, extra, needle
):
    spec = write_spec(tmp_path, helper_module, **subst)
    extra = [e.replace("PORT", str(_closed_port())) for e in extra]
    db = tmp_path / "new.db"
    assert main(["sweep", str(spec), "--store", str(db), "--no-progress", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


def test_incompatible_store_exits_2_unchanged(tmp_path, helper_module, capsys):
    spec = write_spec(tmp_path, helper_module)
    db = tmp_path / "s.db"
    assert main(["sweep", str(spec), "--store", str(db), "--workers", "1", "--no-progress"]) == 0
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE meta SET value='0' WHERE key='schema_version'")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    before = digest(db)
    capsys.readouterr()
    assert main(["sweep", str(spec), "--store", str(db), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "schema 0" in err[0]
    assert digest(db) == before
    assert main(["report", str(db)]) == 2
    assert not (tmp_path / "s-report").exists()


def test_report_of_a_missing_store_exits_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "none.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
