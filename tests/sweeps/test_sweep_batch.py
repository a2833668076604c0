"""The sweeps' batching hook (sgdnoise.sweeps.Batch): several grid points as one task,
recorded per point under the per-run keys — resume, kill-safety and failures as today."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.sweeps import Batch, Store, run_sweep
from sgdnoise.sweeps.batching import tasks
from sgdnoise.sweeps.spec import load_spec, run_key


def spec_of(helper_module, flag="", xs=(1, 2, 3, 4, 5), seeds=(0, 1, 2)):
    return {
        "name": "mcb",
        "function": f"{helper_module}:mc_pi",
        "fixed": {"fail_flag": flag, "diverge_at": 4, "n": 4000},
        "product": {"x": list(xs), "seed": list(seeds)},
    }


def batch_of(helper_module, fn="mc_pi_group", size=2):
    return Batch(function=f"{helper_module}:{fn}", members=("seed",), size=size)


def records(db):
    with Store(db) as st:
        return {r["key"]: r for r in st.runs()}


def test_tasks_group_by_everything_but_the_members_in_grid_order():
    todo = [(f"k{x}{s}", {"x": x, "seed": s, "n": 5}) for x in (1, 2) for s in (0, 1, 2)]
    b = Batch(function="m:f", members=("seed",), size=2)
    got = [[k for k, _ in t] for t in tasks(b, todo)]
    assert got == [["k10", "k11"], ["k12"], ["k20", "k21"], ["k22"]]
    # size per group, from the group's first config
    b = Batch(function="m:f", members=("seed",), size=lambda c: 1 if c["x"] == 1 else 3)
    got = [[k for k, _ in t] for t in tasks(b, todo)]
    assert got == [["k10"], ["k11"], ["k12"], ["k20", "k21", "k22"]]
    # even chunks: 7 points at most 3 a task are 3 + 2 + 2, not 3 + 3 + 1
    seven = [(f"s{i}", {"seed": i}) for i in range(7)]
    got = [[k for k, _ in t] for t in tasks(Batch("m:f", ("seed",), 3), seven)]
    assert got == [["s0", "s1", "s2"], ["s3", "s4"], ["s5", "s6"]]
    # no batch: one point per task, in order (today's sweep)
    assert tasks(None, todo) == [[kc] for kc in todo]
    b = Batch(function="m:f", members=("seed",), size=lambda c: 0)
    with pytest.raises(ParameterError, match=r"batch\.size"):
        tasks(b, todo)


@pytest.mark.parametrize(
    "kw, what",
    [
        (dict(function="", members=("seed",)), "batch.function"),
        (dict(function="m:f", members="seed"), "batch.members"),
        (dict(function="m:f", members=("seed",), size=0), "batch.size"),
        (dict(function="m:f", members=("seed",), size=True), "batch.size"),
    ],
)
def test_bad_batch_is_refused(kw, what):
    with pytest.raises(ParameterError, match=what.replace(".", r"\.")):
        Batch(**kw)


def test_unimportable_batch_function_is_refused_before_the_store(tmp_path, helper_module):
    db = tmp_path / "x.db"
    with pytest.raises(ParameterError, match="function"):
        run_sweep(
            spec_of(helper_module), db, workers=1, progress=False,
            batch=Batch(function=f"{helper_module}:no_such", members=("seed",)),
        )  # fmt: skip
    assert not db.exists()


def test_batched_equals_per_run_and_a_failing_member_fails_alone(tmp_path, helper_module):
    flag = tmp_path / "flag"
    flag.write_text("fail")
    spec = spec_of(helper_module, str(flag))
    plain = run_sweep(spec, tmp_path / "plain.db", workers=2, progress=False)
    s1 = run_sweep(
        spec, tmp_path / "b.db", workers=2, progress=False, batch=batch_of(helper_module)
    )
    assert "batched by" in s1.executor and "batched" not in plain.executor
    for s in (plain, s1):  # x == 3 fails, x == 4 diverges, in both ways of running
        assert (s.ran, s.counts["done"], s.counts["failed"], s.counts["diverged"]) == (
            15, 9, 3, 3,
        )  # fmt: skip
    a, b = records(tmp_path / "plain.db"), records(tmp_path / "b.db")
    assert set(a) == set(b)
    for k in a:
        assert (a[k]["status"], a[k]["metrics"]) == (b[k]["status"], b[k]["metrics"])
    with Store(tmp_path / "b.db") as sb, Store(tmp_path / "plain.db") as sa:
        for k in b:
            ca, cb = sa.curves(k), sb.curves(k)
            assert set(ca) == set(cb)
            assert all(np.array_equal(ca[n][i], cb[n][i]) for n in ca for i in (0, 1))
    # the failing member's task had a done member beside it (tasks of 2 seeds)
    failed = [r for r in b.values() if r["status"] == "failed"]
    assert all("flag file present" in r["error"] for r in failed)
    x3 = [r for r in b.values() if r["config"]["x"] == 3]
    assert len(x3) == 3 and all(r["status"] == "failed" for r in x3)
    # retry: exactly the failed points run again, now together, and nothing else moves
    flag.unlink()
    s2 = run_sweep(
        spec, tmp_path / "b.db", workers=2, progress=False, batch=batch_of(helper_module)
    )
    assert (s2.skipped, s2.ran) == (12, 3) and s2.complete
    again = records(tmp_path / "b.db")
    for k, r in again.items():
        if b[k]["status"] != "failed":
            assert r == b[k]
        else:
            assert r["status"] == "done" and r["attempts"] == 2


def test_member_failure_inside_a_mixed_task(tmp_path, helper_module):
    """x = 2 and 3 share one task (members x, seed): the x = 3 member fails, x = 2 is done."""
    flag = tmp_path / "flag"
    flag.write_text("fail")
    spec = spec_of(helper_module, str(flag), xs=(2, 3), seeds=(0,))
    b = Batch(function=f"{helper_module}:mc_pi_group", members=("x", "seed"), size=8)
    s = run_sweep(spec, tmp_path / "m.db", workers=1, progress=False, batch=b)
    assert s.counts["done"] == 1 and s.counts["failed"] == 1
    recs = records(tmp_path / "m.db")
    assert len({r["worker"] for r in recs.values()}) == 1  # one task ran both
    by_x = {r["config"]["x"]: r for r in recs.values()}
    assert by_x[2]["status"] == "done" and by_x[3]["status"] == "failed"
    assert "flag file present" in by_x[3]["error"]


@pytest.mark.parametrize(
    "fn, why", [("broken_group", "the whole task broke"), ("short_group", "returned 1 results")]
)
def test_a_failing_task_fails_each_of_its_points(tmp_path, helper_module, fn, why):
    spec = spec_of(helper_module, xs=(1,), seeds=(0, 1))
    s = run_sweep(
        spec, tmp_path / "f.db", workers=1, progress=False, batch=batch_of(helper_module, fn)
    )
    assert s.counts["failed"] == 2 and not s.complete
    assert all(why in r["error"] for r in records(tmp_path / "f.db").values())


SCRIPT = """
import json, sys
from sgdnoise.sweeps import Batch, run_sweep

