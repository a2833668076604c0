"""Claim sgw23-opposite: the moves out of the lazy regime by hand, the criteria on synthetic
(α, T) grids where SGW23's sentence holds (supported) and where each part breaks
(contradicted / not supported), the shared store with sgw23-phase, and the claim's whole path
with the grid runner replaced by a synthetic frame (no training)."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pandas as pd
import pytest

from sgdnoise.experiments import _sgw23_opposite_analysis as an
from sgdnoise.experiments import sgw23_opposite as op
from sgdnoise.experiments import sgw23_phase as phase
from sgdnoise.experiments._sgw23_runs import ENSEMBLE
from sgdnoise.experiments.criteria import verdict
from sgdnoise.experiments.runner import RunContext
from sgdnoise.sweeps import load_spec
from sgdnoise.sweeps.spec import run_key

ALPHAS, TS = (0.1, 1.0, 100.0), (1e-3, 3e-3, 1e-2)


def lazy_wc(a, T):  # lazy at large α, and raising T moves the weights more
    return (0.05 if a > 10 else 0.7) * (1 + (T / 3e-3) ** 2)


def opposite_err(a, T):  # in the lazy row noise helps, and feature learning (small α) hurts
    return 0.15 - 5 * T if a > 10 else 0.2


def _frame(wc=lazy_wc, err=opposite_err, seeds=(0, 1, 2, 3, 4), dataset="mnist", status=None):
    rng = np.random.default_rng(0)
    rows = []
    for sd in seeds:
        for a in ALPHAS:
            for T in TS:
                w = wc(a, T) * (1 + 0.01 * rng.standard_normal())
                e = err(a, T) + 0.001 * rng.standard_normal()
                rows.append(dict(seed=sd, alpha=a, T=T, status="done", dataset=dataset,
                                 weight_change=w, test_err=e))  # fmt: skip
    df = pd.DataFrame(rows)
    if status is not None:
        df["status"] = [status(r) for r in df.itertuples()]
    return df


def _judge(df, judged=op.CRITERIA):
    from sgdnoise.experiments._sgw23_runs import Net

    g = phase.PhaseGrid(Net("mnist", "mlp", 8, 2, 1, 64, 100, 8, 100, 1e3), ALPHAS, TS, (0,))
    js, shown, by_data = op.judge({"mnist": df}, op.OppositeSettings((g,), 1, judged))
    return {j.name.split(" ")[0]: j for j in js}, {j.name.split(" ")[0]: j for j in shown}


def test_moves_by_hand():
    m = an.moves(_frame(err=lambda a, T: 0.1 * (a > 10) + 10 * T, seeds=(0, 1, 2)))
    assert (m["a_lo"], m["a_hi"], m["T_hot"]) == (0.1, 100.0, 1e-2)
    assert list(m["cells"]) == [1e-3, 3e-3]
    c = m["cells"][1e-3]
    np.testing.assert_allclose(c["dT"], 10 * (1e-2 - 1e-3), atol=0.005)
    np.testing.assert_allclose(c["da"], -0.1, atol=0.005)
    np.testing.assert_allclose(c["wa"], math.log(0.7 / 0.05), atol=0.05)


def test_the_papers_sentence_is_supported():
    js, _ = _judge(_frame())
    assert {k: j.decision for k, j in js.items()} == dict.fromkeys(op.CRITERIA, "supported")
    assert "T↑ helps, α↓ hurts" in js["opposite"].note


@pytest.mark.parametrize(
    "name, broken",
    [
        # raising T does not move the weights more: no escape by T
        ("escape-T", dict(wc=lambda a, T: (0.05 if a > 10 else 0.7) * (3e-3 / T))),
        # lowering α moves the weights less: α does not control laziness
        ("escape-α", dict(wc=lambda a, T: (0.7 if a > 10 else 0.05) * (1 + (T / 3e-3) ** 2))),
        # raising T and lowering α both lower the test error in every lazy cell
        ("opposite", dict(err=lambda a, T: 0.3 - 10 * T - (0.05 if a < 10 else 0.0))),
    ],
)
def test_each_criterion_can_fail(name, broken):
    js, _ = _judge(_frame(**broken))
    assert js[name].decision == "contradicted"
    assert verdict(js.values()) == "disagree"


def test_null_test_error_supports_no_opposite_effect():
    js, _ = _judge(_frame(err=lambda a, T: 0.1))
    assert js["opposite"].decision != "supported" and verdict(js.values()) != "agree"


def test_smoke_judges_the_escapes_and_shows_the_rest():
    js, shown = _judge(_frame(), op.OPPOSITE["smoke"].judged)
    assert set(js) == {"escape-T", "escape-α"} and set(shown) == {"opposite"}
    assert verdict(js.values()) == "agree"
    bad, _ = _judge(_frame(wc=lambda a, T: 0.1), op.OPPOSITE["smoke"].judged)
    assert verdict(bad.values()) != "agree"


def test_capped_runs_enter_no_cell_and_move_T_hot_inward():
    # seed 0 capped at the hottest lazy T (with an absurd error): T_hot moves to 3e-3
    df = _frame(status=lambda r: "capped" if (r.seed == 0 and r.alpha == 100 and r.T == 1e-2)
                else "done")  # fmt: skip
    df.loc[df["status"] == "capped", "test_err"] = 0.9
    m = an.moves(df)
    assert m["T_hot"] == 3e-3 and list(m["cells"]) == [1e-3]
    assert len(m["cells"][1e-3]["dT"]) == 5 and (m["cells"][1e-3]["dT"] < 0.5).all()


@pytest.mark.parametrize("scale", ["smoke", "cpu", "paper"])
def test_runs_are_sgw23_phases_runs(scale, tmp_path):
    # every run of sgw23-phase at this scale has the same store key here: paid once
    def keys(grids):
        out = set()
        for g in grids:
            sp = load_spec(phase.phase_spec(g, scale, str(tmp_path)))
            out |= {run_key(sp.function, c) for c in sp.configs()}
        return out

    mine, theirs = keys(op.OPPOSITE[scale].grids), keys(phase.PHASE[scale].grids)
    assert theirs <= mine
    assert (mine == theirs) == (scale != "paper")  # paper adds seeds for power
    assert all(len(g.seeds) >= (5 if scale == "cpu" else 3) for g in op.OPPOSITE[scale].grids)


def test_claim_adopts_sgw23_phase_store_and_reports(monkeypatch, tmp_path):
    import sgdnoise.experiments._grid as grid
    import sgdnoise.nets.files as files

    (tmp_path / "sgw23-phase").mkdir()
    with sqlite3.connect(tmp_path / "sgw23-phase" / "study.sqlite") as db:
        db.execute("create table t (x)")
    out = tmp_path / "sgw23-opposite"
    out.mkdir()

    class Summary:
        wall_seconds = 0.0

    def fake_grid(ctx, specs, **kw):
        assert (ctx.out_dir / "study.sqlite").is_file()  # adopted before the grid runs
        assert {s["function"] for s in specs} == {"sgdnoise.experiments._sgw23_runs:train_point"}
        assert kw["ensemble"] == [ENSEMBLE]  # trained as batched ensembles, per-run keys
        df = pd.concat([_frame(dataset="mnist"), _frame(dataset="cifar10")], ignore_index=True)
        return df, [Summary(), Summary()]

    monkeypatch.setattr(grid, "run_grid", fake_grid)
    monkeypatch.setattr(files, "find_data_dir", lambda d: tmp_path)
    res = op.run(RunContext("sgw23-opposite", "smoke", out, progress=False))
    assert res.verdict == "agree" and res.metrics["adopted_sgw23_phase_store"] == 1.0
    assert "raise T to T_hot" in res.details and "Not judged at smoke" in res.details
    assert (out / "opposite_test_err.png").is_file()
