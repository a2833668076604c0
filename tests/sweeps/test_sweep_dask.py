"""Sweeps through Dask distributed: a real LocalCluster of 2 worker processes on loopback
(started once for the module), reached both as our own cluster and by its address."""

from __future__ import annotations

import os
import socket
import time

import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.sweeps import Batch, DaskExecutor, Store, run_sweep

SPEC = {
    "name": "dask",
    "function": "noisy-quadratic",
    "fixed": {"dim": 4, "steps": 2000, "record_every": 200},
    "product": {"lr": [0.02, 0.05, 0.1], "batch": [2, 8], "seed": [0, 1]},
}


@pytest.fixture(scope="module")
def cluster(helper_module):
    # started after the helper module is on PYTHONPATH, so its workers can import it
    ex = DaskExecutor(workers=2)  # a LocalCluster of 2 processes on 127.0.0.1
    yield ex
    ex.close()


@pytest.mark.slow
def test_sweep_on_our_local_cluster_matches_local_pool(cluster, tmp_path):
    assert cluster.address.startswith("tcp://127.0.0.1:")
    assert cluster.capacity == 2
    s = run_sweep(SPEC, tmp_path / "dask.db", executor=cluster, progress=False)
    assert s.complete and s.counts["done"] == 12
    run_sweep(SPEC, tmp_path / "local.db", workers=2, progress=False)
    with Store(tmp_path / "dask.db") as a, Store(tmp_path / "local.db") as b:
        ra = {r["key"]: r for r in a.runs()}
        rb = {r["key"]: r for r in b.runs()}
        assert a.sessions()[0]["executor"] == "dask"
        workers = {r["worker"] for r in ra.values()}
    assert set(ra) == set(rb)
    # seeded experiments give identical numbers whichever executor ran them
    assert all(ra[k]["metrics"] == rb[k]["metrics"] for k in ra)
    pids = {int(w.rsplit(":", 1)[1]) for w in workers}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


@pytest.mark.slow
def test_sweep_through_a_scheduler_address_resumes(cluster, tmp_path):
    db = tmp_path / "addr.db"
    half = dict(SPEC, product={"lr": [0.02], "batch": [2, 8], "seed": [0, 1]})
    s1 = run_sweep(half, db, executor="dask", scheduler=cluster.address, progress=False)
    assert s1.complete and s1.ran == 4
    s2 = run_sweep(SPEC, db, executor="dask", scheduler=cluster.address, progress=False)
    assert s2.complete and (s2.skipped, s2.ran) == (4, 8)
    with Store(db) as st:
        assert st.counts()["done"] == 12 and st.integrity_check() == "ok"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_a_clear_error_quickly(tmp_path):
    port = _closed_port()
    t0 = time.perf_counter()
    with pytest.raises(ParameterError) as e:
        run_sweep(SPEC, tmp_path / "x.db", executor="dask", scheduler=f"tcp://127.0.0.1:{port}")
    assert time.perf_counter() - t0 < 10  # refused at once (most of this is importing dask)
    assert e.value.parameter == "scheduler" and "no Dask scheduler" in str(e.value)
    assert not (tmp_path / "x.db").exists()


def test_silent_peer_times_out(tmp_path):
    """Something listens but never speaks Dask: refused after connect_timeout, not a hang."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        addr = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        t0 = time.perf_counter()
        with pytest.raises(ParameterError) as e:
            run_sweep(SPEC, tmp_path / "y.db", executor="dask", scheduler=addr, connect_timeout=1.0)
        assert time.perf_counter() - t0 < 10
    assert e.value.parameter == "scheduler" and "within 1 s" in str(e.value)
    assert not (tmp_path / "y.db").exists()


def test_workers_with_a_scheduler_is_refused(tmp_path):
    with pytest.raises(ParameterError) as e:
        run_sweep(
            SPEC, tmp_path / "w.db", executor="dask", scheduler="tcp://127.0.0.1:1", workers=4
        )
    assert e.value.parameter == "workers"
    assert not (tmp_path / "w.db").exists()


@pytest.mark.parametrize("addr", ["", "tcp://127.0.0.1", "tcp://127.0.0.1:notaport"])
def test_malformed_scheduler_address(tmp_path, addr):
    with pytest.raises(ParameterError) as e:
        run_sweep(SPEC, tmp_path / "z.db", executor="dask", scheduler=addr)
    assert e.value.parameter == "scheduler"


@pytest.mark.slow
def test_batched_sweep_on_dask_matches_per_run(cluster, tmp_path, helper_module):
    """Grouped points run as one Dask task each; records equal the per-run sweep's, and a
    failing member is failed alone."""
    flag = tmp_path / "flag"
    flag.write_text("fail")
    spec = {
        "name": "mcd",
        "function": f"{helper_module}:mc_pi",
        "fixed": {"fail_flag": str(flag), "n": 4000},
        "product": {"x": [2, 3], "seed": [0, 1, 2]},
    }
    b = Batch(function=f"{helper_module}:mc_pi_group", members=("x", "seed"), size=3)
    s = run_sweep(spec, tmp_path / "b.db", executor=cluster, progress=False, batch=b)
    assert (s.counts["done"], s.counts["failed"]) == (3, 3)
    run_sweep(spec, tmp_path / "p.db", executor=cluster, progress=False)
    with Store(tmp_path / "b.db") as a, Store(tmp_path / "p.db") as p:
        ra = {r["key"]: r for r in a.runs()}
        rp = {r["key"]: r for r in p.runs()}
    assert set(ra) == set(rp)
    for k in ra:
        assert (ra[k]["status"], ra[k]["metrics"]) == (rp[k]["status"], rp[k]["metrics"])
    # two tasks of three points (x = 2, then x = 3, in grid order): one worker per task
    for x in (2, 3):
        assert len({r["worker"] for r in ra.values() if r["config"]["x"] == x}) == 1