if __name__ == "__main__":
    spec, db, fn = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    run_sweep(spec, db, workers=2, progress=False,
              batch=Batch(function=fn, members=("seed",), size=2))
"""


def _count(db, status) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            q = "SELECT COUNT(*) FROM runs WHERE status=?"
            return con.execute(q, (status,)).fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_grouped_sweep_killed_resumes_without_rerunning(tmp_path, helper_module, monkeypatch):
    """kill -9 while tasks are in flight: the finished points are kept as they were, the
    points in flight are found ``running`` and run once more, nothing is computed twice."""
    hold, log, db = tmp_path / "hold", tmp_path / "log", tmp_path / "k.db"
    hold.write_text("")
    monkeypatch.setenv("SGDNOISE_TEST_HOLD", str(hold))
    monkeypatch.setenv("SGDNOISE_TEST_LOG", str(log))
    (tmp_path / "go.py").write_text(SCRIPT)
    spec = spec_of(helper_module, xs=(1, 2, 3, 5, 6), seeds=(0, 1, 2, 3))
    fn = f"{helper_module}:mc_pi_group"
    cmd = [sys.executable, str(tmp_path / "go.py"), json.dumps(spec), str(db), fn]
    proc = subprocess.Popen(cmd, env=dict(os.environ))
    t0 = time.monotonic()
    # the x = 1 tasks finish; the others wait on the hold file, in flight
    while (_count(db, "done") < 4 or _count(db, "running") < 4) and time.monotonic() - t0 < 90:
        assert proc.poll() is None, "the coordinator stopped early"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = records(db)
    status = Counter(r["status"] for r in before.values())
    assert status["done"] == 4 and status["running"] >= 4, status
    hold.unlink()
    s = run_sweep(spec, db, workers=2, progress=False, batch=Batch(fn, ("seed",), 2))
    assert (s.skipped, s.ran) == (4, 16) and s.complete
    after = records(db)
    for k, r in before.items():
        if r["status"] == "done":
            assert after[k] == r  # kept as it was: not run again
    computed = Counter(log.read_text().split("\n")[:-1])
    assert sorted(computed.values()) == [1] * 20  # each point computed exactly once
    sp = load_spec(spec)
    assert set(after) == {run_key(sp.function, c) for c in sp.configs()}
