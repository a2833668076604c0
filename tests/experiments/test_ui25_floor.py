"""UI25 `ui25-floor`: the floor machinery against exact theory, and every criterion can fail
(data against the paper, or a broken ingredient, makes it contradicted)."""

import json

import numpy as np
import pandas as pd
import pytest

from sgdnoise.experiments import _ui25_floor_analysis as fa
from sgdnoise.experiments import _ui25_sim as sim
from sgdnoise.experiments.criteria import evaluate
from sgdnoise.theory import schedules as S
from sgdnoise.theory.ui25_problems import noisy_quadratic

REF = (0.1, 2)
CELLS = [(0.025, 1), (0.05, 1), (0.1, 1), (0.2, 1), (0.1, 2), (0.1, 4)]


def _frame(exponent=1.0, bound_factor=1.2, below=0.25, seeds=(0, 1, 2, 3, 4)):
    """Synthetic runs: floor = c·(η/b)^exponent (seed jitter 1%), the UI25 floor
    ``bound_factor`` times the true floor at exponent 1, (ii)–(iv) ending at ``below``× the
    reference floor."""
    rng = np.random.default_rng(0)
    rows = []
    for p in sim.PROBLEMS:
        for s in seeds:
            for e, b in CELLS:
                f = 0.5 * (e / b) ** exponent * np.exp(0.01 * rng.standard_normal())
                rows.append(dict(problem=p, scheduler="(i) constant", eta_L=e, b=b, seed=s,
                                 floor=f, q3=f, q4=f * 1.01, end=f,
                                 bound=bound_factor * 0.5 * e / b))  # fmt: skip
            ref = 0.5 * (REF[0] / REF[1]) ** exponent
            for x in fa.BELOW:
                end = below * ref * np.exp(0.05 * rng.standard_normal())
                rows.append(dict(problem=p, scheduler=x, eta_L=REF[0], b=REF[1], seed=s,
                                 floor=end, q3=end, q4=end, end=end, bound=np.nan))  # fmt: skip
    return pd.DataFrame(rows)


def _decisions(frame, smoke=False):
    js = fa.judge(fa.floor_criteria(), fa.floor_units(frame, REF), smoke=smoke)
    return {j.name: j.decision for j in js}


def test_floor_criteria_support_the_paper_and_fail_against_it():
    assert set(_decisions(_frame()).values()) == {"supported"}
    assert set(_decisions(_frame(), smoke=True).values()) == {"supported"}
    # null data: no floor law (E‖∇f‖² independent of η/b), a bound under the floor, and
    # (ii)–(iv) ending 4× above (i)'s floor
    bad = _decisions(_frame(exponent=1e-9, bound_factor=0.5, below=4.0))
    assert {k: v for k, v in bad.items() if k != "floor-reached"} == dict.fromkeys(
        [k for k in bad if k != "floor-reached"], "contradicted"
    )
    smoke_bad = _decisions(_frame(exponent=0.5, bound_factor=0.5, below=4.0), smoke=True)
    assert set(v for k, v in smoke_bad.items() if k != "floor-reached") == {"contradicted"}


def test_floor_reached_fails_on_a_transient():
    f = _frame()
    f.loc[f["scheduler"] == "(i) constant", "q3"] *= 1.5  # still decaying
    assert _decisions(f)["floor-reached"] == "contradicted"


def test_stationary_floor_is_the_diagonal_closed_form():
    """Lyapunov solution against (η/b) Σ_i h_i Σ_ii / (2 − η h_i) (diagonal H), computed
    independently from the per-sample gradients."""
    q = noisy_quadratic(n_samples=64)
    g = q.sample_grads(q.theta_star)
    sii = np.mean((g - g.mean(axis=0)) ** 2, axis=0)
    h = np.asarray(q.values, dtype=float)[: q.dim]
    for eta, b in ((0.05, 1), (0.3, 4)):
        want = eta / b * np.sum(h * sii / (2 - eta * h))
        assert fa.stationary_floor(q, eta, b) == pytest.approx(want, rel=1e-8)
        assert want < fa.bound_floor(q, eta * q.L, b)


def test_simulated_floor_is_stationary_sgd_and_a_broken_noise_fails():
    """A short real run at the floor matches the exact stationary value (5%); with the
    minibatch noise removed (every centre at the mean) the floor law breaks: the exponent
    criterion is contradicted."""
    q = noisy_quadratic(n_samples=64)
    ex = S.scheduler_i("constant", 0.2, 1).expand_steps(3000)
    tr = fa.run(q, ex, chains=64, seed=1, record_every=4)
    assert fa.late_mean(tr.grad_sq, 0.5) == pytest.approx(fa.stationary_floor(q, 0.2, 1), rel=0.05)
    flat = noisy_quadratic(n_samples=64, noise=0.0)
    rows = []
    for s in (0, 1, 2):
        for e, b in CELLS[:3]:
            ex = S.scheduler_i("constant", e / flat.L, b).expand_steps(400)
            g = fa.run(flat, ex, chains=4, seed=s, record_every=4).grad_sq
            rows.append(dict(eta_L=e, b=b, seed=s, floor=max(fa.late_mean(g, 0.5), 1e-300)))
    f = pd.DataFrame(rows)
    from sgdnoise.experiments.criteria import per_seed_slopes

    slopes = per_seed_slopes(f["eta_L"] / f["b"], f["floor"], f["seed"])
    crit = [c for c in fa.floor_criteria() if c.name == "floor-exponent quadratic"]
    (j,) = evaluate(crit, {crit[0].name: slopes})
    assert j.decision == "contradicted"


@pytest.mark.slow
def test_ui25_floor_smoke(smoke_all):
    _, out = smoke_all["ui25-floor"]
    res = json.loads((out / "result.json").read_text())
    assert res["verdict"] == "agree", res["summary"]
    assert {c["name"] for c in res["criteria"]} == {c.name for c in fa.floor_criteria()}
    assert (out / "ui25_floor.png").stat().st_size > 10_000
