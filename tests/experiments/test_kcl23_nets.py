"""KCL23 network claims: each smoke run agrees with its grid in the sweeps store (slow, the
shared smoke run), and every criterion is shown able to fail — each claim's analysis fed a
synthetic frame where the paper's statement holds and one where it does not (fast)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.experiments import _kcl23_analysis as A
from sgdnoise.experiments import _kcl23_worker as W
from sgdnoise.experiments import (
    kcl23_dropout,
    kcl23_lr,
    kcl23_sam,
    kcl23_scaling,
    reproduce,
)
from sgdnoise.experiments.criteria import verdict
from sgdnoise.sweeps import Store

# --------------------------------------------------------------------------- smoke (slow)


def _smoke(claim, smoke_all):
    rec, out = smoke_all[claim]
    saved = json.loads((out / "result.json").read_text())
    assert saved["verdict"] == rec["verdict"] == "agree"
    assert all(c["decision"] == "supported" for c in saved["criteria"])
    for f in saved["figures"]:
        assert (out / f).is_file()
    with Store(out / "study.sqlite") as st:
        df = st.to_frame()
    assert (df["status"] == "done").all()
    crit = {c["name"]: c for c in saved["criteria"]}
    # Lanczos vs the power-iteration baseline on every smoke run (independent eigen-solver)
    assert crit["lanczos-vs-power"]["estimate"] <= A.POWER_REL_TOL
    assert crit["runs-at-target"]["estimate"] == 0
    assert "Spearman ρ(λmax, test acc)" in (out / "report.md").read_text()
    return rec, crit, df


@pytest.mark.slow
def test_kcl23_lr_smoke(smoke_all):
    rec, crit, df = _smoke("kcl23-lr", smoke_all)
    assert set(crit) == {"runs-at-target", "lanczos-vs-power"} | {
        f"lambda-lower-B{b}" for b in (16, 64)
    }
    # recompute one estimate from the store: seed mean of log λ(η=0.2) − log λ(η=0.05), B=16
    sub = df[df["batch"] == 16].pivot_table(index="seed", columns="lr", values="lambda_max")
    expect = np.log(sub[0.2] / sub[0.05]).mean()
    assert crit["lambda-lower-B16"]["estimate"] == pytest.approx(expect, rel=1e-9)
    assert rec["metrics"]["dloglambda_B16"] == pytest.approx(expect, rel=1e-9)


@pytest.mark.slow
def test_kcl23_scaling_smoke(smoke_all):
    rec, crit, df = _smoke("kcl23-scaling", smoke_all)
    s = kcl23_scaling.SETTINGS["smoke"]
    ladder = df[np.isclose(df["lr"] / df["batch"], s.lr0 / s.batch0)]
    assert len(ladder) == len(s.ks) * s.seeds and len(df) == len(ladder) + s.seeds
    assert crit["lambda-changes"]["estimate"] < 0


@pytest.mark.slow
def test_kcl23_sam_smoke(smoke_all):
    _, crit, df = _smoke("kcl23-sam", smoke_all)
    assert crit["lambda-lower-B16"]["ci_high"] < 0
    assert set(df["rho"]) == {0.0, 0.05}


@pytest.mark.slow
def test_kcl23_dropout_smoke(smoke_all):
    rec, crit, _ = _smoke("kcl23-dropout", smoke_all)
    assert crit["lambda-falls"]["ci_high"] < 0
    assert rec["metrics"]["lambda_mean_p0.5"] < rec["metrics"]["lambda_mean_p0"]


@pytest.mark.slow
def test_kcl23_bn_smoke(smoke_all, tmp_path, shared_data):
    rec, crit, df = _smoke("kcl23-bn", smoke_all)
    assert set(crit) == {"runs-at-target", "lanczos-vs-power"}
    assert set(df["batch_norm"]) == {False, True}
    # a killed run's store in OUT.partial is kept by the runner and resumed: nothing is
    # trained again (simulated by placing the finished store there)
    import shutil

    (tmp_path / "b.partial").mkdir()
    (tmp_path / "b.partial" / "stale.png").write_bytes(b"x")
    shutil.copy2(smoke_all["kcl23-bn"][1] / "study.sqlite", tmp_path / "b.partial")
    (again,) = reproduce(
        "kcl23-bn", scale="smoke", out=tmp_path / "b", progress=False, data_dir=shared_data
    )
    assert not (tmp_path / "b" / "stale.png").exists()
    with Store(tmp_path / "b" / "study.sqlite") as st:
        df2 = st.to_frame()
    assert sorted(df2["key"]) == sorted(df["key"])
    assert (df2["attempts"] == 1).all()
    assert again["metrics"] == rec["metrics"]


# --------------------------------------------------------------------------- the worker


def test_worker_refuses_bad_settings():
    good = dict(W.fixed_for("smoke"), lr=0.1, batch=16, seed=0)
    W._check(**good)
    for key, bad in [
        ("dropout", 1.0),
        ("lr", 0.0),
        ("batch", 10_000),
        ("n_measure", 1),
        ("data", "svhn"),
        ("target", 0.0),
        ("batch_norm", "false"),  # a string must not read as True
        ("check_power", 1),
    ]:
        with pytest.raises(ParameterError) as e:
            W._check(**dict(good, **{key: bad}))
        assert e.value.parameter == key
    assert W.FUNCTION.endswith("_kcl23_worker:kcl23_run")  # the store's run keys


# --------------------------------------------------------------------------- synthetic frames

RNG = np.random.default_rng(0)


def frame(cells, lam, acc, seeds=6, noise=0.02, acc_noise=0.002, **fixed):
    """One row per (cell, seed): λmax = lam(cell)·(1 + seed-level noise), accuracy =
    acc(cell) + noise; every run done at the target, power iteration = Lanczos."""
    rows = []
    for seed in range(seeds):
        for c in cells:
            cell = {**fixed, **c}
            v = lam(cell) * math.exp(RNG.normal(0, noise))
            rows.append(
                dict(
                    cell, seed=seed, status="done", lambda_max=v, lambda_max_power=v,
                    test_accuracy=acc(cell) + RNG.normal(0, acc_noise), epochs=10.0,
                )
            )  # fmt: skip
    return pd.DataFrame(rows)


def decisions(judged):
    return {j.name: j.decision for j in judged}


def test_machinery_fails_on_a_wrong_eigenvalue_or_a_missed_target():
    s = kcl23_lr.SETTINGS["smoke"]
    cells = [dict(lr=lr, batch=b) for lr in s.lr for b in s.batch]
    df = frame(cells, lambda c: 1 / c["lr"], lambda c: 0.8, seeds=s.seeds)
    assert verdict(kcl23_lr.analyse(df, s, "smoke")[0]) == "agree"
    bad = df.copy()
    bad.loc[0, "lambda_max_power"] *= 1.05  # power iteration disagrees by 5%
    assert decisions(kcl23_lr.analyse(bad, s, "smoke")[0])["lanczos-vs-power"] == "contradicted"
    capped = df.copy()
    capped.loc[0, "status"] = "capped"  # one run missed 99% training accuracy
    assert decisions(kcl23_lr.analyse(capped, s, "smoke")[0])["runs-at-target"] == "contradicted"
    # kcl23-bn's smoke machinery: tests/experiments/test_kcl23_bn.py


@pytest.mark.parametrize("scale", ["smoke", "cpu"])
def test_lr_lambda_direction_and_fade(scale):
    s = kcl23_lr.SETTINGS[scale]
    cells = [dict(lr=lr, batch=b) for lr in s.lr for b in s.batch]
    bmin = min(s.batch)

    def acc(c):  # a larger η gains 3 points at the smallest B only: the benefit fades
        return 0.5 + (0.03 if c["batch"] == bmin and c["lr"] == max(s.lr) else 0.0)

    good = frame(cells, lambda c: 1 / c["lr"], acc, seeds=s.seeds)
    d = decisions(kcl23_lr.analyse(good, s, scale)[0])
    assert set(d.values()) == {"supported"}
    assert ("benefit-fades" in d) == (scale != "smoke")
    # null data: λmax rises with η at the largest B; the benefit grows with B
    bad = frame(
        cells,
        lambda c: c["lr"] if c["batch"] == max(s.batch) else 1 / c["lr"],
        lambda c: 0.5 + (0.03 if c["batch"] != bmin and c["lr"] == max(s.lr) else 0.0),
        seeds=s.seeds,
    )
    d = decisions(kcl23_lr.analyse(bad, s, scale)[0])
    assert d[f"lambda-lower-B{max(s.batch)}"] == "contradicted"
    assert d[f"lambda-lower-B{bmin}"] == "supported"
    if scale != "smoke":
        assert d["benefit-fades"] == "contradicted"


@pytest.mark.parametrize("scale", ["smoke", "cpu"])
def test_sam_lambda_direction_and_fade(scale):
    s = kcl23_sam.SETTINGS[scale]
    cells = [dict(rho=r, batch=b) for r in (0.0, kcl23_sam.RHO) for b in s.batch]

    def gain_at(b0):  # SAM gains 3 points at batch b0 only
        return lambda c: 0.5 + 0.03 * (c["rho"] > 0 and c["batch"] == b0)

    good = frame(cells, lambda c: 4.0 if c["rho"] else 8.0, gain_at(min(s.batch)),
                 seeds=s.seeds, lr=s.lr)  # fmt: skip
    assert verdict(kcl23_sam.analyse(good, s, scale)[0]) == "agree"
    bad = frame(cells, lambda c: 8.0 if c["rho"] else 4.0, gain_at(max(s.batch)),
                seeds=s.seeds, lr=s.lr)  # fmt: skip
    d = decisions(kcl23_sam.analyse(bad, s, scale)[0])
    assert all(d[f"lambda-lower-B{b}"] == "contradicted" for b in s.batch)
    assert d.get("benefit-fades", "contradicted") == "contradicted"


def test_scaling_direction_and_equivalence_margin_from_the_control():
    s = kcl23_scaling.SETTINGS["cpu"]
    cells = [
        dict(lr=lr, batch=b)
        for z in kcl23_scaling.zip_axes(s)
        for lr, b in zip(z["lr"], z["batch"], strict=True)
    ]
    on = lambda c: math.isclose(c["lr"] / c["batch"], s.lr0 / s.batch0)  # noqa: E731
    # η alone ×8 costs 4 points: margin 0.02; the ladder moves accuracy by ≈ 0
    acc = lambda c: 0.5 - (0.0 if on(c) else 0.04)  # noqa: E731
    good = frame(cells, lambda c: 10 / c["lr"] ** 0.3, acc, seeds=s.seeds)
    judged, metrics, _, _ = kcl23_scaling.analyse(good, s, "cpu")
    assert metrics["acc_margin"] == pytest.approx(0.02, abs=2e-3)
    assert decisions(judged) == {"lambda-changes": "supported", "accuracy-unaffected": "supported"}
    # the ladder moves accuracy as much as η alone does: outside the margin; λmax rises
    bad = frame(cells, lambda c: c["lr"] ** 0.3, lambda c: 0.5 - 0.4 * c["lr"], seeds=s.seeds)
    d = decisions(kcl23_scaling.analyse(bad, s, "cpu")[0])
    assert d == {"lambda-changes": "contradicted", "accuracy-unaffected": "contradicted"}
    # smoke judges the λmax direction only (and the machinery)
    ss = kcl23_scaling.SETTINGS["smoke"]
    cells = [
        dict(lr=lr, batch=b)
        for z in kcl23_scaling.zip_axes(ss)
        for lr, b in zip(z["lr"], z["batch"], strict=True)
    ]
    flat = frame(cells, lambda c: 5.0, lambda c: 0.8, seeds=ss.seeds)
    d = decisions(kcl23_scaling.analyse(flat, ss, "smoke")[0])
    assert "accuracy-unaffected" not in d and d["lambda-changes"] != "supported"
    rising = frame(cells, lambda c: c["lr"] ** 0.3, lambda c: 0.8, seeds=ss.seeds)
    assert decisions(kcl23_scaling.analyse(rising, ss, "smoke")[0])["lambda-changes"] == (
        "contradicted"
    )


def test_dropout_direction_and_existence():
    s = kcl23_dropout.SETTINGS["cpu"]
    cells = [dict(dropout=p) for p in s.ps]
    # λmax falls with p; accuracy peaks at 0.5 and drops 2 points at the top p
    good = frame(cells, lambda c: 10 / (1 + 5 * c["dropout"]),
                 lambda c: 0.5 + 0.02 * (c["dropout"] == 0.5), seeds=s.seeds)  # fmt: skip
    d = decisions(kcl23_dropout.analyse(good, s, "cpu")[0])
    assert d == {"lambda-falls": "supported", "excess-degrades": "supported"}
    # λmax rises with p and accuracy rises all the way: both contradicted
    bad = frame(cells, lambda c: 1 + c["dropout"], lambda c: 0.5 + 0.05 * c["dropout"],
                seeds=s.seeds)  # fmt: skip
    d = decisions(kcl23_dropout.analyse(bad, s, "cpu")[0])
    assert d == {"lambda-falls": "contradicted", "excess-degrades": "contradicted"}
    # the top p is the largest one reached by ≥ 3 seeds: capped p = 0.7 runs are left out
    capped = good.copy()
    capped.loc[capped["dropout"] == 0.7, "status"] = "capped"
    _, metrics, details, _ = kcl23_dropout.analyse(capped, s, "cpu")
    assert metrics["top_p"] == 0.6 and "p = 0.7: 8" in details
    smoke = kcl23_dropout.SETTINGS["smoke"]
    rising = frame([dict(dropout=p) for p in smoke.ps], lambda c: 1 + c["dropout"],
                   lambda c: 0.8, seeds=smoke.seeds)  # fmt: skip
    assert decisions(kcl23_dropout.analyse(rising, smoke, "smoke")[0])["lambda-falls"] == (
        "contradicted"
    )


def test_fade_and_missing_cells():
    rows = []
    for seed, extra in enumerate([0.01, 0.0, -0.01]):
        rows += [
            dict(seed=seed, batch=16, lr=0.1, acc=0.70),
            dict(seed=seed, batch=16, lr=0.4, acc=0.80),
            dict(seed=seed, batch=64, lr=0.1, acc=0.70),
            dict(seed=seed, batch=64, lr=0.4, acc=0.72 + extra),
        ]
    df = pd.DataFrame(rows)
    f = A.fade(df, "acc", "lr", 0.1, 0.4, 16, 64)
    assert f == pytest.approx([0.07, 0.08, 0.09])
    eff = A.paired_by(df, "acc", "lr", 0.1, 0.4, "batch", [16, 64, 256])
    assert eff[16] == pytest.approx([0.1] * 3) and eff[256].size == 0  # no run at B=256
    assert A.fade(df[df.batch == 16], "acc", "lr", 0.1, 0.4, 16, 64).size == 0


def test_figure_log_axes_label_only_the_given_ticks():
    s = kcl23_lr.SETTINGS["smoke"]
    df = frame([dict(lr=lr, batch=b) for lr in s.lr for b in s.batch], lambda c: 1 / c["lr"],
               lambda c: 0.8, seeds=3)  # fmt: skip
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = A.figure(A.measured(df), "lr", "batch", "t")
    FigureCanvasAgg(fig).draw()
    ax_lam, _, ax_scatter = fig.axes
    assert ax_lam.get_xscale() == "log" and ax_lam.get_yscale() == "log"
    for axis in (ax_lam.xaxis, ax_lam.yaxis, ax_scatter.xaxis):
        assert [t.get_text() for t in axis.get_ticklabels(minor=True) if t.get_text()] == []
    assert [t.get_text() for t in ax_lam.get_xticklabels()] == ["0.05", "0.2"]


class _Specs(Exception):
    pass


@pytest.mark.parametrize("claim", ["kcl23-lr", "kcl23-scaling", "kcl23-sam", "kcl23-dropout",
                                   "kcl23-bn"])  # fmt: skip
@pytest.mark.parametrize("scale", ["smoke", "cpu", "paper"])
def test_every_grid_is_a_valid_sweep(claim, scale, monkeypatch, tmp_path):
    """Each claim's grid at each scale loads as sweep specs (the worker's bounds checked on
    every point, no repeated run) with the seeds its Settings state — without training."""
    import importlib

    from sgdnoise.experiments import _grid
    from sgdnoise.experiments.runner import RunContext
    from sgdnoise.sweeps.spec import load_spec, run_key

    def fake(ctx, specs, **kw):
        raise _Specs([load_spec(s) for s in specs])

    monkeypatch.setattr(_grid, "run_grid", fake)
    mod = importlib.import_module("sgdnoise.experiments." + claim.replace("-", "_"))
    with pytest.raises(_Specs) as e:
        mod.run(RunContext(claim, scale, tmp_path, progress=False))
    keys = [run_key(sp.function, c) for sp in e.value.args[0] for c in sp.configs()]
    assert len(set(keys)) == len(keys)  # no run twice, across the specs too
    configs = [c for sp in e.value.args[0] for c in sp.configs()]
    assert {c["seed"] for c in configs} == set(range(mod.SETTINGS[scale].seeds))
