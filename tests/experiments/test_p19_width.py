"""Claims p19-width and p19-bmax: the analysis by hand on a constructed grid, the criteria on
synthetic grids where P19 holds / fails / is censored, the smoke criteria failing with a
broken ingredient, the fan-in convention against the real models, the specs of every
scale, and both claims at smoke scale on real data."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sgdnoise.experiments import _p19_analysis as an
from sgdnoise.experiments import p19_bmax, p19_width
from sgdnoise.experiments._p19_grid import SETTINGS, Family, reference_fan_in, specs
from sgdnoise.nets import make_model, scaled_layers
from sgdnoise.sweeps import Store

N = 512


@pytest.mark.parametrize(
    "arch,width,shape",
    [("mlp", 48, (3, 8, 8)), ("convnet", 2, (3, 16, 16)), ("resnet-small", 3, (3, 16, 16))],
)
def test_reference_fan_in_is_the_first_hidden_to_hidden_layer(arch, width, shape):
    net = make_model(arch, input_shape=shape, num_outputs=10, width=width, seed=0, device="cpu")
    layers = list(scaled_layers(net).values())
    # layer 0 reads the input; layer 1 is the first whose fan-in scales with the width
    assert layers[1].fan_in == reference_fan_in(arch, width)
    assert reference_fan_in(arch, 2 * width) == 2 * reference_fan_in(arch, width)


# ------------------------------------------------------------------ analysis by hand

STD = Family("mlp", "standard", False, (0.1, 0.3, 1.0), (16, 64))


def _hand_grid():
    """Width 16: optimum at lr 0.3 (both seeds), lr 1.0 diverges; width 64: optimum at lr 0.1
    for seed 0 and 0.3 for seed 1, nothing diverges."""
    acc = {
        (16, 0.1): (0.30, 0.31),
        (16, 0.3): (0.40, 0.42),
        (16, 1.0): (math.nan, math.nan),
        (64, 0.1): (0.52, 0.45),
        (64, 0.3): (0.44, 0.46),
        (64, 1.0): (0.20, 0.21),
    }
    rows = []
    for (w, lr), vals in acc.items():
        for seed, a in enumerate(vals):
            status = "diverged" if math.isnan(a) else "done"
            rows.append(
                dict(sweep="p19-mlp-standard", status=status, width=w, lr=lr, batch=16,
                     seed=seed, test_acc_late=a)
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_analysis_by_hand():
    a = an.analyse_family(_hand_grid(), STD, N)
    per = a.per.set_index(["width", "seed"])
    assert per.loc[(16, 0), "lr"] == 0.3 and per.loc[(64, 0), "lr"] == 0.1
    assert per.loc[(64, 1), "lr"] == 0.3
    # ḡ = ε N/B with ε = η n/σ_w², n = the width for the MLP, σ_w² = 2
    assert per.loc[(16, 0), "g_opt"] == pytest.approx(0.3 * 16 / 2 * N / 16, rel=1e-12)
    assert per.loc[(64, 0), "g_opt"] == pytest.approx(0.1 * 64 / 2 * N / 16, rel=1e-12)
    # ε_max per seed: located below the diverging rate at width 16; a bound at width 64
    assert per.loc[(16, 1), "eps_max"] == pytest.approx(0.3 * 16 / 2)
    assert not per.loc[(16, 1), "eps_censored"]
    assert per.loc[(64, 0), "eps_max"] == pytest.approx(1.0 * 64 / 2)
    assert per.loc[(64, 0), "eps_censored"]
    # B_max = ε_max N / ḡ_opt = B* ε_max/ε*
    assert per.loc[(16, 0), "B_max"] == pytest.approx(16.0, rel=1e-12)
    assert per.loc[(64, 0), "B_max"] == pytest.approx(16 * 32 / (0.1 * 32), rel=1e-12)
    # per-seed slopes: seed 0 log(ḡ64/ḡ16)/log 4 = log(6.4/2.4·... ) computed directly
    g = per["g_opt"]
    want = [math.log(g[(64, s)] / g[(16, s)]) / math.log(4) for s in (0, 1)]
    assert a.slopes("g_opt") == pytest.approx(want, rel=1e-12)
    assert a.gain() == pytest.approx([0.52 - 0.40, 0.46 - 0.42])
    # width 16: lr 0.3 is the largest η/B left (1.0 diverged); width 64 seed 0: lr 0.1 is the
    # smallest; width 64 seed 1: lr 0.3 is interior
    assert a.where("edge") == [(16, 0), (16, 1), (64, 0)]
    assert "censored" in a.censoring("edge") and "censored" in a.censoring("eps_censored")


def test_family_where_everything_diverged_is_reported_not_crashed():
    df = _hand_grid()
    df["status"], df["test_acc_late"] = "diverged", math.nan
    a = an.analyse_family(df, replace(STD, parameterization="ntk"), N)
    assert a.per.empty and a.missing == 4 and a.slopes("g_opt").size == 0
    assert a.gain().size == 0
    assert "every run diverged" in an.optima_table([a])
    # the claim's criteria say undecided (no seeds), they do not crash
    assert {j.decision for j in p19_width.judge([a], None, "cpu")} == {"undecided"}


# ------------------------------------------------------------------ synthetic P19 grids

NTK = Family("mlp", "ntk", False, tuple(2.0 ** np.arange(-6, 9)), (16, 64, 256))
BATCHES = (16, 64)


def _frame(fam=NTK, *, seeds=5, slope=1.0, gain=0.05, eps_max=lambda k: 32.0, jitter=0.3,
           score=None, rng=0):  # fmt: skip
    """A grid whose late accuracy peaks at ḡ*(k) = 4 (k/k_min)^slope (times 2^{±1} per seed
    and width with probability ``jitter``), rises by ``gain`` over the width span, and
    diverges above the NTK rate ``eps_max(k)``; ``score`` replaces the accuracy (a broken
    trainer)."""
    r = np.random.default_rng(rng)
    rows = []
    k0 = min(fam.widths)
    for k in fam.widths:
        for s in range(seeds):
            shift = r.choice([-1, 0, 1], p=[jitter / 2, 1 - jitter, jitter / 2])
            g_star = 4.0 * (k / k0) ** slope * 2.0**shift
            for lr in fam.lrs:
                for b in fam.batches or BATCHES:
                    if lr > eps_max(k):
                        rows.append(dict(status="diverged", test_acc_late=math.nan))
                    else:
                        acc = 0.3 + gain * math.log(k / k0) / math.log(max(fam.widths) / k0)
                        acc -= 0.01 * math.log2(lr * N / b / g_star) ** 2
                        acc += r.normal(0, 0.002) if score is None else 0.0
                        rows.append(dict(status="done", test_acc_late=score or acc))
                    rows[-1].update(sweep=f"p19-{fam.name}", width=k, lr=lr, batch=b, seed=s)
    return pd.DataFrame(rows)


def _decisions(judged) -> dict:
    """Decisions by criterion name without the family suffix."""
    return {j.name.split("-mlp")[0].split("-resnet")[0]: j.decision for j in judged}


def _width(df, fam=NTK, scale="cpu"):
    return _decisions(p19_width.judge([an.analyse_family(df, fam, N)], None, scale))


def _bmax(df, fam=NTK, scale="cpu"):
    return _decisions(p19_bmax.judge([an.analyse_family(df, fam, N)], scale))


def test_criteria_support_p19_where_it_holds():
    assert _width(_frame()) == {"gbar-slope": "supported", "accuracy-rises": "supported"}
    assert _bmax(_frame()) == {"eps-max-bounded": "supported", "bmax-falls": "supported"}


def test_criteria_contradict_p19_where_it_fails():
    # ḡ_opt independent of width (the alternative the power is computed at), accuracy falls
    assert _width(_frame(slope=0.0, gain=-0.05)) == {
        "gbar-slope": "contradicted",
        "accuracy-rises": "contradicted",
    }
    # ε_max ∝ k² outgrows ḡ_opt ∝ k: the largest stable rate is not bounded, B_max rises
    d = _bmax(_frame(eps_max=lambda k: 0.5 * (k / 16) ** 2))
    assert d == {"eps-max-bounded": "contradicted", "bmax-falls": "contradicted"}


def test_optimum_on_the_grid_edge_censors_the_slope():
    # the widest net's optimum lies beyond the largest stable η/B: ḡ_opt is only a bound
    df = _frame(slope=2.0, jitter=0.0)
    a = an.analyse_family(df, NTK, N)
    assert {k for k, _ in a.where("edge")} == {256}
    judged = p19_width.judge([a], None, "cpu")
    slope = next(j for j in judged if j.name.startswith("gbar-slope"))
    assert slope.decision == "undecided" and "censored" in slope.note
    assert _bmax(df)["bmax-falls"] == "undecided"


def test_nothing_diverged_censors_eps_max():
    d = _bmax(_frame(eps_max=lambda k: math.inf))
    assert d == {"eps-max-bounded": "undecided", "bmax-falls": "undecided"}


def test_criteria_need_three_seeds():
    d = _width(_frame(seeds=2))
    assert d == {"gbar-slope": "undecided", "accuracy-rises": "undecided"}


# ------------------------------------------------------------------ the BN ResNet family

BN = Family("resnet-small", "ntk", True, tuple(2.0 ** np.arange(-7, 6)), (1, 2, 4), batches=(32,))


def test_bn_family_is_judged_on_the_trend():
    """ḡ_opt (here ε_opt, B fixed) rising ∝ k and accuracy rising: both supported."""
    d = _width(_frame(BN, seeds=5), BN)
    assert d == {"gbar-rises": "supported", "accuracy-rises": "supported"}
    assert _bmax(_frame(BN, seeds=5), BN) == {}  # p19-bmax judges the families without BN


@pytest.mark.parametrize("slope,want", [(0.0, "undecided"), (-1.0, "contradicted")])
def test_bn_criterion_fails_with_a_width_independent_or_falling_optimum(slope, want):
    """A width-independent optimum leaves the slope at 0 (not supported); a falling one
    contradicts the trend."""
    d = _width(_frame(BN, seeds=5, slope=slope, gain=0.05), BN)
    assert d["gbar-rises"] == want and d["accuracy-rises"] == "supported"


def test_bn_family_analysis_at_one_batch():
    """At one batch size ḡ_opt = ε* N/B: its per-seed slope is that of ε*."""
    a = an.analyse_family(_frame(BN, seeds=3, jitter=0.0), BN, N)
    assert set(a.per["batch"]) == {32}
    assert a.per["g_opt"].to_numpy() == pytest.approx(a.per["lr"].to_numpy() * N / 32)
    assert a.slopes("g_opt") == pytest.approx([1.0, 1.0, 1.0])


def test_tolerance_is_the_grid_resolution():
    # half a factor-2 rate step at one end of a 16x width span
    assert an.rate_tolerance(NTK) == pytest.approx(0.5 * math.log(2) / math.log(16))
    for scale in ("smoke", "cpu", "paper"):
        for f in SETTINGS[scale].families:
            if not f.batch_norm:  # the exponent criterion is judged without BN only
                assert 0 < an.rate_tolerance(f) < 0.5


# ------------------------------------------------------------------ smoke criteria can fail

SMOKE = replace(SETTINGS["smoke"], families=(NTK,))


def test_smoke_criteria_pass_on_a_working_grid():
    a = an.analyse_family(_frame(seeds=2), NTK, N)
    assert {j.decision for j in p19_width.judge([a], SMOKE, "smoke")} == {"supported"}
    assert {j.decision for j in p19_bmax.judge([a], "smoke")} == {"supported"}


def test_smoke_fails_when_training_is_broken():
    """A trainer that ignores η, B and the data leaves a flat grid at chance."""
    a = an.analyse_family(_frame(seeds=2, score=0.1), NTK, N)
    d = _decisions(p19_width.judge([a], SMOKE, "smoke"))
    assert d["grid-moves-accuracy"] == "contradicted"
    assert d["optimum-beats-chance"] == "contradicted"


def test_smoke_fails_when_the_fan_in_convention_is_broken(monkeypatch):
    a = an.analyse_family(_frame(seeds=2), NTK, N)
    monkeypatch.setattr(an, "reference_fan_in", lambda arch, width: width + 1)
    assert _decisions(p19_width.judge([a], SMOKE, "smoke"))["fan-in-convention"] == "contradicted"


def test_smoke_fails_when_the_bn_family_does_not_learn():
    """A BN net evaluated with running statistics that never moved predicts one class: the
    BN family alone at chance fails the smoke although the MLPs learn."""
    fams = [an.analyse_family(_frame(seeds=2), NTK, N)]
    fams.append(an.analyse_family(_frame(BN, seeds=2), BN, N))
    s = replace(SETTINGS["smoke"], families=(NTK, BN))
    assert {j.decision for j in p19_width.judge(fams, s, "smoke")} == {"supported"}
    fams[1] = an.analyse_family(_frame(BN, seeds=2, score=0.1), BN, N)
    d = _decisions(p19_width.judge(fams, s, "smoke"))
    assert d["optimum-beats-chance"] == "contradicted"
    assert d["grid-moves-accuracy"] == "contradicted"


def test_bmax_smoke_leaves_out_bn_families_that_never_diverge():
    """Batch norm bounds the loss: a BN family with no divergence does not fail p19-bmax's
    smoke (its criteria skip BN), the MLPs' divergences are still required."""
    ok = an.analyse_family(_frame(seeds=2), NTK, N)
    bn = an.analyse_family(_frame(BN, seeds=2, eps_max=lambda k: math.inf), BN, N)
    assert {j.decision for j in p19_bmax.judge([ok, bn], "smoke")} == {"supported"}
    never = an.analyse_family(_frame(seeds=2, eps_max=lambda k: math.inf), NTK, N)
    assert _decisions(p19_bmax.judge([never, bn], "smoke"))["divergence-located"] == (
        "contradicted"
    )


