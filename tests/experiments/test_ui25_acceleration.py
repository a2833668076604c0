"""UI25 `ui25-acceleration`: time to target, its censoring rule, and criteria that fail when
(iii)/(iv) are not faster (or a broken ingredient) — on the synthetic problems and on the
CIFAR-10 grid (hand-made store frames; the real CIFAR runs are the smoke claim's)."""

import json

import numpy as np
import pandas as pd
import pytest

from sgdnoise.experiments import _ui25_accel_analysis as aa
from sgdnoise.experiments import _ui25_accel_cifar as ac
from sgdnoise.experiments import _ui25_sim as sim
from sgdnoise.experiments import ui25_acceleration as ua
from sgdnoise.experiments.criteria import evaluate

PAIRS = ((2.0, 1.4), (4.0, 1.9))


def test_time_to_target_and_censoring():
    steps, samples = np.arange(5) * 10, np.arange(5) * 40
    g = np.array([5.0, 3.0, 1.0, 0.5, 0.2])
    assert aa.time_to_target(steps, samples, g, 1.0) == (20.0, 80.0, True)
    assert aa.time_to_target(steps, samples, g, 0.1) == (40.0, 160.0, False)


def _frame(speed_x=0.25, censor_x=False, seeds=(0, 1, 2, 3, 4), problems=sim.PROBLEMS):
    """(i) runs take 1000 steps / 2000 samples to ε, (ii) 400 / 1600; (iii)/(iv) take
    ``speed_x`` × (ii)'s cost (seed jitter 3%), or never reach ε (``censor_x``)."""
    rng = np.random.default_rng(0)
    rows = []
    for p in problems:
        for s in seeds:
            for n in ("(i) constant", "(i) cosine"):
                rows.append(dict(problem=p, pair="", scheduler=n, seed=s, steps=1000.0,
                                 samples=2000.0, reached=n == "(i) cosine", run_steps=2000.0,
                                 run_samples=4000.0))  # fmt: skip
            for pr in PAIRS:
                lab = aa.pair_label(*pr)
                rows.append(dict(problem=p, pair=lab, scheduler="(ii) cosine", seed=s,
                                 steps=400.0, samples=1600.0, reached=True, run_steps=800.0,
                                 run_samples=4000.0))  # fmt: skip
                for x in aa.ACCEL:
                    j = np.exp(0.03 * rng.standard_normal())
                    rows.append(dict(problem=p, pair=lab, scheduler=x, seed=s,
                                     steps=400 * speed_x * j, samples=1600 * speed_x * j,
                                     reached=not censor_x, run_steps=300.0,
                                     run_samples=4000.0))  # fmt: skip
    return pd.DataFrame(rows)


def _decisions(frame, problems=sim.PROBLEMS):
    crit = aa.criteria(PAIRS, problems)
    return {j.name: j.decision for j in evaluate(crit, aa.units(frame, PAIRS, problems))}


@pytest.mark.parametrize("problems", [sim.PROBLEMS, (ac.PROBLEM,)])
def test_acceleration_criteria_can_pass_and_fail(problems):
    got = _decisions(_frame(problems=problems), problems)
    assert len(got) == len(problems) * len(PAIRS) * 4
    assert set(got.values()) == {"supported"}
    assert set(_decisions(_frame(speed_x=4.0, problems=problems), problems).values()) == {
        "contradicted"
    }


def test_nearest_zero_is_the_censoring_rule():
    lo = np.array([-1.0, -np.inf, 0.3, -0.5, -np.inf])
    hi = np.array([-1.0, -0.2, np.inf, 0.4, np.inf])
    assert aa.nearest_zero(lo, hi).tolist() == [-1.0, -0.2, 0.3, 0.0, 0.0]


