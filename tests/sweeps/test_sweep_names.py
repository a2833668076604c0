"""Sweeps that cannot be misused (issue 16): built-in workers by name, run keys by name and
resolved parameters (with a migration of schema-1 stores), a sweep name's fixed settings
remembered, and a script without a main guard stopped at once."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.sweeps import Store, run_sweep, write_report
from sgdnoise.sweeps.spec import canonical_json, load_spec, resolve_function, run_key
from sgdnoise.sweeps.store import SCHEMA_VERSION
from sgdnoise.sweeps.tasks import BUILTIN

REPO = Path(__file__).resolve().parents[2]
QUAD_PATH = "sgdnoise.sweeps.tasks:noisy_quadratic_sgd"


def quad(name="q", steps=40, **over):
    spec = {
        "name": name,
        "function": "noisy-quadratic",
        "fixed": {"steps": steps, "dim": 3, "n_train": 32, "record_every": 10},
        "product": {"lr": [0.05, 0.1], "seed": [0, 1]},
        "zip": [{"batch": [4]}],
    }
    spec.update(over)
    return spec


# ----------------------------------------------------------------------- the name table


def test_every_builtin_worker_is_in_the_table():
    """Every FUNCTION constant and @sweepable name in sgdnoise is a line of BUILTIN, and
    every line resolves to its function, whose registered name (if any) is the line's."""
    paths, names = set(), set()
    for f in (REPO / "sgdnoise").rglob("*.py"):
        text = f.read_text()
        paths |= set(re.findall(r'^FUNCTION = "([\w.]+:[\w.]+)"', text, re.M))
        names |= set(re.findall(r'@sweepable\(\s*"([^"]+)"', text))
    missing = sorted((paths - set(BUILTIN.values())) | (names - set(BUILTIN)))
    assert not missing, (
        f"workers {missing} are not in sgdnoise.sweeps.tasks.BUILTIN: add a line "
        "'name': 'module:function' so that specs can name them"
    )
    for name, path in BUILTIN.items():
        fn = resolve_function(name)
        assert callable(fn) and f"{fn.__module__}:{fn.__qualname__}" == path
        assert getattr(fn, "sweep_name", name) == name


