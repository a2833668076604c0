"""bg21-stationary and bg21-selection: smoke verdict "agree" with its criteria, the §9 files,
the runner's no-overwrite rule, and — on synthetic data, fast — every criterion fails when
an ingredient is broken."""

import json

import numpy as np
import pandas as pd
import pytest

from sgdnoise.cli import main
from sgdnoise.errors import ParameterError
from sgdnoise.experiments import _bg21, bg21_selection, bg21_stationary, reproduce
from sgdnoise.theory.density import StationaryDensity
from sgdnoise.theory.potentials import two_minima_1d


@pytest.mark.slow
@pytest.mark.parametrize("claim", ["bg21-stationary", "bg21-selection"])
def test_smoke_claim_agrees_and_writes_its_report(smoke_all, claim):
    rec, out = smoke_all[claim]
    assert rec["verdict"] == "agree", rec["summary"]
    data = json.loads((out / "result.json").read_text())
    assert set(data) >= {"claim", "scale", "verdict", "summary", "criteria", "metrics",
                         "figures", "seconds", "versions"}  # fmt: skip
    assert data["criteria"] and all(c["decision"] == "supported" for c in data["criteria"])
    assert data["claim"] == claim and data["scale"] == "smoke"
    assert data["figures"] and all((out / f).is_file() for f in data["figures"])
    report = (out / "report.md").read_text()
    assert "agree" in report and all(f"]({f})" in report for f in data["figures"])
    if claim == "bg21-selection":  # the asymptotics table is headed by what it holds
        assert "Kramers time / exact MFPT − 1" in report
        assert "FP exact | Laplace | relative" not in report
    # nothing stored is ever lost: the same folder is refused, through the CLI too
    with pytest.raises(ParameterError) as e:
        reproduce(claim, scale="smoke", out=out, progress=False)
    assert e.value.parameter == "out"
    assert main(["reproduce", claim, "--out", str(out)]) == 2
    assert json.loads((out / "result.json").read_text()) == data


def test_claims_are_listed():
    from sgdnoise.experiments import all_claims

    claims = all_claims()
    for cid in ("bg21-stationary", "bg21-selection"):
        assert cid in claims and claims[cid].paper == "BG21"


# -- bg21-stationary: the KS criteria fail on the wrong law ------------------------------


def _ks_from(T_true, T_model, n, reps, seed=0):
    """Per-replicate KS distances of samples of the exact FP law at ``T_true`` against the
    FP CDF at ``T_model`` (every case gets the 1-D constant-noise values)."""
    pot = two_minima_1d()
    draw = _bg21.stationary_sampler(pot, T_true)
    dens = StationaryDensity(pot, T_model)
    rng = np.random.default_rng(seed)
    d = [bg21_stationary.ks_distance(draw(n, rng), dens.marginal_cdf) for _ in range(reps)]
    return {k: d for k in bg21_stationary.CASES}


@pytest.mark.parametrize("scale", ["smoke", "cpu"])
def test_stationary_criteria_pass_on_the_fp_law_and_fail_on_a_wrong_temperature(scale):
    cfg = bg21_stationary.SETTINGS[scale]
    smoke = scale == "smoke"
    pot = two_minima_1d()
    margins = dict.fromkeys(bg21_stationary.CASES, bg21_stationary.law_margin(pot, cfg.T))
    n, reps = cfg.n_particles, cfg.replicates
    good = bg21_stationary.analyse(_ks_from(cfg.T, cfg.T, n, reps), cfg, margins, smoke=smoke)
    assert all(j.decision == "supported" for j in good), good
    # a broken ingredient: the simulator runs at 1.5 T (e.g. noise scaled by η, not η/B)
    bad = bg21_stationary.analyse(_ks_from(1.5 * cfg.T, cfg.T, n, reps), cfg, margins,
                                  smoke=smoke)  # fmt: skip
    assert all(j.decision == "contradicted" for j in bad), bad


# -- bg21-selection: each criterion fails with a broken ingredient -----------------------


def _selection_frame(cfg, fp, gap, *, swap=False, rate_factor=1.0, seed=0):
    """Binomial occupations of the exact FP masses (``swap``: the basin split on the wrong
    side, so the narrow basin is counted) and fitted rates = ``rate_factor`` × λ₁ ± 3%."""
    rng = np.random.default_rng(seed)
    rows = []
    for T in cfg.T:
        p = 1 - fp[T] if swap else fp[T]
        for r in range(cfg.replicates):
            occ = rng.binomial(cfg.n_particles, p) / cfg.n_particles
            rate = gap[T] * rate_factor * (1 + 0.03 * rng.standard_normal())
            rows.append(dict(T=T, rep=r, occupation=occ, rate=rate, gap=gap[T]))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def selection_theory():
    pot = two_minima_1d(**bg21_selection.POTENTIAL)
    Ts = sorted({T for s in ("smoke", "cpu") for T in bg21_selection.SETTINGS[s].T})
    fp = {T: float(StationaryDensity(pot, T).basin_masses()[0]) for T in Ts}
    gap = dict.fromkeys(Ts, 1.0)  # rates enter only as rate / λ₁
    return fp, gap, bg21_selection.ladder(pot)


@pytest.mark.parametrize("scale", ["smoke", "cpu"])
def test_selection_criteria_pass_on_fp_data_and_fail_when_broken(scale, selection_theory):
    fp, gap, lad = selection_theory
    cfg = bg21_selection.SETTINGS[scale]
    fp = {T: fp[T] for T in cfg.T}
    smoke = scale == "smoke"
    good = bg21_selection.analyse(_selection_frame(cfg, fp, gap), fp, lad, smoke=smoke)
    assert all(j.decision == "supported" for j in good), good
    # the basin split on the wrong side: occupation falls with T and misses the FP mass
    bad = {
        j.name: j.decision
        for j in bg21_selection.analyse(
            _selection_frame(cfg, fp, gap, swap=True, rate_factor=1.5), fp, lad, smoke=smoke
        )
    }
    assert bad["wide-rises-with-T"] == "contradicted"
    assert bad["occupation-is-FP"] == "contradicted"
    assert bad["relaxation-rate-is-gap"] == "contradicted"
    # an asymptote that does not converge (its error does not shrink as T → 0)
    flat = [(T, 0.05, 0.05) for T, _, _ in lad]
    bad = {
        j.name: j.decision
        for j in bg21_selection.analyse(_selection_frame(cfg, fp, gap), fp, flat, smoke=smoke)
    }
    assert bad["laplace-converges"] == bad["kramers-converges"] == "contradicted"
