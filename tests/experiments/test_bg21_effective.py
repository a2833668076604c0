"""BG21 `bg21-effective`: the effective law against an independent quadrature, the crossover
read-out, and criteria that fail on data against the paper (or a broken ingredient)."""

import json
import math

import numpy as np
import pytest
from scipy.integrate import cumulative_trapezoid

from sgdnoise.experiments import _bg21
from sgdnoise.experiments import _bg21_effective_analysis as ea


@pytest.fixture(scope="module")
def prob():
    return ea.problem(10_000)


def _direct_wide_weight(prob, T, noise=None):
    """p ∝ (1/D) exp(−∫ L'/D), D = TΣ/2, by trapezoid quadrature on a fine grid."""
    x = np.linspace(*prob.potential.domain[0], 200_001)
    D = T * (prob.noise(x) if noise is None else np.full_like(x, noise)) / 2
    phi = cumulative_trapezoid(prob.grad(x) / D, x, initial=0) + np.log(D)
    w = np.exp(-(phi - phi.min()))
    left = x < prob.potential.split_offset
    return np.trapezoid(w[left], x[left]) / np.trapezoid(w, x)


def test_effective_law_and_crossover_match_a_direct_quadrature(prob):
    t_sd = ea.crossover(prob.potential)
    assert _direct_wide_weight(prob, t_sd) == pytest.approx(0.5, abs=1e-3)
    for T in (0.5 * t_sd, 1.4 * t_sd):
        assert ea.wide_weight(prob.potential, T) == pytest.approx(
            _direct_wide_weight(prob, T), abs=1e-3
        )
    iso, s2 = ea.matched_isotropic(prob, t_sd)
    t_iso = ea.crossover(iso)
    assert _direct_wide_weight(prob, t_iso, noise=s2) == pytest.approx(0.5, abs=1e-3)
    # the state-dependent noise (larger in the sharp basin) moves T* away from the loss's
    assert abs(math.log(t_sd / t_iso)) > 0.1
    lo, hi = (float(prob.noise(m)) for m in (-0.81, 0.86))
    assert hi > 1.4 * lo


def test_measured_crossover_interpolates_in_log_T():
    Ts = [0.01, 0.02, 0.04]
    assert ea.measured_crossover(Ts, [0.3, 0.5, 0.7]) == pytest.approx(math.log(0.02))
    assert ea.measured_crossover(Ts, [0.4, 0.6, 0.7]) == pytest.approx(
        math.log(0.01) + 0.5 * math.log(2)
    )
    assert math.isnan(ea.measured_crossover(Ts, [0.6, 0.7, 0.8]))


def _data(w, w_sde, Ts, fp, t_sd, t_iso):
    return ea.units(np.asarray(w), np.asarray(w_sde), Ts, np.asarray(fp), t_sd, t_iso)


def _decisions(data, fp, gap, sign_iso, machinery=False):
    crit = ea.criteria(fp[0], fp[-1], fp[-1] - fp[0], gap, sign_iso)
    return {j.name: j.decision for j in _bg21.judge(crit, data, machinery=machinery)}


def test_criteria_pass_on_the_effective_law_and_fail_on_the_loss_law():
    """Synthetic replicates: drawn around the effective law (all supported), or around a law
    with no trade-off and the isotropic crossover (all contradicted)."""
    rng = np.random.default_rng(0)
    t_sd, t_iso = 0.05, 0.06
    Ts = [0.025, 0.035, 0.05, 0.07]
    fp = np.array([0.25, 0.4, 0.5, 0.6])
    gap = abs(math.log(t_sd / t_iso))
    good = fp[None, :] + 0.005 * rng.standard_normal((5, 4))
    d = _data(good, good, Ts, fp, t_sd, t_iso)
    assert set(_decisions(d, fp, gap, -1).values()) == {"supported"}
    assert set(_decisions(d, fp, gap, -1, machinery=True).values()) == {"supported"}
    # against the paper: the wide basin wins at every T (no trade-off, weights off the law)
    # and the crossover sits beyond the isotropic prediction
    flat = np.array([0.8, 0.75, 0.6, 0.5])[None, :] + 0.005 * rng.standard_normal((5, 4))
    no_tradeoff = np.array([0.7, 0.72, 0.74, 0.4])[None, :] + 0.005 * rng.standard_normal((5, 4))
    bad = _data(no_tradeoff, flat, Ts, fp, t_sd, t_iso)
    got = _decisions(bad, fp, gap, -1)
    assert got["sde-follows-effective-law"] == "contradicted"
    assert got["deep-wins-cold"] == "contradicted"
    assert got["wide-wins-hot"] == "contradicted"
    assert got["effective-not-loss"] == "contradicted"
    assert got["sgd-crossover-is-effective-law"] == "contradicted"


def test_the_sde_with_sgd_noise_reaches_the_effective_law(prob):
    """Langevin ensembles of the SDE with Σ_N(θ), from half the particles in each minimum,
    reach the effective law's wide weight ½ at its crossover T* (400 particles: sd 0.025)."""
    t_sd = ea.crossover(prob.potential)
    x0 = np.where(np.arange(400) % 2 == 0, -0.81, 0.86)
    steps = int(4 * ea.relaxation_time(prob.potential, t_sd) / (t_sd / 4))
    x = ea.sde_final_positions(prob.potential, t_sd, n=400, n_steps=steps, dt=t_sd / 4, x0=x0,
                               seed=1)  # fmt: skip
    w, lost = ea.wide_fraction(x, prob.potential)
    assert lost < 0.01 and abs(w - 0.5) < 0.08  # a rare particle leaves over the outer wall


@pytest.mark.slow
def test_bg21_effective_smoke(smoke_all):
    _, out = smoke_all["bg21-effective"]
    res = json.loads((out / "result.json").read_text())
    assert res["verdict"] == "agree", res["summary"]
    assert {c["name"] for c in res["criteria"]} == set(ea.SMOKE_JUDGED)
    assert (out / "bg21_effective.png").stat().st_size > 10_000