def test_censoring_never_creates_evidence():
    """(iii)/(iv) that never reach ε: their runs end at 300 steps, before (ii) needed 400, so
    per step the ordering is open (0: undecided, never faster); per sample they processed
    4000 samples against (ii)'s 1600 without reaching ε: slower (a bound), contradicted."""
    f = _frame(censor_x=True)
    d = aa.units(f, PAIRS)
    assert all(np.all(v >= 0) for v in d.values())
    got = _decisions(f)
    assert {got[k] for k in got if k.startswith("faster-steps")} == {"undecided"}
    assert {got[k] for k in got if k.startswith("faster-samples")} == {"contradicted"}
    assert set(aa.censored_seeds(f, PAIRS).values()) == {5}
    # every baseline censored too: no ordering known either way, every value 0
    f.loc[f["scheduler"].isin(aa.BASELINE), "reached"] = False
    f.loc[f["scheduler"].isin(aa.BASELINE), ["run_steps", "run_samples"]] = 4000.0
    assert all(np.all(v == 0) for v in aa.units(f, PAIRS).values())


def test_a_censored_baseline_bounds_the_ratio_from_above():
    """Baselines that never reach ε within their runs, X that does, sooner: the log-ratio
    is an upper bound (X's cost over the baseline's run), still < 0: supported."""
    f = _frame(speed_x=0.1)
    base = f["scheduler"].isin(aa.BASELINE)
    # each baseline stops where the uncensored one reached ε: its cost is now only "more"
    f.loc[base, "reached"] = False
    f.loc[base, "run_steps"] = f.loc[base, "steps"]
    f.loc[base, "run_samples"] = f.loc[base, "samples"]
    d = aa.units(f, PAIRS)
    assert all(np.all(v < 0) for v in d.values())
    ok = aa.units(_frame(speed_x=0.1), PAIRS)
    assert all(np.all(d[k] >= ok[k] - 1e-12) for k in d)  # shrunk toward 0, never past it
    assert set(_decisions(f).values()) == {"supported"}


def test_machinery_time_to_target_is_exact_gradient_descent():
    s = ua.AccelSettings(n_data=32, epochs=3, stage=1, chains=4, seeds=(0, 1, 2))
    frame = pd.DataFrame({"run_samples": [96.0, 96.0]})
    d = ua.machinery_units(s, frame, 0)
    got = {j.name: j.decision for j in evaluate(aa.machinery_criteria(), d)}
    assert got == {"target-time-exact": "supported", "samples-processed": "supported"}
    bad = {"target-time-exact": [d["target-time-exact"][0] + 3], "samples-processed": [0.5]}
    got = {j.name: j.decision for j in evaluate(aa.machinery_criteria(), bad)}
    assert set(got.values()) == {"contradicted"}


@pytest.mark.slow
def test_ui25_acceleration_smoke(smoke_all):
    _, out = smoke_all["ui25-acceleration"]
    res = json.loads((out / "result.json").read_text())
    assert res["verdict"] == "agree", res["summary"]
    assert {c["kind"] for c in res["criteria"]} == {"machinery"}
    assert {c["name"] for c in res["criteria"]} >= {c.name for c in ac.machinery_criteria()}
    assert (out / "ui25_acceleration.png").stat().st_size > 10_000


# -- the CIFAR-10 grid on hand-made store frames ----------------------------------------

C = ac.CifarSettings(n_train=64, n_test=16, pool=4, epochs=4, stage=1, b0=8, seeds=(0, 1, 2))