@pytest.mark.parametrize("eps_max", [math.inf, 0.0])
def test_smoke_fails_when_divergence_detection_is_broken(eps_max):
    """A detector that never fires leaves ε_max unlocated; one that always fires leaves no
    stable rate (every run 'diverged')."""
    a = an.analyse_family(_frame(seeds=2, eps_max=lambda k: eps_max), NTK, N)
    d = _decisions(p19_bmax.judge([a], "smoke"))
    bad = "divergence-located" if eps_max == math.inf else "stable-rate-exists"
    assert d[bad] == "contradicted"
    assert _decisions(p19_width.judge([a], SMOKE, "smoke"))["optima-located"] == (
        "supported" if eps_max == math.inf else "contradicted"
    )


# ------------------------------------------------------------------ specs and stores


@pytest.mark.parametrize(
    "scale,runs", [("smoke", 144 + 3 * 2 * 2), ("cpu", 672 + 6 * 2 * 6), ("paper", None)]
)
def test_specs_of_every_scale_validate(scale, runs, tmp_path):
    from types import SimpleNamespace

    from sgdnoise.sweeps import load_spec

    s = SETTINGS[scale]
    ctx = SimpleNamespace(seed=3, device="cpu")
    # a data folder that exists (the spec loader checks it)
    loaded = [load_spec(sp) for sp in specs(ctx, s, str(tmp_path))]
    assert len(loaded) == len(s.families)
    if runs is not None:
        assert sum(len(sp) for sp in loaded) == runs
    for f, sp in zip(s.families, loaded):
        assert f.seeds_in(s) >= (2 if scale == "smoke" else 3)
        assert {c["seed"] for c in sp.configs()} == set(range(3, 3 + f.seeds_in(s)))
        assert {c["data_seed"] for c in sp.configs()} == {3}
        assert {c["batch"] for c in sp.configs()} == set(f.batches_in(s))
        assert {c["n_train"] for c in sp.configs()} == {f.n_train_in(s)}
    # the ResNet with batch norm is judged at cpu scale and checked at smoke
    bn = [f for f in s.families if f.batch_norm and f.arch == "resnet-small"]
    assert bn and all(len(f.widths) >= 2 and max(f.widths) >= 2 * min(f.widths) for f in bn)
    if scale == "cpu":  # one family, at one batch: ḡ_opt moves with the rate only
        assert len(bn) == 1 and len(bn[0].batches_in(s)) == 1 and bn[0].seeds_in(s) >= 3


