"""The SQLite store: schema checks, one writer, atomic records, pandas export."""

from __future__ import annotations

import hashlib
import math
import sqlite3

import numpy as np
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.sweeps.store import SCHEMA_VERSION, Store, check_store


def outcome(key, **over):
    o = {
        "key": key,
        "status": "done",
        "metrics": {"loss": 0.5, "lr": 7.0},
        "curves": {"c": ([0.0, 1.0, 2.0], [3.0, 2.0, 1.5])},
        "error": None,
        "seconds": 0.1,
        "cpu_seconds": 0.09,
        "worker": "h:1",
    }
    o.update(over)
    return o


@pytest.fixture
def store(tmp_path):
    st = Store.create_or_open(tmp_path / "s.db")
    yield st
    st.close()


def test_new_store_is_wal_and_versioned(store):
    assert store.con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    meta = store.meta()
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert meta["created_by"]
    assert store.integrity_check() == "ok"


def test_record_roundtrip_and_frame(store):
    sid = store.begin_session({"name": "t"}, "local", 2)
    store.add_runs("t", "f", [("k1", {"lr": 0.1, "B": 2}), ("k2", {"lr": 0.2, "B": 2})])
    store.add_runs("t", "f", [("k1", {"lr": 0.1, "B": 2})])  # re-adding never doubles
    assert store.counts()["pending"] == 2
    store.mark_running(["k1"], sid)
    store.record(outcome("k1"), sid)
    store.mark_running(["k2"], sid)
    store.record(
        outcome("k2", status="diverged", metrics={"loss": math.inf, "lr": math.nan}, curves={}),
        sid,
    )
    assert store.counts() == {"pending": 0, "running": 0, "done": 1, "failed": 0, "diverged": 1}
    x, y = store.curves("k1")["c"]
    np.testing.assert_array_equal(x, [0, 1, 2])
    np.testing.assert_array_equal(y, [3, 2, 1.5])
    assert store.curves("k2") == {}
    df = store.to_frame()
    assert list(df["key"]) == ["k1", "k2"]
    # the metric 'lr' collides with the parameter 'lr' and gets a prefix
    assert {"lr", "B", "loss", "metric_lr", "attempts", "seconds"} <= set(df.columns)
    assert df.loc[0, "lr"] == 0.1 and df.loc[0, "metric_lr"] == 7.0
    assert math.isinf(df.loc[1, "loss"]) and math.isnan(df.loc[1, "metric_lr"])
    assert list(df["attempts"]) == [1, 1]
    cf = store.curves_frame()
    assert len(cf) == 3 and set(cf["name"]) == {"c"} and set(cf["lr"]) == {0.1}
    assert len(store.to_frame(status="diverged")) == 1
    with pytest.raises(ParameterError) as e:
        store.runs(status="finished")
    assert e.value.parameter == "status"


def test_record_is_atomic(store):
    """A record that fails half-way (a bad curve) leaves the run exactly as it was."""
    sid = store.begin_session({"name": "t"}, "local", 1)
    store.add_runs("t", "f", [("k1", {"a": 1})])
    store.mark_running(["k1"], sid)
    bad = outcome("k1", curves={"c": ([0.0], [1.0]), "d": (["x"], [1.0])})
    with pytest.raises(ValueError):
        store.record(bad, sid)
    r = store.runs()[0]
    assert r["status"] == "running" and r["metrics"] == {}
    assert store.curves("k1") == {}


def test_second_writer_is_refused(store, tmp_path):
    store.lock()
    other = Store.create_or_open(tmp_path / "s.db")
    with pytest.raises(ParameterError) as e:
        other.lock()
    assert e.value.parameter == "store" and "another sweep" in str(e.value)
    other.close()


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_incompatible_or_foreign_files_are_refused(tmp_path):
    st = Store.create_or_open(tmp_path / "old.db")
    with st.con:
        st.con.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    st.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    st.close()
    before = _digest(tmp_path / "old.db")
    for opener in (check_store, Store, Store.create_or_open):
        with pytest.raises(ParameterError) as e:
            opener(tmp_path / "old.db")
        assert e.value.parameter == "store"
        assert "schema 999" in str(e.value) and f"schema {SCHEMA_VERSION}" in str(e.value)
    assert _digest(tmp_path / "old.db") == before

    (tmp_path / "text.db").write_text("not a database at all, just some text " * 20)
    with pytest.raises(ParameterError) as e:
        check_store(tmp_path / "text.db")
    assert "SQLite" in str(e.value)

    con = sqlite3.connect(tmp_path / "other.db")
    con.execute("CREATE TABLE t(x)")
    con.commit()
    con.close()
    with pytest.raises(ParameterError) as e:
        Store.create_or_open(tmp_path / "other.db")
    assert "not a sgdnoise results store" in str(e.value)

    with pytest.raises(ParameterError) as e:
        Store(tmp_path / "absent.db")
    assert not (tmp_path / "absent.db").exists()
    with pytest.raises(ParameterError) as e:
        Store.create_or_open(tmp_path / "no" / "such" / "dir.db")
    assert e.value.parameter == "store"
