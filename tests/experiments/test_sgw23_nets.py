"""SGW23 network claims: one α-trick run, the criteria and T_c analysis, both smoke claims."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.experiments import sgw23_nets as sgw
from sgdnoise.experiments._sgw23_runs import check_point, readout_width, train_point
from sgdnoise.sweeps import load_spec
from sgdnoise.theory.conventions import mean_field_temperature

TINY = dict(
    dataset="mnist",
    arch="mlp",
    n_train=32,
    n_test=100,
    width=16,
    depth=2,
    pool=4,
    batch_size=8,
    max_steps=1000,
)


# --------------------------------------------------------------------------- one run


def test_train_point_follows_sgw23_conventions(shared_data):
    r = train_point(**TINY, alpha=10.0, T=1e-2, data_dir=str(shared_data))
    assert r["status"] == "done"
    # h is the readout's fan-in (the MLP's width) and T = η/(B h) round-trips exactly
    assert r["h"] == TINY["width"]
    assert mean_field_temperature(r["lr"], TINY["batch_size"], r["h"]) == pytest.approx(1e-2)
    # t = η × steps (constant η); float sums of η accumulate ≤ steps ulp-level error
    assert r["time"] == pytest.approx(r["lr"] * r["steps"], rel=1e-9)
    assert r["fitted"] == 1.0 and r["unfitted"] == 0.0 and r["train_err"] == 0.0
    assert r["t_star"] == r["time"]
    assert 0 < r["weight_change"] < 1 and 0 <= r["test_err"] <= 1
    assert r["test_size"] == TINY["n_test"]


def test_train_point_heldout_test_images(shared_data):
    # the training images outside P join the test set; the training run itself is unchanged
    kw = dict(TINY, alpha=10.0, T=1e-2, data_dir=str(shared_data))
    a, b = train_point(**kw), train_point(**kw, heldout_test=True)
    assert b["test_size"] == TINY["n_test"] + 17_435 - TINY["n_train"]  # MNIST subset here
    for k in ("steps", "weight_change", "train_err", "t_star"):
        assert a[k] == b[k]
    assert a["test_err"] != b["test_err"]


def test_train_point_caps_leave_points_unfitted(shared_data):
    # one step cannot fit 32 points at margin 1/α = 10: the cap stops the run
    r = train_point(**dict(TINY, max_steps=1), alpha=0.1, T=1e-3, data_dir=str(shared_data))
    assert r["steps"] == 1 and r["fitted"] == 0.0 and r["unfitted"] > 0
    assert math.isnan(r["t_star"])


def test_time_cap_is_a_step_cap(shared_data):
    lr = 1e-3 * TINY["batch_size"] * TINY["width"]  # η = T B h
    r = train_point(**TINY, alpha=0.1, T=1e-3, max_time=5.5 * lr, data_dir=str(shared_data))
    assert r["steps"] == 6  # ceil(5.5)


def test_readout_width_of_centred_models():
    from sgdnoise.nets import make_model

    mlp = make_model(
        "mlp", input_shape=(1, 4, 4), num_outputs=1, width=24, depth=3,
        parameterization="mean-field", centered=True, device="cpu",
    )  # fmt: skip
    cnn = make_model(
        "convnet", input_shape=(3, 8, 8), num_outputs=1, width=2,
        parameterization="mean-field", centered=True, device="cpu",
    )  # fmt: skip
    assert readout_width(mlp) == 24
    assert readout_width(cnn) == 128  # 64 k channels into the readout


@pytest.mark.parametrize(
    "key, value",
    [
        ("dataset", "svhn"),
        ("arch", "resnet18"),
        ("alpha", 0.0),
        ("T", -1.0),
        ("batch_size", 33),  # > n_train
        ("pool", 0),
        ("max_time", 0.0),
        ("eval_every", -1),
        ("heldout_test", "no"),
    ],
)
def test_check_point_refuses(key, value):
    cfg = dict(TINY, alpha=1.0, T=1e-3)
    cfg[key] = value
    with pytest.raises(ParameterError) as e:
        check_point(**cfg)
    assert e.value.parameter == key


def test_specs_are_valid_sweeps():
    for scale in ("smoke", "cpu", "paper"):
        for task in sgw.PHASE[scale]["tasks"]:
            spec = load_spec(sgw.phase_spec(scale, task, "/nowhere"))
            s = sgw.PHASE[scale]
            T, seeds = task.get("T", s["T"]), task.get("seeds", s["seeds"])
            assert len(spec) == len(s["alpha"]) * len(T) * len(seeds)
            assert {c["T"] for c in spec.configs()} == set(T)
            assert not {"T", "seeds"} & set(spec.fixed)  # grid keys never reach the runs
        spec = load_spec(sgw.tc_spec(scale, "/nowhere"))
        assert {c["n_train"] for c in spec.configs()} == set(sgw.TC[scale]["P"])


# --------------------------------------------------------------------------- criteria


def test_seed_ranges_apart():
    assert sgw.seed_ranges_apart([0.1, 0.2], [0.3, 0.4])
    assert not sgw.seed_ranges_apart([0.1, 0.35], [0.3, 0.4])
    assert not sgw.seed_ranges_apart([0.1, math.nan], [0.3, 0.4])
    assert not sgw.seed_ranges_apart([], [0.3])


def test_cell_error_matches_direct_formula():
    err = np.array([0.2, 0.3, 0.25])
    m, se = sgw.cell_error(err, 400)
    spread = np.std(err, ddof=1) / np.sqrt(3)
    binom = np.sqrt(0.25 * 0.75 / 400) / np.sqrt(3)
    assert m == pytest.approx(0.25)
    assert se == pytest.approx(np.hypot(spread, binom), rel=1e-12)


def _phase_frame(feature_err, lazy_err=None):
    lazy_err = lazy_err or {1e-3: 0.2, 1e-2: 0.1}
    rows = []
    for seed in (0, 1):
        for a in (0.1, 100.0):
            for T in (1e-3, 1e-2):
                lazy = a > 1
                wc = (0.05 if lazy else 0.7) * (1 + (T / 3e-3) ** 2) + 0.01 * seed
                err = (lazy_err if lazy else feature_err)[T] + 0.001 * seed
                rows.append(
                    dict(seed=seed, alpha=a, T=T, weight_change=wc, test_err=err,
                         fitted=1.0, status="done")
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_phase_criteria_detect_each_effect():
    c = sgw.phase_criteria(_phase_frame({1e-3: 0.10, 1e-2: 0.30}), n_test=1000)
    assert c["L"] is True and c["N"] is True and c["F"] is True and c["T_opt"] == 1e-3
    # U: noise lowers the lazy test error 0.2 → 0.1; SE = sqrt(p(1-p)/1000)/sqrt(2) per cell
    # (seed spread 0.0007): z = 0.1 / hypot(0.0090, 0.0068) ≈ 8.9
    assert c["U"] is True and c["T_best_lazy"] == 1e-2 and c["U_z"] == pytest.approx(8.9, abs=0.1)
    # noise hurts at large α (0.1 → 0.3, z ≈ 18): U is contradicted, not merely unsupported
    c = sgw.phase_criteria(_phase_frame({1e-3: 0.1, 1e-2: 0.3}, {1e-3: 0.1, 1e-2: 0.3}), 1000)
    assert c["U"] is False and c["U_z"] == 0.0 and c["T_best_lazy"] == 1e-3
    assert c["U_against_z"] == pytest.approx(0.2 / np.hypot(0.0068, 0.0102), rel=0.02)
    # a lazy difference within the errors: undecided
    c = sgw.phase_criteria(_phase_frame({1e-3: 0.1, 1e-2: 0.3}, {1e-3: 0.2, 1e-2: 0.195}), 1000)
    assert c["U"] is None and 0 < c["U_z"] < sgw.Z_CRIT
    topt = sgw.optimal_temperatures(_phase_frame({1e-3: 0.30, 1e-2: 0.10}))
    assert topt[0] == (0.1, 1e-2, pytest.approx(0.1005))  # seed mean of 0.100 and 0.101
    # the same test error at both T: F undecided (no test shows the absence of an effect)
    c = sgw.phase_criteria(_phase_frame({1e-3: 0.2, 1e-2: 0.2}), n_test=1000)
    assert c["L"] is True and c["N"] is True and c["F"] is None and abs(c["F_z"]) < 1
    # weight change larger in the lazy regime, seed ranges apart: L contradicted
    df = _phase_frame({1e-3: 0.1, 1e-2: 0.3})
    df.loc[df["alpha"] > 1, "weight_change"] *= 100
    assert sgw.phase_criteria(df, n_test=1000)["L"] is False
    # overlapping seed ranges: L undecided
    df = _phase_frame({1e-3: 0.1, 1e-2: 0.3})
    low_T = np.isclose(df["T"], 1e-3)
    df.loc[low_T & (df["alpha"] > 1), "weight_change"] = [0.5, 0.9]
    df.loc[low_T & (df["alpha"] < 1), "weight_change"] = [0.6, 0.8]
    assert sgw.phase_criteria(df, n_test=1000)["L"] is None


def test_tc_analysis_extrapolates_a_linear_onset():
    # q = q0(P) (1 + T/T1(P)) with T1 = 2e-3 (P/256)^(-0.5): departure by f = 0.5 at
    # T_c = 0.5 T1, already past 10% at the grid's lowest T = 3e-4 (no measured plateau)
    rows = []
    for seed in range(3):
        for P in (256, 512, 1024, 2048):
            t1 = 2e-3 * (P / 256) ** -0.5 * (1 + 0.03 * seed)
            for T in (3e-4, 1e-3, 3e-3, 1e-2):
                q = 0.02 * (P / 256) ** 0.3 * (1 + T / t1)
                rows.append(dict(seed=seed, n_train=P, T=T, weight_change=q, status="done"))
    an = sgw.tc_analysis(pd.DataFrame(rows), fraction=0.5)
    table = an["table"].set_index("n_train")
    assert (table["q0_from"] == "linear extrapolation").all()
    assert table.loc[256, "T_c"] == pytest.approx(0.5 * 2e-3 * 1.03, rel=0.01)  # seed mean
    assert an["fit"].exponent == pytest.approx(-0.5, abs=1e-6)  # T_c per seed exact


def test_tc_analysis_recovers_a_power_law():
    # q(T, P) = q0 (1 + (T/T_c(P))^2) with T_c = 0.3 P^(-0.5): by construction q departs from
    # q0 by the fraction f at T = T_c f^(1/2); the log-log interpolation is exact for this
    # onset (the q0 taken at the grid's lowest T is q0(1 + tiny), hence the 1e-3 tolerance).
    rows = []
    for seed in range(3):
        for P in (100, 400, 1600, 6400):
            tc = 0.3 * P**-0.5 * (1 + 0.02 * seed)
            for T in np.geomspace(1e-6, 1e-1, 16):
                q = 0.05 * (1 + (T / tc) ** 2)
                rows.append(dict(seed=seed, n_train=P, T=T, weight_change=q, status="done"))
    an = sgw.tc_analysis(pd.DataFrame(rows), fraction=0.5)
    assert an["fit"].exponent == pytest.approx(-0.5, abs=1e-3)
    expected = 0.3 * 100**-0.5 * math.sqrt(0.5) * 1.02  # seed-mean curve ≈ middle seed
    got = an["table"].set_index("n_train").loc[100, "T_c"]
    assert got == pytest.approx(expected, rel=0.02)


# --------------------------------------------------------------------------- claims


@pytest.mark.slow
def test_sgw23_phase_smoke(smoke_all):
    rec, out = smoke_all["sgw23-phase"]
    assert rec["verdict"] == "agree"
    m = rec["metrics"]
    for name in ("mnist", "cifar10"):
        assert m[f"{name}_runs"] == 8 and m[f"{name}_failed"] == 0
        assert m[f"{name}_wc_lazy_lowT"] < m[f"{name}_wc_feature_lowT"]
        assert m[f"{name}_wc_lazy_lowT"] < m[f"{name}_wc_lazy_highT"]
    saved = json.loads((out / "result.json").read_text())
    assert "phase_mnist_test_err.png" in saved["figures"]
    assert "phase_cifar10_weight_change.png" in saved["figures"]
    assert all((out / f).is_file() for f in saved["figures"])
    assert (out / "study.sqlite").is_file()


@pytest.mark.slow
def test_sgw23_tc_smoke(smoke_all):
    rec, out = smoke_all["sgw23-tc"]
    assert rec["verdict"] == "agree"
    m = rec["metrics"]
    assert m["tc_located"] == 3 and m["failed"] == 0
    assert all(math.isfinite(m[f"T_c_P{P}"]) for P in (32, 64, 128))
    assert m["a_ci_low"] <= m["a"] <= m["a_ci_high"]
    saved = json.loads((out / "result.json").read_text())
    assert set(saved["figures"]) == {"tc_weight_change.png", "tc_t_star.png", "tc_vs_P.png"}


def test_all_fitted_needs_every_seed_done_and_fitted():
    df = pd.DataFrame(
        dict(n_train=[64, 64, 64, 64], T=[1e-3, 1e-3, 1e-2, 1e-2],
             status=["done", "done", "done", "diverged"], fitted=[1.0, 1.0, 1.0, math.nan])
    )  # fmt: skip
    assert sgw._all_fitted(df, {"n_train": 64, "T": 1e-3}, 2)
    assert not sgw._all_fitted(df, {"n_train": 64, "T": 1e-2}, 2)  # one seed diverged
    assert not sgw._all_fitted(df, {"n_train": 64, "T": 1e-3}, 3)  # a seed is missing


def _growth_frame():
    rows = []
    for seed in (0, 1):
        for T in (1e-4, 1e-3, 1e-2):
            k = T * (1 + 0.1 * seed)
            rows.append(dict(seed=seed, n_train=64, T=T, status="done", fitted=1.0,
                             weight_change=k, t_star=1e6 * k))  # fmt: skip
    return pd.DataFrame(rows)


def test_tc_growth_reads_t_star_where_every_seed_fitted():
    Ts = [1e-4, 1e-3, 1e-2]
    # at the coldest T one seed hit the cap (no t*): the growth of t* is read from the coldest
    # fully fitted T, the weight change still from the coldest T
    df = _growth_frame()
    capped = np.isclose(df["T"], 1e-4) & (df["seed"] == 1)
    df.loc[capped, ["fitted", "t_star"]] = [0.0, math.nan]
    assert sgw.tc_growth(df, 64, Ts, 2) == (True, True, 1e-2)
    # t* that does not grow between the two fully fitted T is still caught
    hot, mid = np.isclose(df["T"], 1e-2), np.isclose(df["T"], 1e-3)
    df.loc[hot, "t_star"] = df.loc[mid, "t_star"].to_numpy()
    assert sgw.tc_growth(df, 64, Ts, 2)[1] is False
    # a hottest T where a seed did not fit is left out: the comparison stops at 1e-3
    df = _growth_frame()
    df.loc[hot & (df["seed"] == 0), "fitted"] = 0.0
    assert sgw.tc_growth(df, 64, Ts, 2) == (True, True, 1e-3)
