"""Claim sgw23-powerlaws: the joint power-law fit and its adequacy check by hand, the late-
training worker on a tiny net (the same run as sgw23-tc's worker, watched), every criterion on
synthetic grids where SGW23's sentences hold (supported) and where each part breaks
(contradicted), the keys shared with sgw23-tc, and the claim's whole path at smoke with the
grid runner replaced by synthetic frames (no training)."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.experiments import _sgw23_powerlaws_analysis as an
from sgdnoise.experiments import sgw23_powerlaws as pl
from sgdnoise.experiments import sgw23_tc as tc
from sgdnoise.experiments._sgw23_powerlaws_worker import ENSEMBLE as LATE_ENSEMBLE
from sgdnoise.experiments._sgw23_runs import ENSEMBLE
from sgdnoise.experiments.criteria import verdict
from sgdnoise.experiments.runner import RunContext
from sgdnoise.sweeps import load_spec
from sgdnoise.sweeps.spec import run_key

SEEDS = (0, 1, 2, 3, 4)
P = (256, 512, 1024, 2048, 4096)
TC_T = (1e-4, 3e-4, 1e-3, 3e-3)  # where T_c lies (the lazy plateau and its departure)
FIT_T = (1e-2, 3e-2, 1e-1)  # the noise-dominated part
GAMMA = 0.3


def settings(judged=pl.STATISTICAL):
    return replace(
        pl.POWERLAWS["cpu"], tc=replace(tc.TC["cpu"], T=TC_T, P=P, seeds=SEEDS),
        extra_T=FIT_T, fit_T=FIT_T, late_T=(3e-4, 3e-3), judged=judged,
    )  # fmt: skip


def paper_wc(T, P):
    """A P-independent lazy value plus noise T P^γ: T_c ∝ P^(−γ), δ → 1 at T ≫ T_c."""
    return 0.01 + 0.005 / 3e-4 * T * (P / 256) ** GAMMA


def paper_tstar(T, P):
    return 50.0 * T * P**1.2


def _frame(wc=paper_wc, tstar=paper_tstar, status=None, noise=0.01):
    rng = np.random.default_rng(0)
    rows = []
    for sd in SEEDS:
        for p in P:
            for T in TC_T + FIT_T:
                e1, e2 = 1 + noise * rng.standard_normal(2)
                rows.append(dict(seed=sd, n_train=p, T=T, status="done",
                                 weight_change=wc(T, p) * e1, t_star=tstar(T, p) * e2))  # fmt: skip
    df = pd.DataFrame(rows)
    if status is not None:
        df["status"] = [status(r) for r in df.itertuples()]
    return df


def _late(share=0.8, err_early=0.2, seeds=SEEDS, t_late=lambda sd: 10.0):
    """Late-training runs: at T_hot a late share ``share`` of Δw; the test error of T_hot is
    0.04 below T_cold's at the end, ``err_early`` of that difference already at the level."""
    rng = np.random.default_rng(1)
    rows = []
    for sd in seeds:
        for T, hot in ((3e-4, False), (3e-3, True)):
            end = 0.10 - 0.04 * hot + 0.002 * rng.standard_normal()
            at = 0.12 - 0.04 * err_early * hot + 0.002 * rng.standard_normal()
            rows.append(dict(seed=sd, T=T, status="done", time=100.0, t_late=t_late(sd),
                             late_share=(share if hot else 0.3) + 0.02 * rng.standard_normal(),
                             test_err=end, test_err_late=at))  # fmt: skip
    return pd.DataFrame(rows)


def _judge(df=None, late=None, judged=pl.STATISTICAL):
    s = settings(judged)
    v = pl.values(_frame() if df is None else df, _late() if late is None else late, s)
    js, shown = pl.judge(v, s)
    return {k: j for k, j in zip(judged, js, strict=True)}, v


# --------------------------------------------------------------------------- the fits


def test_joint_fit_recovers_exponents_and_finds_no_drift_in_a_power_law():
    df = _frame(wc=lambda T, p: 2.0 * T**0.7 * p**0.4, noise=0.0)
    f = an.joint_fits(df, "weight_change", FIT_T)
    assert list(f["seed"]) == list(SEEDS) and (f["cells"] == len(FIT_T) * len(P)).all()
    np.testing.assert_allclose(f["delta"], 0.7, atol=1e-9)
    np.testing.assert_allclose(f["gamma"], 0.4, atol=1e-9)
    np.testing.assert_allclose(f["drift"], 0.0, atol=1e-9)