def test_adopt_sibling_store(tmp_path):
    """The copy holds the sibling's runs; nothing is adopted over an existing store, from a
    missing sibling, or from the claim itself."""
    from types import SimpleNamespace

    from sgdnoise.experiments._grid import adopt_sibling_store

    sib = tmp_path / "p19-width"
    sib.mkdir()
    with Store.create_or_open(sib / "study.sqlite") as st:
        st.add_runs("s", "pkg.mod:fn", [("k1", {"a": 1}), ("k2", {"a": 2})])
    ctx = SimpleNamespace(out_dir=tmp_path / "p19-bmax.partial")
    ctx.out_dir.mkdir()
    assert adopt_sibling_store(ctx, "p19-width")
    with Store(ctx.out_dir / "study.sqlite") as a, Store(sib / "study.sqlite") as b:
        assert a.to_frame().equals(b.to_frame())
    assert not adopt_sibling_store(ctx, "p19-width")  # a store is there already
    other = SimpleNamespace(out_dir=tmp_path / "x.partial")
    other.out_dir.mkdir()
    assert not adopt_sibling_store(other, "missing")
    same = SimpleNamespace(out_dir=tmp_path / "p19-width.partial")
    same.out_dir.mkdir()
    assert not adopt_sibling_store(same, "p19-width")