def _store_frames(c=C, pairs=PAIRS, hit=None):
    """The store's run and curve frames as the worker writes them: the step clock from each
    schedule's expansion, the norm falling by ``hit[scheduler]`` per epoch from 2."""
    from sgdnoise.experiments.ui25_cifar import make_schedule

    hit = hit or {"i-constant": 0.9, "i": 0.8, "ii": 0.75, "iii": 0.5, "iv": 0.5}
    sp = ac.spec(c, pairs)
    z = sp["zip"][0]
    runs, curves = [], []
    for seed in c.seeds:
        for sch, d, g in zip(z["scheduler"], z["delta"], z["gamma"], strict=True):
            key = f"{sch}-{d}-{seed}"
            ex = make_schedule(sch, c.eta0, c.b0, d, g, c.eta_cap, c.warmup, c.stage)
            b = ex.expand(c.n_train, c.epochs).batch_size
            ep = ex.expand(c.n_train, c.epochs).epoch
            steps = np.concatenate([[0], np.cumsum(np.bincount(ep))]).astype(float)
            y = 2.0 * hit[sch] ** np.arange(c.epochs + 1.0)
            runs.append(dict(key=key, status="done", scheduler=sch, delta=d, gamma=g, seed=seed,
                             steps=float(b.shape[0])))  # fmt: skip
            for name, x in (("step", steps), ("samples", np.arange(c.epochs + 1.0) * c.n_train)):
                curves.append(pd.DataFrame(dict(key=key, name=f"grad_norm_{name}", x=x, y=y)))
    return pd.DataFrame(runs), ac.curves_by_key(pd.concat(curves, ignore_index=True))


def test_cifar_spec_runs_each_scheduler_once_per_seed_and_pair():
    from sgdnoise.sweeps.spec import load_spec

    cfgs = list(load_spec(ac.spec(C, PAIRS)).configs())
    assert len(cfgs) == len(C.seeds) * (2 + 3 * len(PAIRS))
    assert {c["scheduler"] for c in cfgs} == set(ac.NAMES)


def test_cifar_target_time_and_late_level():
    df, cv = _store_frames()
    late = ac.late_level(df, cv)
    want = np.mean((2.0 * 0.9 ** np.arange(1, 5.0))[2:] ** 2)  # second half of 4 epochs
    assert late["level"] == pytest.approx(want, rel=1e-12)
    eps = 0.5 * late["level"]
    f = ac.frame(df, cv, eps, C)
    # (iii): ‖∇f‖² = 4·0.25^e ≤ ε first at e = ⌈log(ε/4)/log 0.25⌉ epochs
    e = int(np.ceil(np.log(eps / 4) / np.log(0.25)))
    row = f[(f["scheduler"] == "(iii)") & (f["seed"] == 0)].iloc[0]
    assert row["reached"] and row["samples"] == e * C.n_train
    assert not f[f["scheduler"] == "(i) constant"]["reached"].any()
    d = aa.units(f, PAIRS, (ac.PROBLEM,))
    assert all(np.all(v < 0) for v in d.values())


def test_cifar_diverged_run_is_censored():
    df, cv = _store_frames()
    df.loc[df["scheduler"] == "iii", "status"] = "diverged"
    f = ac.frame(df, cv, 0.5, C)
    assert not f[f["scheduler"] == "(iii)"]["reached"].any()
    assert f[f["scheduler"] == "(iii)"]["diverged"].all()


def test_cifar_machinery_passes_and_each_check_can_fail():
    df, cv = _store_frames()
    crit = ac.machinery_criteria()

    def decisions(df, cv):
        return {j.name: j.decision for j in evaluate(crit, ac.machinery_units(df, cv, C))}

    assert set(decisions(df, cv).values()) == {"supported"}
    k = df["key"].iloc[3]
    broken = {n: dict(v) for n, v in cv.items()}
    x, y = broken[k]["step"]
    broken[k]["step"] = (x + 1.0, y)  # an off-by-one step clock
    assert decisions(df, broken)["cifar-step-clock"] == "contradicted"
    broken = {n: dict(v) for n, v in cv.items()}
    x, y = broken[k]["samples"]
    broken[k]["samples"] = (x * 2, y)  # samples counted twice
    assert decisions(df, broken)["cifar-sample-clock"] == "contradicted"
    broken = {n: dict(v) for n, v in cv.items()}
    x, y = broken[k]["step"]
    broken[k]["step"] = (x, np.where(x == x[-1], np.nan, y))
    assert decisions(df, broken)["cifar-norms-finite"] == "contradicted"
    bad = df.copy()
    bad.loc[0, "status"] = "failed"
    assert decisions(bad, cv)["cifar-runs-finished"] == "contradicted"