def test_drift_measures_how_far_a_local_exponent_moves():
    # ln y = 0.5 (ln T)² + ...: the T exponent changes by 2·0.5·R_u across the fitted T
    df = _frame(wc=lambda T, p: np.exp(0.5 * np.log(T) ** 2) * p**0.2, noise=0.0)
    f = an.joint_fits(df, "weight_change", FIT_T)
    np.testing.assert_allclose(f["curv_T"], np.log(FIT_T[-1] / FIT_T[0]), rtol=1e-9)
    np.testing.assert_allclose(f["drift"], f["curv_T"], rtol=1e-9)
    np.testing.assert_allclose(f["inter"], 0.0, atol=1e-9)
    # a T×P interaction: the P exponent moves by ι R_u, the T exponent by ι R_v (larger)
    df = _frame(wc=lambda T, p: np.exp(-0.1 * np.log(T) * np.log(p)), noise=0.0)
    f = an.joint_fits(df, "weight_change", FIT_T)
    np.testing.assert_allclose(f["inter"], -0.1 * np.log(P[-1] / P[0]), rtol=1e-9)
    np.testing.assert_allclose(f["drift"], 0.1 * np.log(P[-1] / P[0]), rtol=1e-9)
    np.testing.assert_allclose(f["curv_T"], 0.0, atol=1e-9)


def test_noise_alone_moves_no_signed_drift():
    # pure power law with a 10% per-cell spread: the unsigned drift is pushed up by the
    # noise, the signed values the criteria judge average to 0
    f = an.joint_fits(_frame(wc=lambda T, p: T * p**0.3, noise=0.1), "weight_change", FIT_T)
    assert f["drift"].mean() > 0.1
    assert abs(f["curv_T"].mean()) < 0.15 and abs(f["inter"].mean()) < 0.15


def test_capped_runs_enter_no_fit():
    df = _frame(status=lambda r: "capped" if r.T == 1e-1 and r.n_train == 4096 else "done")
    df.loc[df["status"] == "capped", "t_star"] = 1e12  # a bound, not a time: must be ignored
    f = an.joint_fits(df, "t_star", FIT_T)
    assert (f["cells"] == len(FIT_T) * len(P) - 1).all()
    np.testing.assert_allclose(f["gamma"], 1.2, atol=0.05)


# --------------------------------------------------------------------------- the criteria


def test_the_papers_sentences_are_supported():
    js, v = _judge()
    assert {k: j.decision for k, j in js.items()} == dict.fromkeys(pl.STATISTICAL, "supported")
    np.testing.assert_allclose(v["a_by_seed"], GAMMA, atol=0.05)  # sgw23-tc's a, reused


@pytest.mark.parametrize(
    "name, broken",
    [
        ("delta_weight_change", dict(df=_frame(wc=lambda T, p: 0.1 * T**-0.5 * p**0.3))),
        ("gamma_weight_change", dict(df=_frame(wc=lambda T, p: paper_wc(T, p) * p**-0.6))),
        ("delta_t_star", dict(df=_frame(tstar=lambda T, p: T**-0.5 * p**1.2))),
        ("gamma_t_star", dict(df=_frame(tstar=lambda T, p: T * p**-0.5))),
        # the local T exponent moves by 2·0.3·ln 10 ≈ 1.4 across the fitted T
        ("curv_weight_change",
         dict(df=_frame(wc=lambda T, p: paper_wc(T, p) * np.exp(0.3 * np.log(T / 3e-2) ** 2)))),
        ("curv_t_star",
         dict(df=_frame(tstar=lambda T, p: paper_tstar(T, p) * np.exp(0.3 * np.log(T) ** 2)))),
        # the P exponent moves with T (and the T exponent with P): no product T^δ P^γ
        ("inter_weight_change",
         dict(df=_frame(wc=lambda T, p: paper_wc(T, p) * np.exp(0.2 * np.log(T) * np.log(p))))),
        ("inter_t_star",
         dict(df=_frame(tstar=lambda T, p: paper_tstar(T, p) * (p / 256) ** (0.5 * np.log(T))))),
        # a lazy value growing as P^0.5 moves T_c to P^(0.5 − γ): a = −0.2 ≠ γ/δ ≈ 0.3
        ("a_ratio", dict(df=_frame(wc=lambda T, p: paper_wc(T, p) + 0.01 * (p / 256) ** 0.5))),
        # most of the weight change made before the level
        ("share", dict(late=_late(share=0.2))),
        # the temperature's effect on the test error all there at the level already
        ("err", dict(late=_late(err_early=1.0))),
    ],
)  # fmt: skip
def test_each_criterion_can_fail(name, broken):
    js, _ = _judge(**broken)
    assert js[name].decision == "contradicted", js[name]
    assert verdict(js.values()) == "disagree"


def test_no_test_error_difference_leaves_the_split_undecided():
    late = _late()
    late["test_err"] = 0.1 + 0.002 * np.random.default_rng(2).standard_normal(len(late))
    js, v = _judge(late=late)
    assert js["err"].decision == "undecided" and "to apportion" in js["err"].note


def test_smoke_judges_the_machinery_and_each_check_can_fail():
    js, _ = _judge(judged=pl.MACHINERY)
    assert verdict(js.values()) == "agree"
    bad = {
        "exponents_weight_change": dict(df=_frame(wc=lambda T, p: 0.1 * T**-0.2 * p**0.3)),
        "exponents_t_star": dict(df=_frame(tstar=lambda T, p: T * p**-0.1)),
        "located": dict(late=_late(t_late=lambda sd: math.nan if sd == 0 else 10.0)),
        "fitted": dict(df=_frame(status=lambda r: "capped" if r.seed < 2 else "done")),
    }
    for name, kw in bad.items():
        js, _ = _judge(judged=pl.MACHINERY, **kw)
        assert js[name].decision == "contradicted", name


