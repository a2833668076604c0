"""Claim p19-collapse: the settings and specs of every scale, the pair values by hand, and the
criteria on synthetic frames where accuracy is a function of ḡ (supported), of ε alone or of
nothing (the criteria fail), with a broken ḡ convention and with diverged runs."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.experiments import _p19_collapse_analysis as an
from sgdnoise.experiments import p19_collapse as pc
from sgdnoise.experiments._p19_grid import FUNCTION
from sgdnoise.experiments.criteria import verdict
from sgdnoise.experiments.runner import RunContext
from sgdnoise.sweeps import load_spec

S = replace(pc.SETTINGS["cpu"], widths=(32, 128), seeds=6)
N = 1024


def _frame(acc, s=S, noise=0.002, status=None):
    """One row per grid run: late accuracy ``acc(eps, batch, width)`` + per-run noise."""
    rng = np.random.default_rng(3)
    rows = []
    for w in s.widths:
        for e in s.eps:
            for b in (s.batch, 2 * s.batch):
                for sd in range(s.seeds):
                    a = acc(e, b, w) + noise * rng.standard_normal()
                    rows.append(dict(width=w, lr=e, batch=b, seed=sd, status="done",
                                     test_acc_late=a))  # fmt: skip
    df = pd.DataFrame(rows)
    if status is not None:
        df["status"] = [status(r) for r in df.itertuples()]
    return df


def of_gbar(e, b, w):  # accuracy rising with log ḡ (below ḡ_opt): P19's collapse
    return 0.2 + 0.05 * math.log2(e * N / b)


def _judge(df, scale="cpu", s=S):
    judged, shown, values = pc.analyse(df, s, N, scale)
    return {j.name: j for j in judged}, {j.name: j for j in shown}, values


def test_settings_refuse_a_ladder_that_is_not_factor_two():
    with pytest.raises(ParameterError) as e:
        replace(S, eps=(0.25, 0.75))
    assert e.value.parameter == "eps"
    with pytest.raises(ParameterError):
        replace(S, seeds=2)


@pytest.mark.parametrize("scale", ["smoke", "cpu", "paper"])
def test_specs_are_valid_sweeps_of_the_p19_worker(scale, tmp_path):
    s = pc.SETTINGS[scale]
    ctx = RunContext("p19-collapse", scale, ".", progress=False)
    spec = load_spec(pc.spec(ctx, s, str(tmp_path)))
    assert spec.function == FUNCTION
    cfgs = list(spec.configs())
    assert len(cfgs) == len(s.widths) * len(s.eps) * 2 * s.seeds
    points = {(c["width"], c["lr"], c["batch"]) for c in cfgs}
    for w in s.widths:  # every equal-ḡ partner (2ε, 2B) of (ε, B) is in the grid
        for lo, hi in zip(s.eps[:-1], s.eps[1:], strict=True):
            assert (w, lo, s.batch) in points and (w, hi, 2 * s.batch) in points
    assert {c["parameterization"] for c in cfgs} == {"ntk"}


def test_pair_values_by_hand():
    df = _frame(of_gbar, noise=0.0)
    v = an.pair_values(df, S, lambda e, b, w: e * N / b)[32]
    np.testing.assert_allclose(v["equal"], 0.0, atol=1e-12)
    np.testing.assert_allclose(v["different"], 0.05, atol=1e-12)  # one doubling of ḡ
    assert v["gbar_error"] < 1e-12 and len(v["seeds"]) == S.seeds
    assert an.margin(v) == pytest.approx(0.025)
    assert an.collapse_ratio(v) == pytest.approx(0.0, abs=1e-9)


def test_collapse_onto_gbar_is_supported_at_every_width():
    judged, _, _ = _judge(_frame(of_gbar))
    assert {j.decision for j in judged.values()} == {"supported"}
    assert set(judged) == {f"{k}-k{w}" for w in S.widths for k in ("equal-gbar", "gbar-matters")}
    js, _, _ = _judge(_frame(of_gbar), scale="smoke")
    assert verdict(js.values()) == "agree"


def test_accuracy_following_eps_beyond_gbar_contradicts_the_equivalence():
    # accuracy moved by the rate as much as by ḡ: (2ε, 2B) is a doubling away from (ε, B)
    judged, _, _ = _judge(_frame(lambda e, b, w: of_gbar(e, b, w) + 0.05 * math.log2(e)))
    assert all(judged[f"equal-gbar-k{w}"].decision == "contradicted" for w in S.widths)
    assert all(judged[f"gbar-matters-k{w}"].decision == "supported" for w in S.widths)
    # accuracy set by the rate alone: nothing to set a margin by, the equivalence undecided
    judged, _, _ = _judge(_frame(lambda e, b, w: 0.2 + 0.05 * math.log2(e)))
    assert all(judged[f"equal-gbar-k{w}"].decision == "undecided" for w in S.widths)
    smoke, shown, _ = _judge(_frame(lambda e, b, w: 0.2 + 0.05 * math.log2(e)), scale="smoke")
    assert smoke["collapse-visible"].decision == "contradicted"
    assert shown["equal-gbar-k32"].decision == "undecided"  # shown, not judged, at smoke


def test_null_grid_leaves_nothing_supported():
    # accuracy does not depend on (ε, B) at all: no ḡ effect and no margin to test against
    flat = _frame(lambda e, b, w: 0.3, noise=0.01)
    judged, _, _ = _judge(flat)
    assert all(judged[f"gbar-matters-k{w}"].decision != "supported" for w in S.widths)
    assert verdict(judged.values()) != "agree"
    smoke, _, _ = _judge(flat, scale="smoke")
    assert smoke["collapse-visible"].decision == "contradicted"


def test_accuracy_falling_with_gbar_contradicts_the_direction():
    judged, _, _ = _judge(_frame(lambda e, b, w: 0.5 - 0.05 * math.log2(e * N / b)))
    assert all(judged[f"gbar-matters-k{w}"].decision == "contradicted" for w in S.widths)


def test_broken_gbar_convention_fails_the_pairing_check(monkeypatch):
    import sgdnoise.experiments._p19_analysis as p19an

    # a ḡ that forgets the batch (ε N): "equal" pairs are then a factor 2 apart
    monkeypatch.setattr(p19an, "gbar", lambda f, lr, batch, width, n: lr * n)
    smoke, _, _ = _judge(_frame(of_gbar), scale="smoke")
    assert smoke["gbar-pairing"].decision == "contradicted"


def test_diverged_runs_fail_the_stability_check_and_drop_their_seed():
    df = _frame(of_gbar, status=lambda r: "diverged" if (r.seed == 0 and r.lr == 1.0) else "done")
    smoke, _, values = _judge(df, scale="smoke")
    assert smoke["runs-below-eps-max"].decision == "contradicted"
    assert smoke["runs-below-eps-max"].estimate == 2 * len(S.widths)
    assert all(0 not in v["seeds"] and len(v["seeds"]) == S.seeds - 1 for v in values.values())
