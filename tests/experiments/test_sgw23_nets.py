"""SGW23 network claims: one α-trick run (worker), the per-seed values and criteria of
sgw23-phase and sgw23-tc on synthetic frames (each criterion shown able to fail), both smoke
claims."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.experiments import _sgw23_analysis as an
from sgdnoise.experiments import sgw23_phase as phase
from sgdnoise.experiments import sgw23_tc as tc
from sgdnoise.experiments._sgw23_runs import FUNCTION, check_point, readout_width, train_point
from sgdnoise.experiments.criteria import verdict
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
    assert r["t_star"] == r["time"] and r["capped"] == 0.0
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
    assert r["capped"] == 1.0  # run_grid(capped="capped") gives it status "capped"
    assert math.isnan(r["t_star"])


def test_run_grid_marks_capped_runs(shared_data, tmp_path):
    # the worker's "capped" metric through the one grid skeleton: a run stopped by its step
    # cap comes back with status "capped" (and so enters no criterion), a fitted one "done"
    from sgdnoise.experiments._grid import run_grid
    from sgdnoise.experiments._sgw23_runs import Net, grid_spec
    from sgdnoise.experiments.runner import RunContext

    net = Net("mnist", "mlp", 16, 2, 4, 32, 100, 8, 1000, 1e6)
    ctx = RunContext("t", "smoke", tmp_path, progress=False)
    spec = grid_spec("t", "t", net, {"seed": [0], "max_steps": [1, 1000]}, str(shared_data),
                     alpha=10.0, T=1e-2)  # fmt: skip
    df, _ = run_grid(ctx, [spec], workers=1, capped="capped")
    assert dict(zip(df["max_steps"], df["status"], strict=True)) == {1: "capped", 1000: "done"}


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


def test_specs_are_valid_sweeps(tmp_path):
    for scale in ("smoke", "cpu", "paper"):
        for g in phase.PHASE[scale].grids:
            spec = load_spec(phase.phase_spec(g, scale, str(tmp_path)))
            assert spec.function == FUNCTION
            assert len(spec) == len(g.alpha) * len(g.T) * len(g.seeds)
            assert {c["T"] for c in spec.configs()} == set(g.T)
            assert {c["dataset"] for c in spec.configs()} == {g.net.dataset}
        s = tc.TC[scale]
        spec = load_spec(tc.tc_spec(s, scale, str(tmp_path)))
        assert {c["n_train"] for c in spec.configs()} == set(s.P)
        assert {c["alpha"] for c in spec.configs()} == {s.alpha}
        # every criterion a scale judges is declared, and smoke judges the machinery only
        assert set(s.judged) <= set(tc.tc_criteria())
        assert set(phase.PHASE[scale].judged) <= set(phase.CRITERIA)
    assert phase.PHASE["smoke"].judged == ("L", "N")
    assert all(len(g.seeds) >= 3 for sc in phase.PHASE.values() for g in sc.grids)
    assert all(len(s.seeds) >= 3 for s in tc.TC.values())
    # issue 14: every cpu network grid at ≥ 5 seeds
    assert all(len(g.seeds) >= 5 for g in phase.PHASE["cpu"].grids)
    assert len(tc.TC["cpu"].seeds) >= 5


# --------------------------------------------------------------------------- sgw23-phase

ALPHAS, TS = (0.1, 1.0, 100.0), (1e-3, 3e-3, 1e-2)


def _phase_frame(wc=None, err=None, seeds=(0, 1, 2, 3, 4), status=None):
    """A synthetic (α, T) grid: ``wc(a, T)`` and ``err(a, T)`` give ‖Δw‖/‖w0‖ and the test
    error; each seed adds a little noise.  Default: the paper's picture (lazy at large α,
    T escapes it, noise helps there, T_opt grows with α, α↓ hurts where T↑ helps)."""
    wc = wc or (lambda a, T: (0.05 if a > 10 else 0.7) * (1 + (T / 3e-3) ** 2))
    topt = {0.1: 1e-3, 1.0: 3e-3, 100.0: 1e-2}
    err = err or (lambda a, T: (0.1 if a > 10 else 0.15) + 0.05 * abs(math.log(T / topt[a])))
    rng = np.random.default_rng(0)
    rows = []
    for sd in seeds:
        for a in ALPHAS:
            for T in TS:
                rows.append(dict(
                    seed=sd, alpha=a, T=T, status="done", fitted=1.0,
                    weight_change=wc(a, T) * (1 + 0.01 * rng.standard_normal()),
                    test_err=err(a, T) + 0.001 * rng.standard_normal(),
                ))  # fmt: skip
    df = pd.DataFrame(rows)
    if status is not None:
        df["status"] = [status(r) for r in df.itertuples()]
    return df


def _grid():
    from sgdnoise.experiments._sgw23_runs import Net

    net = Net("mnist", "mlp", 8, 2, 1, 64, 100, 8, 100, 1e3)
    return phase.PhaseGrid(net, ALPHAS, TS, (0, 1, 2))


def _judge(df, judged=phase.CRITERIA):
    g = _grid()
    s = phase.PhaseSettings((g,), workers=1, judged=judged)
    js, _ = phase.judge({"mnist": df}, s)
    return {j.name.split(" ")[0]: j for j in js}


def test_phase_criteria_supported_on_the_papers_picture():
    js = _judge(_phase_frame())
    assert {k: j.decision for k, j in js.items()} == dict.fromkeys(phase.CRITERIA, "supported")
    assert js["L"].estimate == pytest.approx(math.log(0.7 / 0.05), abs=0.05)
    assert js["U"].estimate == pytest.approx(-0.05 * math.log(10 / 1), abs=0.01)
    assert js["T_opt"].estimate == pytest.approx(math.log(3), abs=1e-9)  # one grid step
    assert "T↑ helps, α↓ hurts" in js["opposite"].note


@pytest.mark.parametrize(
    "name, broken",
    [
        # α does not control laziness: the weight change is larger at large α
        ("L", dict(wc=lambda a, T: (0.7 if a > 10 else 0.05) * (1 + (T / 3e-3) ** 2))),
        # T does not escape the lazy regime: the weight change falls with T
        ("N", dict(wc=lambda a, T: (0.05 if a > 10 else 0.7) * (3e-3 / T))),
        # noise hurts in the lazy regime
        ("U", dict(err=lambda a, T: 0.1 + 10 * T)),
        # T_opt falls with α: the best T at α = 0.1 is the hottest, at α = 1 the coldest
        ("T_opt", dict(err=lambda a, T: 0.1 + (-10 * T if a < 0.5 else 10 * T))),
        # raising T and lowering α always change the error the same way (both help)
        ("opposite", dict(err=lambda a, T: 0.3 - 10 * T - (0.05 if a < 10 else 0.0))),
    ],
)
def test_each_phase_criterion_can_fail(name, broken):
    js = _judge(_phase_frame(**broken))
    assert js[name].decision == "contradicted"


def test_smoke_phase_verdict_follows_its_criteria():
    # smoke judges L and N only: agree on the paper's picture, disagree when either breaks
    assert verdict(_judge(_phase_frame(), ("L", "N")).values()) == "agree"
    bad = _phase_frame(wc=lambda a, T: 0.1)  # weight change the same everywhere
    js = _judge(bad, ("L", "N"))
    assert verdict(js.values()) != "agree" and js["L"].decision != "supported"


def test_capped_and_diverged_runs_enter_no_value():
    good = an.phase_values(_phase_frame())
    # the same grid with absurd extra runs marked capped/diverged: identical values
    extra = _phase_frame(wc=lambda a, T: 1e3, err=lambda a, T: 0.9, seeds=(7, 8, 9),
                         status=lambda r: "capped" if r.seed < 9 else "diverged")  # fmt: skip
    mixed = an.phase_values(pd.concat([_phase_frame(), extra], ignore_index=True))
    for k in ("L", "N", "U", "T_opt"):
        np.testing.assert_allclose(mixed[k], good[k])
    # a capped run at the hottest lazy T moves N and U inward to the hottest T where every
    # seed fitted (all five seeds stay); L, read at the coldest T, is unchanged
    df = _phase_frame()
    df.loc[(df["seed"] == 0) & (df["alpha"] == 100.0) & (df["T"] == 1e-2), "status"] = "capped"
    v = an.phase_values(df)
    assert v["T_compared"]["N/U"] == (1e-3, 3e-3) and len(v["N"]) == 5
    np.testing.assert_allclose(v["L"], good["L"])


def test_opposite_cells_are_lower_bounds_of_both_effects():
    cells = an.opposite_effect_cells(_phase_frame())
    assert len(cells) == 2 * (len(TS) - 1)
    for label, vals in cells.items():
        assert len(vals) == 5 and label.startswith("α=100")


# --------------------------------------------------------------------------- sgw23-tc


def _tc_frame(gamma=0.4, q0_exp=0.0, seeds=(0, 1, 2), Ps=(256, 1024, 4096),
              Ts=(1e-4, 2e-4, 4e-4, 1e-3, 1e-2), wc_T=None, tstar=None,
              q0=0.02, c=2.0):  # fmt: skip
    """q(T, P) = q0 P^q0_exp + c T P^γ (a T → 0 value plus a noise part linear in T): the
    line through the lowest T is exact and T_c = f q0 P^q0_exp / (c P^γ), so
    a = γ − q0_exp; t* = 1e6 T by default."""
    rng = np.random.default_rng(1)
    rows = []
    for sd in seeds:
        for P in Ps:
            for T in Ts:
                q = q0 * P**q0_exp + c * T * P**gamma * (1 + 0.02 * rng.standard_normal())
                if wc_T is not None:
                    q = wc_T(T, P)
                t = (tstar or (lambda T, P: 1e6 * T * P**0.5))(T, P)
                rows.append(dict(seed=sd, n_train=P, T=T, status="done", fitted=1.0,
                                 weight_change=q, t_star=t * (1 + 0.01 * sd)))  # fmt: skip
    return pd.DataFrame(rows)


def _tc_judge(df, judged=("wc_grows", "tstar_grows", "a", "a_gamma", "located", "fitted")):
    v = an.tc_values(df)
    s = tc.TcSettings(tc.TC["smoke"].net, 10.0, (), (), (0, 1, 2), 1, judged)
    return {j.name: j for j in tc.judge(v, s)}, v


def test_tc_values_recover_a_and_gamma():
    js, v = _tc_judge(_tc_frame(gamma=0.4))
    assert v["known"] == [256, 1024, 4096]
    assert v["a_by_seed"].to_numpy() == pytest.approx([0.4] * 3, abs=0.03)
    # γ read at the hottest T, where the T → 0 part is small beside the noise part
    assert v["gamma_by_seed"].to_numpy() == pytest.approx([0.4] * 3, abs=0.05)
    assert {j.decision for j in js.values()} == {"supported"}


def test_a_gamma_fails_when_t0_value_grows_with_P():
    # a T → 0 value growing as P^0.35 makes a = γ − 0.35: beyond the tolerance
    js, v = _tc_judge(_tc_frame(gamma=0.4, q0_exp=0.35))
    assert v["a_by_seed"].mean() == pytest.approx(0.05, abs=0.03)
    assert js["a = γ"].decision == "contradicted"


def test_a_fails_when_T_c_grows_with_P():
    js, v = _tc_judge(_tc_frame(gamma=0.0, q0_exp=0.4, q0=0.002, c=20.0))
    assert v["a_by_seed"].to_numpy() == pytest.approx([-0.4] * 3, abs=0.03)
    assert js["T_c falls with P"].decision == "contradicted"


@pytest.mark.parametrize(
    "name, broken",
    [
        ("‖Δw‖ grows with T", dict(wc_T=lambda T, P: 0.05 * (1e-4 / T) ** 0.5)),
        ("t* grows with T", dict(tstar=lambda T, P: 1e3 / T)),
        # a weight change that never departs from its T → 0 value: T_c nowhere on the grid
        ("T_c located", dict(wc_T=lambda T, P: 0.05)),
    ],
)
def test_each_tc_smoke_criterion_can_fail(name, broken):
    js, _ = _tc_judge(_tc_frame(**broken), tc.MACHINERY)
    assert js[name].decision == "contradicted"


def test_capped_runs_enter_no_tc_fit_and_are_counted():
    df = _tc_frame()
    _, good = _tc_judge(df)
    # cap (say) the coldest run of two seeds at P = 4096 and give it an absurd weight change
    hit = (df["n_train"] == 4096) & (df["T"] == 1e-4) & (df["seed"] < 2)
    df.loc[hit, ["status", "weight_change", "t_star"]] = ["capped", 5.0, math.nan]
    js, v = _tc_judge(df)
    assert int(v["per_P"].set_index("n_train").loc[4096, "capped"]) == 2
    assert v["fitted"] == pytest.approx(1 - 2 / len(df))
    # (seeds 0 and 1 extrapolate through 2e-4..1e-3 instead: their a moves within the noise)
    assert v["a_by_seed"].to_numpy() == pytest.approx(good["a_by_seed"].to_numpy(), abs=0.05)
    assert js["runs fitted"].decision == "supported"
    # most runs capped: the machinery check of the caps fails
    df["status"] = np.where(df["T"] < 1e-3, "capped", "done")
    js, _ = _tc_judge(df, tc.MACHINERY)
    assert js["runs fitted"].decision == "contradicted"


def test_tc_unknown_t0_value_leaves_P_out_of_the_fits():
    # at P = 256 the weight change bends (not a line through the lowest T, no plateau)
    df = _tc_frame()
    at = df["n_train"] == 256
    df.loc[at, "weight_change"] = 0.02 * (1 + (df.loc[at, "T"] / 1e-4) ** 2)
    _, v = _tc_judge(df)
    assert v["known"] == [1024, 4096]


# --------------------------------------------------------------------------- claims


@pytest.mark.slow
def test_sgw23_phase_smoke(smoke_all):
    rec, out = smoke_all["sgw23-phase"]
    assert rec["verdict"] == "agree"
    assert {c["name"].split(" ")[0] for c in rec["criteria"]} == {"L", "N"}
    m = rec["metrics"]
    for name in ("mnist", "cifar10"):
        assert m[f"{name}_runs"] == 12 and m[f"{name}_failed"] == 0
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
    assert len(rec["criteria"]) == len(tc.MACHINERY)
    m = rec["metrics"]
    assert m["tc_located"] == 3 and m["failed"] == 0
    assert all(math.isfinite(m[f"T_c_P{P}"]) for P in (32, 64, 128))
    saved = json.loads((out / "result.json").read_text())
    assert set(saved["figures"]) == {"tc_weight_change.png", "tc_t_star.png", "tc_vs_P.png"}
