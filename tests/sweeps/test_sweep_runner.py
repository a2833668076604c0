"""Running and resuming sweeps on the local process pool."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.stats import powerlaw_fit
from sgdnoise.sweeps import Store, run_sweep, write_report
from sgdnoise.sweeps.spec import load_spec, run_key
from sgdnoise.theory.conventions import temperature


def mc_spec(helper_module, flag="", **over):
    spec = {
        "name": "mc",
        "function": f"{helper_module}:mc_pi",
        "fixed": {"fail_flag": flag, "diverge_at": 4},
        "product": {"x": [1, 2, 3, 4, 5], "seed": [0, 1]},
    }
    spec.update(over)
    return spec


def test_resume_skips_final_runs_and_retries_failed(tmp_path, helper_module):
    flag = tmp_path / "flag"
    flag.write_text("fail")
    db = tmp_path / "mc.db"
    spec = mc_spec(helper_module, str(flag))
    s1 = run_sweep(spec, db, workers=2, progress=False)
    assert s1.total == 10 and s1.ran == 10 and s1.skipped == 0
    assert s1.counts["failed"] == 2 and s1.counts["diverged"] == 2 and s1.counts["done"] == 6
    assert not s1.complete
    with Store(db) as st:
        first = {r["key"]: r for r in st.runs()}
        failed = [r for r in first.values() if r["status"] == "failed"]
        assert all("flag file present" in r["error"] for r in failed)
        assert {r["config"]["x"] for r in failed} == {3}

    flag.unlink()
    s2 = run_sweep(spec, db, workers=2, progress=False)
    assert s2.skipped == 8 and s2.ran == 2 and s2.complete
    with Store(db) as st:
        again = {r["key"]: r for r in st.runs()}
        assert st.integrity_check() == "ok"
        assert len(st.sessions()) == 2
    assert set(again) == set(first)
    for k, r in again.items():
        if first[k]["status"] in ("done", "diverged"):  # untouched: same record, one attempt
            assert r == first[k] and r["attempts"] == 1
        else:
            assert r["status"] == "done" and r["attempts"] == 2 and r["error"] is None
    # the recorded number is the real computation, whichever process ran it
    rng = np.random.default_rng([2, 1])
    u = rng.random((20000, 2))
    want = 4.0 * ((u**2).sum(axis=1) < 1).mean()
    row = next(r for r in again.values() if r["config"]["x"] == 2 and r["config"]["seed"] == 1)
    assert row["metrics"]["pi_est"] == want
    assert abs(want - math.pi) < 0.05  # 5 sigma of a 20000-point estimate (sigma ≈ 0.0116)

    s3 = run_sweep(spec, db, workers=1, progress=False)
    assert s3.ran == 0 and s3.skipped == 10


def test_extending_the_grid_runs_only_new_points(tmp_path, helper_module):
    db = tmp_path / "mc.db"
    run_sweep(
        mc_spec(helper_module, product={"x": [1, 2], "seed": [0]}), db, workers=1, progress=False
    )
    s = run_sweep(
        mc_spec(helper_module, product={"x": [1, 2, 5], "seed": [0]}), db, workers=1, progress=False
    )
    assert (s.skipped, s.ran) == (2, 1)
    with Store(db) as st:
        assert len(st.runs()) == 3


def test_bad_return_values_are_failed_runs(tmp_path, helper_module):
    s = run_sweep(
        {"function": f"{helper_module}:not_a_dict", "product": {"x": [1]}},
        tmp_path / "b.db",
        workers=1,
        progress=False,
    )
    assert s.counts["failed"] == 1
    with Store(tmp_path / "b.db") as st:
        assert "not a dict" in st.runs()[0]["error"]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "kwargs,parameter",
    [
        ({"product": {"x": [], "seed": [0]}}, "product.x"),
        ({"product": {"x": [1], "epochs": [3]}}, "parameter"),
        ({"executor": "ray"}, "executor"),
        ({"workers": 0}, "workers"),
        ({"scheduler": "tcp://127.0.0.1:1"}, "scheduler"),  # a scheduler needs executor dask
    ],
)
def test_rejected_sweep_changes_nothing(tmp_path, helper_module, kwargs, parameter):
    db = tmp_path / "mc.db"
    run_sweep(
        mc_spec(helper_module, product={"x": [1], "seed": [0]}), db, workers=1, progress=False
    )
    with Store(db) as st:
        st.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = _digest(db)
    files = sorted(p.name for p in tmp_path.iterdir())
    spec_over = {k: v for k, v in kwargs.items() if k == "product"}
    run_over = {k: v for k, v in kwargs.items() if k != "product"}
    with pytest.raises(ParameterError) as e:
        run_sweep(mc_spec(helper_module, **spec_over), db, progress=False, **run_over)
    assert e.value.parameter == parameter
    assert _digest(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files
    with pytest.raises(ParameterError):
        run_sweep(
            mc_spec(helper_module, **spec_over), tmp_path / "new.db", progress=False, **run_over
        )
    assert not (tmp_path / "new.db").exists()


def test_noisy_quadratic_sweep_matches_sde_prediction(tmp_path):
    """The sweepable quadratic does real SGD: its stationary excess loss follows the SDE
    prediction (T/4) tr Σ(θ̂) (BG21), i.e. is linear in T = η/B.

    Tolerances, from 12-seed pilot runs: one run's time average over 10 000 stationary
    steps scatters by about 7% between seeds, and the discrete-time and multiplicative
    noise corrections, O(η λ_max / B), add at most about +5% at η ≤ 0.05, B ≥ 2.  So each
    point must lie within 30% (4 sigma), the grid's mean ratio within 10%, and the log-log
    slope against T within 0.15 of 1.
    """
    spec = load_spec(
        {
            "name": "quad-T",
            "function": "noisy-quadratic",
            "fixed": {"dim": 4, "n_train": 400, "steps": 20000, "noise": 0.5, "record_every": 20},
            "product": {"lr": [0.0125, 0.025, 0.05], "batch": [2, 8], "seed": [0, 1]},
        }
    )
    s = run_sweep(spec, tmp_path / "q.db", workers=2, progress=False)
    assert s.complete
    with Store(tmp_path / "q.db") as st:
        df = st.to_frame()
    T = np.array([temperature(lr, b) for lr, b in zip(df["lr"], df["batch"])])
    pred = T / 4 * df["trace_sigma"].to_numpy()
    ratio = df["excess_loss"].to_numpy() / pred
    assert np.all(np.abs(ratio - 1) < 0.3), ratio
    assert abs(ratio.mean() - 1) < 0.1, ratio
    fit = powerlaw_fit(T, df["excess_loss"].to_numpy(), groups=df["seed"].to_numpy(), n_boot=200)
    assert abs(fit.exponent - 1) < 0.15, fit
    assert set(df["key"]) == {run_key(spec.function, c) for c in spec.configs()}
    # the report draws a phase diagram over the two non-seed axes
    md = write_report(tmp_path / "q.db").read_text()
    assert "### Metrics (mean over seed" in md and "![quad-T-excess_loss.png]" in md
    png = tmp_path / "q-report" / "quad-T-excess_loss.png"
    assert png.stat().st_size > 5000


def test_report_of_an_empty_store_is_refused(tmp_path):
    Store.create_or_open(tmp_path / "e.db").close()
    with pytest.raises(ParameterError, match="holds no runs"):
        write_report(tmp_path / "e.db", tmp_path / "out")
    assert not (tmp_path / "out").exists()