def test_builtin_name_resolves_in_a_fresh_process():
    """``function = "kcl23-run"`` needs no import beforehand (it used to be refused unless
    its module happened to be imported); an incomplete spec names the missing parameter."""
    code = textwrap.dedent(
        """
        from sgdnoise.errors import ParameterError
        from sgdnoise.sweeps.spec import load_spec
        for name in ("kcl23-run", "p19-point", "sgw23-perceptron"):
            try:
                load_spec({"function": name, "product": {"seed": [0]}})
            except ParameterError as e:
                print(name, e.parameter, "required" in str(e))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout.split("\n")
    assert out[:3] == ["kcl23-run parameter True", "p19-point parameter True",
                       "sgw23-perceptron parameter True"]  # fmt: skip


# ----------------------------------------------------------------------- run keys


def test_run_key_by_name_and_resolved_parameters():
    c = {"lr": 0.1, "batch": 4, "seed": 0}
    k = run_key("noisy-quadratic", c)
    assert run_key(QUAD_PATH, c) == k  # the module path of a named worker is its name
    assert run_key("noisy-quadratic", dict(c, dim=8)) == k  # a default spelled out
    assert run_key("noisy-quadratic", dict(c, lr=0.1, batch=4)) == k
    assert run_key("noisy-quadratic", dict(c, dim=9)) != k
    assert run_key("noisy-quadratic", dict(c, seed=1)) != k
    # int given where the function takes a float: the same run
    assert run_key("noisy-quadratic", dict(c, lr=1)) == run_key("noisy-quadratic", dict(c, lr=1.0))


@pytest.mark.parametrize(
    "fixed,parameter",
    [
        ({"steps": "40"}, "fixed.steps"),
        ({"steps": 40.0}, "fixed.steps"),
        ({"steps": True}, "fixed.steps"),
        ({"noise": "high"}, "fixed.noise"),
    ],
)
def test_values_are_typed_by_the_annotations(fixed, parameter):
    with pytest.raises(ParameterError) as e:
        load_spec(quad(fixed=fixed))
    assert e.value.parameter == parameter


def test_int_for_float_is_read_as_float():
    s = load_spec(quad(product={"lr": [1], "seed": [0]}))
    assert s.product["lr"] == [1.0] and isinstance(s.product["lr"][0], float)


def test_memory_estimate_refuses_a_huge_grid_point():
    with pytest.raises(ParameterError) as e:
        load_spec(quad(steps=1_000_000_000_000))
    assert e.value.parameter == "steps" and "GiB" in str(e.value)


def _v1_store(path: Path, spec: dict) -> dict[str, str]:
    """A store as sgdnoise wrote it before keys were by name (schema 1): the worker by
    module path, keys hashing that path and the config as given; every run done."""
    from sgdnoise.sweeps.store import _SCHEMA

    con = sqlite3.connect(path)
    con.executescript(_SCHEMA[: _SCHEMA.index("CREATE TABLE sweeps")])
    con.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [("schema_version", "1"), ("created_by", "0.0.9"), ("created", str(time.time()))],
    )
    con.execute(
        "INSERT INTO sessions(started, spec, executor, workers, versions) VALUES (?,?,?,?,?)",
        (time.time(), canonical_json(spec), "local", 1, "{}"),
    )
    old = {}
    for cfg in load_spec(spec).configs():
        key = hashlib.sha256(
            canonical_json({"function": QUAD_PATH, "config": cfg}).encode()
        ).hexdigest()
        old[key] = canonical_json(cfg)
        con.execute(
            "INSERT INTO runs(key, sweep, function, config, status, metrics, created) "
            "VALUES (?, ?, ?, ?, 'done', ?, ?)",
            (key, spec["name"], QUAD_PATH, canonical_json(cfg), json.dumps({"m": 1.0}), 0.0),
        )
        con.execute("INSERT INTO curves VALUES (?, 'c', ?, ?)", (key, b"\0" * 8, b"\0" * 8))
    con.commit()
    con.close()
    return old


def test_schema_1_store_is_migrated_and_resumes_without_rerunning(tmp_path):
    spec = quad()
    store = tmp_path / "old.db"
    old = _v1_store(store, dict(spec, function=QUAD_PATH))
    with Store(store) as st:  # readers open the old schema as it is
        assert st.schema == 1 and len(st.runs()) == len(old)
    summary = run_sweep(spec, store, workers=1, progress=False)
    assert summary.ran == 0 and summary.skipped == len(old) == summary.total
    with Store(store) as st:
        assert st.meta()["schema_version"] == str(SCHEMA_VERSION)
        runs = st.runs()
        assert {r["function"] for r in runs} == {"noisy-quadratic"}
        new = {run_key("noisy-quadratic", c) for c in load_spec(spec).configs()}
        assert {r["key"] for r in runs} == new and not new & set(old)
        assert all(st.curves(r["key"]) for r in runs)  # curves moved with their runs
        assert st.integrity_check() == "ok"
        assert st.con.execute("PRAGMA foreign_key_check").fetchall() == []


# ----------------------------------------------------------------------- fixed settings


def test_changed_fixed_setting_is_refused_with_nothing_written(tmp_path):
    store = tmp_path / "s.db"
    run_sweep(quad(steps=40), store, workers=1, progress=False)
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    with pytest.raises(ParameterError) as e:
        run_sweep(quad(steps=80), store, workers=1, progress=False)
    assert e.value.parameter == "fixed.steps" and "40" in str(e.value)
    assert "new name" in str(e.value)
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before
    # spelling out a default is not a change
    again = quad(steps=40)
    again["fixed"] = dict(again["fixed"], noise=0.5)
    assert run_sweep(again, store, workers=1, progress=False).ran == 0


def test_variant_keeps_changed_settings_apart_and_the_report_says_which(tmp_path):
    store = tmp_path / "s.db"
    run_sweep(quad(steps=40), store, workers=1, progress=False)
    s2 = run_sweep(quad(steps=80), store, workers=1, progress=False, on_change="variant")
    assert s2.sweep == "q@2" and s2.complete
    with Store(store) as st:
        assert st.counts("q")["done"] == st.counts("q@2")["done"] == 4
    md = write_report(store, tmp_path / "rep").read_text()
    assert "`q@2` is sweep `q` run again with other fixed settings" in md
    assert "`steps`: 40 → 80" in md


# ----------------------------------------------------------------------- main guard


SCRIPT = """
from sgdnoise.sweeps import run_sweep

SPEC = {spec!r}
{guard}run_sweep(SPEC, {store!r}, workers=1, progress=False)
print("finished")
"""


@pytest.mark.parametrize("guarded", [False, True])
def test_script_without_main_guard_stops_at_once(tmp_path, guarded):
    store = tmp_path / "g.db"
    guard = 'if __name__ == "__main__":\n    ' if guarded else ""
    script = tmp_path / "sweep_script.py"
    script.write_text(SCRIPT.format(spec=quad(), store=str(store), guard=guard))
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    if guarded:
        assert proc.returncode == 0, proc.stderr
        with Store(store) as st:
            assert st.counts()["done"] == 4
    else:
        assert proc.returncode != 0 and "finished" not in proc.stdout
        last = proc.stderr.strip().splitlines()[-1]
        assert 'if __name__ == "__main__":' in last and "executor" in last
        assert not store.exists()


def test_data_dir_that_does_not_exist_is_refused_at_validation(tmp_path, monkeypatch):
    (tmp_path / "userfns.py").write_text(
        "def f(x: int, data_dir: str = ''):\n    return {'x': float(x)}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = {"function": "userfns:f", "product": {"x": [1, 2]}}
    assert len(load_spec(dict(spec, fixed={"data_dir": str(tmp_path)}))) == 2
    with pytest.raises(ParameterError) as e:
        load_spec(dict(spec, fixed={"data_dir": str(tmp_path / "nope")}))
    assert e.value.parameter == "fixed.data_dir" and "does not exist" in str(e.value)