# --------------------------------------------------------------------------- the worker


TINY = dict(dataset="mnist", arch="mlp", width=16, depth=1, pool=4, n_train=32, n_test=50,
            batch_size=8, max_steps=2000, max_time=1e5, alpha=10.0, T=3e-2, seed=0)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_runs():
    from sgdnoise.experiments._sgw23_powerlaws_worker import late_point
    from sgdnoise.experiments._sgw23_runs import train_point

    return late_point(**TINY), train_point(**TINY)


def test_late_worker_is_the_same_run_watched(tiny_runs):
    late, plain = tiny_runs
    assert {k: late[k] for k in plain} == plain  # watching changes nothing
    assert late["status"] == "done" and 0 < late["t_late"] <= late["time"]
    assert late["train_loss_late"] <= pl.LOSS_LEVEL / TINY["alpha"]
    # the norm reading is 1 − ‖w(t_ℓ) − w0‖/‖w_f − w0‖, both read against ‖w0‖
    assert late["late_norm_share"] == pytest.approx(1 - late["wc_late"] / late["weight_change"])
    assert -0.5 < late["late_share"] < 1.0 and 0 <= late["test_err_late"] <= 1
    x = late["curves"]["train_loss"]["x"]
    assert x[-1] == pytest.approx(late["time"]) and np.all(np.diff(x) > 0)


def test_late_worker_refuses_a_level_outside_0_1():
    from sgdnoise.experiments._sgw23_powerlaws_worker import check_late

    with pytest.raises(ParameterError, match="loss_level"):
        check_late(**TINY, loss_level=1.5)


# --------------------------------------------------------------------------- keys and path


@pytest.mark.parametrize("scale", ["smoke", "cpu", "paper"])
def test_pt_runs_are_sgw23_tcs_runs(scale, tmp_path):
    s = pl.POWERLAWS[scale]
    pt, late = pl.grid_specs(s, scale, str(tmp_path))
    sp, ts, ls = load_spec(pt), load_spec(tc.tc_spec(s.tc, scale, str(tmp_path))), load_spec(late)
    mine = {run_key(sp.function, c) for c in sp.configs()}
    theirs = {run_key(ts.function, c) for c in ts.configs()}
    assert theirs <= mine and len(mine) == len(theirs) / len(s.tc.T) * len(
        set(s.tc.T) | set(s.extra_T)
    )
    assert set(s.fit_T) <= set(s.tc.T) | set(s.extra_T) and len(s.late_seeds) >= 3
    assert scale != "cpu" or min(len(s.late_seeds), len(s.tc.seeds)) >= 5  # issue 14
    assert ls.function.endswith("late_point") and not mine & {
        run_key(ls.function, c) for c in ls.configs()
    }  # fmt: skip


def test_claim_adopts_sgw23_tc_store_and_reports(monkeypatch, tmp_path):
    import sgdnoise.experiments._grid as grid
    import sgdnoise.nets.files as files

    (tmp_path / "sgw23-tc").mkdir()
    with sqlite3.connect(tmp_path / "sgw23-tc" / "study.sqlite") as db:
        db.execute("create table t (x)")
    out = tmp_path / "sgw23-powerlaws"
    out.mkdir()

    class Summary:
        wall_seconds = 0.0

    def fake_grid(ctx, specs, **kw):
        assert (ctx.out_dir / "study.sqlite").is_file()  # adopted before the grid runs
        (ctx.out_dir / "study.sqlite").unlink()  # the toy file is no store: no curves
        assert kw["ensemble"] == [ENSEMBLE, LATE_ENSEMBLE]  # both workers batched
        pt, late_spec = specs
        ls = load_spec(late_spec)
        late = _late(seeds=s.late_seeds).assign(key=[run_key(ls.function, c) for c in ls.configs()])
        return pd.concat([_frame().assign(key="x"), late], ignore_index=True), [Summary()] * 2

    s = replace(settings(pl.MACHINERY), late_seeds=SEEDS)
    monkeypatch.setitem(pl.POWERLAWS, "smoke", s)
    monkeypatch.setattr(grid, "run_grid", fake_grid)
    monkeypatch.setattr(files, "find_data_dir", lambda d: tmp_path)
    res = pl.run(RunContext("sgw23-powerlaws", "smoke", out, progress=False))
    assert res.verdict == "agree" and res.metrics["adopted_sgw23_tc_store"] == 1.0
    assert "Not judged at smoke" in res.details and "late share" in res.details
    for f in ("powerlaw_weight_change", "powerlaw_t_star", "exponents", "late_training"):
        assert (out / f"{f}.png").is_file()