# ------------------------------------------------------------------ smoke, real data


def _check(rec, out, figures):
    assert rec["verdict"] == "agree", rec["summary"]
    assert rec["criteria"] and all(c["kind"] == "machinery" for c in rec["criteria"])
    saved = json.loads((out / "result.json").read_text())
    assert (out / "study.sqlite").is_file()
    for f in figures:
        assert f in saved["figures"] and (out / f).stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.realdata
def test_p19_width_smoke(smoke_all):
    rec, out = smoke_all["p19-width"]
    figs = ["p19_gbar_vs_width.png", "p19_accuracy_vs_width.png", "p19_heatmap_mlp-ntk_w64.png"]
    figs.append("p19_rates_resnet-small-ntk-bn.png")
    _check(rec, out, figs)
    m = rec["metrics"]
    assert m["n_runs"] == 2 * 3 * 2 * (6 + 6) + 3 * 2 * 2 and m["n_diverged"] > 0
    assert (
        "p19_heatmap_resnet-small-ntk-bn_w2.png"
        in json.loads((out / "result.json").read_text())["figures"]
    )


@pytest.mark.slow
@pytest.mark.realdata
def test_p19_bmax_smoke(smoke_all):
    rec, out = smoke_all["p19-bmax"]
    _check(rec, out, ["p19_bmax_vs_width.png"])
    for fam in ("mlp_standard", "mlp_ntk"):
        assert rec["metrics"][f"{fam}_eps_max_lower_bounds"] == 0


