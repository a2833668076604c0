"""Claims p19-width and p19-bmax: the analysis checked by hand on a constructed grid, the
fan-in convention against the real models, and both claims at smoke scale on real data."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from sgdnoise.experiments.p19_width import analyse_family, reference_fan_in
from sgdnoise.nets import make_model, scaled_layers
from sgdnoise.sweeps import Store


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


def _grid():
    """Width 16: optimum at lr 0.3 (both seeds), lr 1.0 diverges; width 64: optimum at lr 0.1
    for seed 0 and 0.3 for seed 1 (seed mean prefers 0.1), nothing diverges."""
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
            rows.append(
                dict(
                    sweep="p19-mlp-standard",
                    status="diverged" if math.isnan(a) else "done",
                    width=w,
                    lr=lr,
                    batch=16,
                    seed=seed,
                    test_acc_late=a,
                )
            )
    return pd.DataFrame(rows)


def test_analysis_by_hand():
    fam = dict(arch="mlp", parameterization="standard", batch_norm=False)
    n = 512
    a = analyse_family(_grid(), fam, n, seed=0)
    opt = a["opt"].set_index("width")
    assert opt.loc[16, "lr"] == 0.3 and opt.loc[64, "lr"] == 0.1
    # ḡ = ε N/B with ε = η n/σ_w², n = the width for the MLP, σ_w² = 2
    assert opt.loc[16, "g_opt"] == pytest.approx(0.3 * 16 / 2 * n / 16, rel=1e-12)
    assert opt.loc[64, "g_opt"] == pytest.approx(0.1 * 64 / 2 * n / 16, rel=1e-12)
    per = a["per_seed"].set_index(["width", "seed"])
    assert per.loc[(64, 1), "lr"] == 0.3
    # ε_max: width 16 is located below the diverging rate; width 64 is censored at the top
    assert a["eps_max"][16] == pytest.approx(0.3 * 16 / 2) and not a["censored"][16]
    assert a["eps_max"][64] == pytest.approx(1.0 * 64 / 2) and a["censored"][64]
    # B_max = ε_max N / ḡ_opt = B* ε_max/ε*
    assert opt.loc[16, "B_max"] == pytest.approx(16 * (0.3 * 8) / (0.3 * 8), rel=1e-12)
    assert opt.loc[64, "B_max"] == pytest.approx(16 * 32 / (0.1 * 32), rel=1e-12)
    # the fit over per-seed optima: seed 0 slope log(4·1/3... ) computed directly
    g = (
        a["per_seed"]
        .groupby("seed")
        .apply(
            lambda d: np.polyfit(np.log(d["width"]), np.log(d["g_opt"]), 1)[0], include_groups=False
        )
    )
    assert a["fit"].ci_low <= g.min() + 1e-9 and g.max() - 1e-9 <= a["fit"].ci_high
    assert a["acc_gap"] == pytest.approx(np.mean([0.52, 0.45]) - np.mean([0.40, 0.42]))
    # width 16: optimum lr 0.3 has the largest η/B of the non-diverged points (lr 1.0
    # diverged); width 64: seed 0's optimum lr 0.1 has the smallest η/B
    assert a["edge"] == [16, 64]
    wide = pd.concat([_grid().assign(batch=b) for b in (8, 16, 32)])
    wide.loc[wide["batch"] != 16, "test_acc_late"] *= 0.5
    b = analyse_family(wide, fam, n, seed=0)
    # width 16's optimum (0.3, 16) is interior in η/B: 0.1/32 < 0.3/16 < 0.3/8
    assert b["edge"] == []  # and width 64 seed 0 (0.1, 16): 0.1/32 < 0.1/16


def _check(rec, out, figures):
    assert rec["verdict"] == "agree", rec["summary"]
    saved = json.loads((out / "result.json").read_text())
    assert (out / "study.sqlite").is_file()
    for f in figures:
        assert f in saved["figures"] and (out / f).stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.realdata
def test_p19_width_smoke(smoke_all):
    rec, out = smoke_all["p19-width"]
    _check(
        rec,
        out,
        ["p19_gbar_vs_width.png", "p19_accuracy_vs_width.png", "p19_heatmap_mlp-ntk_w64.png"],
    )
    m = rec["metrics"]
    assert m["n_runs"] == 2 * 3 * 2 * (5 + 6) and m["n_diverged"] > 0
    assert m["mlp_standard_slope_ci_low"] > 0
    assert (
        m["mlp_standard_slope_ci_low"] <= m["mlp_standard_slope"] <= m["mlp_standard_slope_ci_high"]
    )


@pytest.mark.slow
@pytest.mark.realdata
def test_p19_bmax_smoke(smoke_all):
    rec, out = smoke_all["p19-bmax"]
    _check(rec, out, ["p19_bmax_vs_width.png"])
    m = rec["metrics"]
    for fam in ("mlp_standard", "mlp_ntk"):
        for w in (16, 64, 256):
            assert m[f"{fam}_w{w}_eps_max"] > 0 and m[f"{fam}_w{w}_B_max"] > 0


@pytest.mark.parametrize("scale,runs", [("smoke", 132), ("cpu", 264), ("paper", None)])
def test_specs_of_every_scale_validate(scale, runs):
    from types import SimpleNamespace

    from sgdnoise.experiments.p19_width import SETTINGS, specs
    from sgdnoise.sweeps import load_spec

    s = SETTINGS[scale]
    loaded = [load_spec(sp) for sp in specs(SimpleNamespace(seed=3, device="cpu"), s, "/data")]
    assert len(loaded) == len(s["families"])
    total = sum(len(sp) for sp in loaded)
    if runs is not None:
        assert total == runs
    for sp in loaded:
        seeds = {c["seed"] for c in sp.configs()}
        assert seeds == set(range(3, 3 + s["seeds"]))
        assert {c["data_seed"] for c in sp.configs()} == {3}


def test_family_where_everything_diverged_is_reported_not_crashed():
    df = _grid()
    df["status"], df["test_acc_late"] = "diverged", math.nan
    a = analyse_family(df, dict(arch="mlp", parameterization="ntk", batch_norm=False), 512, 0)
    assert not a["complete"] and a["fit"] is None and math.isnan(a["acc_gap"])
    assert all(math.isnan(v) for v in a["eps_max"].values())  # diverged at the smallest rate


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


def test_adopt_sibling_store(tmp_path):
    """The copy holds the sibling's runs; nothing is adopted over an existing store, from a
    missing sibling, or from the claim itself."""
    from types import SimpleNamespace

    from sgdnoise.experiments._netgrid import adopt_sibling_store

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
