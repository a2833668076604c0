"""Claim sgw23-perceptron: the grid runs through the sweeps store and resumes, capped runs
are marked and left out, each smoke criterion can fail (synthetic frames and a real broken
ingredient), the cpu criteria hold on data that follow the laws and fail on data that do
not, and the smoke run agrees."""

import json
import subprocess
import sys
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sgdnoise.experiments import _sgw23_perceptron_analysis as A
from sgdnoise.experiments import all_claims
from sgdnoise.experiments import sgw23_perceptron as C
from sgdnoise.experiments._sgw23_perceptron_worker import perceptron_run

TINY = C.Settings(
    Ps=((0.0, (32, 64)),), noise_aT=(100.0, 1000.0), cross_aT=(), seeds=3, workers=1,
    machinery=True,
)  # fmt: skip


def _ctx(path):
    return SimpleNamespace(out_dir=path, seed=0, progress=False)


def test_registered():
    c = all_claims()["sgw23-perceptron"]
    assert c.paper == "SGW23" and c.scales == ("smoke", "cpu", "paper")


def test_import_does_no_work(repo_root):
    # importing the claim must not import numba, the simulator or the sweeps machinery
    code = (
        "import sys, sgdnoise.experiments.sgw23_perceptron; "
        "print('numba' in sys.modules, 'sgdnoise.simulate.perceptron' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


def test_specs_cover_the_grid():
    s = C.SCALES["cpu"]
    specs = C.specs(s, 0)
    # noise regime at every P, crossover temperatures at each χ's second-smallest P
    assert [sp["name"] for sp in specs] == [
        f"perceptron-chi{c:g}-{k}" for c in (0, 1, 3) for k in ("noise", "crossover")
    ]
    n = sum(len(sp["product"]["P"]) * 2 * s.seeds for sp in specs if "P" in sp["product"])
    assert n == 3 * 6 * 2 * 12
    assert C.SCALES["smoke"].machinery and not C.SCALES["cpu"].machinery
    paper = C.specs(C.SCALES["paper"], 0)
    assert any(sp["name"].endswith("-d") for sp in paper)


def test_grid_resumes_and_runs_nothing_twice(tmp_path):
    ctx = _ctx(tmp_path / "sgw23-perceptron.partial")
    ctx.out_dir.mkdir()
    # a killed run left part of the grid (two of three seeds) in the store
    df1, s1 = C.grid(ctx, replace(TINY, seeds=2))
    assert sum(x.ran for x in s1) == 8 and (df1["status"] == "done").all()
    # the full grid runs only what is missing ...
    df2, s2 = C.grid(ctx, TINY)
    assert sum(x.ran for x in s2) == 4 and sum(x.skipped for x in s2) == 8
    # ... and a second call on the same folder runs nothing new
    df3, s3 = C.grid(ctx, TINY)
    assert sum(x.ran for x in s3) == 0 and len(df3) == 12
    assert (df3["attempts"] == 1).all()
    pd.testing.assert_series_equal(
        df2.set_index("key")["dw1"].sort_index(), df3.set_index("key")["dw1"].sort_index()
    )


def test_capped_runs_are_marked_and_fail_the_machinery(tmp_path):
    # a cap too small to fit the training set: every run stops early, is "capped", and the
    # smoke machinery criterion on finished runs fails
    ctx = _ctx(tmp_path / "capped.partial")
    ctx.out_dir.mkdir()
    s = replace(TINY, max_updates=2)
    df, _ = C.grid(ctx, s)
    assert (df["status"] == "capped").all()
    j = {x.name: x for x in A.judge(df, s)}
    assert j["smoke_runs_done"].decision == "contradicted"
    assert j["smoke_ratio_P"].decision == "undecided"  # no finished run to fit


# -- synthetic frames: the laws with a chosen exponent --------------------------------------


def _frame(s, *, perp=0.0, ratio=None, dw1_T=1.0, tstar=None, gd_T=0.0, noise=0.03, seed=0):
    """Runs following ‖Δw_⊥‖ ∝ T^{dw1_T} √d P^perp, Δw₁/‖Δw_⊥‖ ∝ P^ratio (default
    1/(1+χ)), t* ∝ T^{dw1_T} d P^tstar (default (3+χ)/(1+χ)) with log-normal seed noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for chi, Ps in s.Ps:
        a = 1 / (1 + chi) if ratio is None else ratio
        b = (3 + chi) / (1 + chi) if tstar is None else tstar
        temps = [(P, aT) for P in Ps for aT in s.noise_aT]
        temps += [(s.P_cross(chi), aT) for aT in s.cross_aT]
        for i in range(s.seeds):
            for P, aT in temps:
                e = np.exp(noise * rng.standard_normal(3))
                T = aT / s.alpha
                hot = aT >= A.NOISE_AT
                tt = T**dw1_T if hot else T**gd_T * 0.1 ** (dw1_T - gd_T)
                dwp = 0.3 * tt * 4 * P**perp * e[0]
                rows.append(dict(
                    status="done", chi=chi, P=P, aT=aT, d=16, alpha=s.alpha, seed=i,
                    dw_perp=dwp, dw1=dwp * 0.1 * P**a * e[1], t_star=tt * 16 * P**b * e[2],
                ))  # fmt: skip
    return pd.DataFrame(rows)


def _decisions(df, s):
    return {j.name: j.decision for j in A.judge(df, s)}


def test_each_smoke_criterion_can_fail():
    s = C.SCALES["smoke"]
    assert set(_decisions(_frame(s), s).values()) == {"supported"}
    # noise that grows with the signal, a signal/noise exponent of χ = 1, Δw ∝ √T, and
    # runs that never finish: each breaks its own criterion
    for kw, name in [
        (dict(perp=0.6), "smoke_perp_P"),
        (dict(ratio=0.5), "smoke_ratio_P"),
        (dict(dw1_T=0.7), "smoke_dw1_T"),
    ]:
        d = _decisions(_frame(s, **kw), s)
        assert d[name] == "contradicted", (kw, d)
        assert sum(v == "contradicted" for v in d.values()) == 1, d
    df = _frame(s)
    df.loc[df.index[:5], "status"] = "capped"
    assert _decisions(df, s)["smoke_runs_done"] == "contradicted"


def test_smoke_fails_with_a_broken_ingredient():
    # the real simulator fed the wrong data law (χ = 3 while the claim reads χ = 0): the
    # signal/noise exponent falls to ≈ 1/4 and the smoke criterion says so
    s = C.SCALES["smoke"]
    rows = []
    for P in s.P_grid(0.0):
        for aT in s.noise_aT:
            for i in range(6):
                r = perceptron_run(chi=3.0, P=P, d=16, aT=aT, alpha=1.0, batch=4, seed=i,
                                   max_updates=10**8)  # fmt: skip
                rows.append(dict(r, status="done", chi=0.0, P=P, aT=aT, d=16, alpha=1.0, seed=i))
    d = _decisions(pd.DataFrame(rows), s)
    assert d["smoke_ratio_P"] == "contradicted", d


def test_cpu_criteria_follow_the_data():
    s = C.SCALES["cpu"]
    crit = A.declare(s)
    assert len({c.name for c in crit}) == len(crit) == 18
    derived = {c.name for c in crit if c.derived}
    assert derived == {"tstar_P_chi0", "tstar_P_chi1", "tstar_P_chi3", "tstar_T"}
    d = _decisions(_frame(s), s)
    assert set(d.values()) == {"supported"}, d
    # the measured t* exponent of the previous cpu run at χ = 0 (2.36 instead of 3)
    d = _decisions(_frame(s, tstar=2.36), s)
    assert d["tstar_P_chi0"] == "contradicted" and d["tstar_grows_P"] == "supported"
    # noise that does not depend on T: the T-exponent and direction criteria fail
    d = _decisions(_frame(s, dw1_T=0.5), s)
    assert d["perp_T"] == d["dw1_T"] == d["tstar_T"] == "contradicted"
    # a T-dependent gradient-descent plateau fails gd_dw1_T
    assert _decisions(_frame(s, gd_T=0.5), s)["gd_dw1_T"] == "contradicted"
    # noise: per-seed exponents with a spread the grid cannot resolve → undecided by design
    j = {x.name: x for x in A.judge(_frame(s, noise=1.5), s)}
    assert j["ratio_P_chi3"].decision == "undecided" and j["ratio_P_chi3"].power < 0.5


def test_capped_runs_are_left_out_of_the_fits():
    s = C.SCALES["cpu"]
    df = _frame(s)
    # a capped run's t* is only a lower bound: absurd values must not move any exponent
    bad = df.sample(20, random_state=0).index
    df.loc[bad, "status"] = "capped"
    df.loc[bad, ["t_star", "dw1"]] = 1e-9
    d = _decisions(df, s)
    assert set(d.values()) == {"supported"}, d


@pytest.mark.slow
def test_smoke_agrees(smoke_all):
    rec, out = smoke_all["sgw23-perceptron"]
    assert rec["verdict"] == "agree", rec["summary"]
    assert {c["name"] for c in rec["criteria"]} == set(A.SMOKE_RANGES)
    assert all(c["decision"] == "supported" for c in rec["criteria"])
    m = rec["metrics"]
    assert m["n_runs"] == m["n_done"] == 96
    saved = json.loads((out / "result.json").read_text())
    assert saved["figures"] == ["noise_regime_vs_P.png"]
    assert (out / "noise_regime_vs_P.png").stat().st_size > 1000
    assert "How the exponents are measured" in (out / "report.md").read_text()