@pytest.mark.slow
@pytest.mark.realdata
def test_p19_width_and_bmax_train_their_grid_once(smoke_all):
    """In one `reproduce all`, p19-bmax (first, alphabetically) trains the grid and p19-width
    resumes a copy of its store: the same runs, each trained once (same finish times)."""
    frames = []
    for claim in ("p19-bmax", "p19-width"):
        with Store(smoke_all[claim][1] / "study.sqlite") as st:
            frames.append(st.to_frame().set_index("key").sort_index())
    bmax, width = frames
    assert len(width) == len(bmax) == smoke_all["p19-width"][0]["metrics"]["n_runs"]
    assert (width.index == bmax.index).all() and (width["attempts"] == 1).all()
    assert (width["seconds"] == bmax["seconds"]).all()


# ------------------------------------------------------------------ batched ensembles


@pytest.mark.realdata
def test_grid_as_ensembles_records_what_per_run_workers_record(tmp_path, shared_data):
    """One (family, width, batch) group of 4 runs (2 rates × 2 seeds, one diverging rate)
    goes through the sweeps store as one ensemble task: one record per run under the
    per-run key, metrics equal to the per-run worker's (bit-for-bit trajectories: the late
    accuracy is equal, the loss within evaluation rounding), and a second run resumes
    with nothing to do."""
    from types import SimpleNamespace

    from sgdnoise.experiments._grid import run_grid
    from sgdnoise.experiments._p19_grid import ENSEMBLE, FUNCTION, p19_point
    from sgdnoise.sweeps.spec import run_key

    s = replace(
        SETTINGS["smoke"],
        families=(Family("mlp", "standard", False, (0.3, 30.0), (16,)),),
        batches=(64,), seeds=2, n_train=256, n_test=256, epochs=2,
    )  # fmt: skip
    ctx = SimpleNamespace(out_dir=tmp_path, seed=0, device="cpu", progress=False)
    sp = specs(ctx, s, str(shared_data))
    df, summ = run_grid(ctx, sp, workers=1, ensemble=[ENSEMBLE])
    assert summ[0].ran == 4 and len(df) == 4
    assert sorted(df["status"]) == ["diverged", "diverged", "done", "done"]
    for _, row in df.iterrows():
        cfg = {k: row[k] for k in json.loads(json.dumps(list(sp[0]["fixed"])))}
        cfg.update({k: row[k] for k in ("width", "lr", "batch", "seed")})
        cfg = {k: (v.item() if hasattr(v, "item") else v) for k, v in cfg.items()}
        assert row["key"] == run_key(FUNCTION, cfg)
        ref = p19_point(**cfg)
        if ref.get("status") == "diverged":
            assert row["status"] == "diverged" and row["diverged_step"] == ref["diverged_step"]
        else:
            assert row["test_acc_late"] == ref["test_acc_late"]
            assert row["test_loss_late"] == pytest.approx(ref["test_loss_late"], rel=1e-5)
            assert row["train_acc_final"] == ref["train_acc_final"]
    _, again = run_grid(ctx, sp, workers=1, ensemble=[ENSEMBLE])
    assert again[0].ran == 0 and again[0].skipped == 4


@pytest.mark.realdata
def test_bn_resnet_grid_points_through_the_ensemble_plan(tmp_path, shared_data):
    """The BN ResNet's grid points go through the same plan: recorded under the per-run key
    with the per-run worker's metrics, bit for bit (on CPU the members of a task run one
    after another through a single run's kernels, :class:`LoopStack`)."""
    from types import SimpleNamespace

    from sgdnoise.experiments._grid import run_grid
    from sgdnoise.experiments._p19_grid import ENSEMBLE, p19_point, p19_size
    from sgdnoise.nets.ensemble import CPU_LOOP_MEMBERS

    s = replace(
        SETTINGS["smoke"],
        families=(Family("resnet-small", "ntk", True, (1.0,), (1,), batches=(32,)),),
        seeds=2, n_train=64, n_test=64, epochs=1,
    )  # fmt: skip
    ctx = SimpleNamespace(out_dir=tmp_path, seed=0, device="cpu", progress=False)
    sp = specs(ctx, s, str(shared_data))
    cfg0 = next(iter(load_spec_configs(sp[0])))
    assert p19_size(cfg0) == CPU_LOOP_MEMBERS  # both seeds in one task
    df, summ = run_grid(ctx, sp, workers=1, ensemble=[ENSEMBLE])
    assert summ[0].ran == 2 and set(df["status"]) == {"done"}
    for _, row in df.iterrows():
        cfg = dict(cfg0, seed=int(row["seed"]))
        ref = p19_point(**cfg)
        assert row["test_acc_late"] == ref["test_acc_late"]
        assert row["train_acc_final"] == ref["train_acc_final"]
        assert row["test_loss_late"] == ref["test_loss_late"]


def load_spec_configs(spec):
    from sgdnoise.sweeps import load_spec

    return load_spec(spec).configs()
