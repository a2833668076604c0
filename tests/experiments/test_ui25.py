"""UI25 `ui25-bounds` and `ui25-synthetic`: every criterion can fail (a broken ingredient or
data against the paper makes it contradicted), and the smoke claims agree (CI)."""

import json
import math

import numpy as np
import pytest

from sgdnoise.experiments import _ui25_sim as sim
from sgdnoise.experiments import ui25, ui25_synthetic
from sgdnoise.experiments.criteria import evaluate

TINY = sim.SimSettings(n_data=32, epochs=3, stage=1, chains=64, seeds=(0, 1, 2), eta0_L=(0.2,))


def _judge(criteria, data):
    return {j.name: j.decision for j in evaluate([c for c in criteria if c.name in data], data)}


@pytest.fixture(scope="module")
def tiny_runs():
    return sim.simulate(TINY)


def test_tiny_runs_sit_under_the_bound_and_are_seed_paired(tiny_runs):
    assert len(tiny_runs) == 2 * len(sim.SCHEDULERS) * 3
    d = ui25.under_bound_units(tiny_runs)
    assert all(np.min(v) > 0 for v in d.values())
    assert _judge(ui25.criteria(), d) == dict.fromkeys(d, "supported")


def test_under_bound_fails_with_a_wrong_sigma2(monkeypatch):
    """Broken ingredient: the bound computed with σ² = 0 and a 100× smaller f(θ0) − f*."""
    from sgdnoise.theory import ui25 as theory

    real = theory.prefix_bound
    monkeypatch.setattr(theory, "prefix_bound", lambda ex, gap, L, s2: real(ex, gap / 100, L, 0.0))
    d = ui25.under_bound_units(sim.simulate(TINY))
    assert set(_judge(ui25.criteria(), d).values()) == {"contradicted"}


def test_closed_forms_fail_when_a_sum_is_wrong(monkeypatch):
    from sgdnoise.theory import schedules as S
    from sgdnoise.theory import ui25 as theory

    sch = S.scheduler_ii("cosine", 0.1, 4, 2, 5)
    assert ui25.closed_form_error(sch) < 1e-12
    real = theory.ScheduleSums.numeric
    monkeypatch.setattr(
        theory.ScheduleSums,
        "numeric",
        lambda self, m: (lambda B, V, e: (B, V * 1.001, e))(*real(self, m)),
    )
    err = ui25.closed_form_error(sch)
    assert _judge(ui25.criteria(), {"closed_forms": [err]}) == {"closed_forms": "contradicted"}


def test_rates_fail_when_the_bound_has_another_rate(monkeypatch):
    """Broken ingredient: a bound whose denominator is B_T^0.8 (rate T^-0.8, γ^-0.8M)."""
    from sgdnoise.theory import ui25 as theory

    real = theory.bound
    monkeypatch.setattr(theory, "bound", lambda g, L, s2, B, V, e: real(g, L, s2, B, V, e) * B**0.2)
    data, _ = ui25.theory_units(ui25.BOUNDS["smoke"])
    got = _judge(ui25.criteria(), data)
    for name in ("rate_ii", "rate_ii_diminishing", "rate_iii", "rate_iv"):
        assert got[name] == "contradicted", name


def test_rate_i_fails_without_its_floor(monkeypatch):
    """A floor coefficient 10% low leaves a plateau in bound − floor: the four decay shapes
    then disagree among themselves (spread → undecided, never supported); exponents of
    T^-0.8 in every shape are contradicted."""
    from sgdnoise.theory import ui25 as theory

    real = theory.rate
    monkeypatch.setattr(
        theory,
        "rate",
        lambda s: (lambda r: theory.Rate(r.scale, 0.9 * r.floor_coefficient, r.text))(real(s)),
    )
    data, _ = ui25.theory_units(ui25.BOUNDS["smoke"])
    assert _judge(ui25.criteria(), {"rate_i": data["rate_i"]}) == {"rate_i": "undecided"}
    got = _judge(ui25.criteria(), {"rate_i": [-0.80, -0.79, -0.81, -0.80]})
    assert got == {"rate_i": "contradicted"}


def test_floor_and_acceleration_fail_on_data_against_them(monkeypatch):
    # one wrong floor coefficient (cosine c = 0.7 instead of 3/4): no longer supported;
    # every coefficient 10% off (a floor formula missing a factor): contradicted
    true = dict(ui25.FLOOR_C)
    monkeypatch.setitem(ui25.FLOOR_C, "cosine", 0.7)
    data, _ = ui25.theory_units(ui25.BOUNDS["smoke"])
    assert _judge(ui25.criteria(), {"floor_i": data["floor_i"]}) == {"floor_i": "undecided"}
    for k, c in true.items():
        monkeypatch.setitem(ui25.FLOOR_C, k, 0.9 * c)
    data, _ = ui25.theory_units(ui25.BOUNDS["smoke"])
    assert _judge(ui25.criteria(), {"floor_i": data["floor_i"]}) == {"floor_i": "contradicted"}
    # (iii)/(iv) bounds above (ii)'s at every η0
    got = _judge(ui25.criteria(), {"bound_accelerates": [0.3, 0.35, 0.4]})
    assert got == {"bound_accelerates": "contradicted"}


def test_synthetic_machinery_fails_with_a_wrong_learning_rate(monkeypatch, tiny_runs):
    """Broken ingredient: a simulator that steps with 1.5 η: the divergence step moves, the
    capped run crosses 2/L, and SGD no longer equals exact gradient descent."""
    from sgdnoise.simulate import schedulers as simulator
    from sgdnoise.theory.schedules import Expanded

    ok = ui25_synthetic.machinery_units(tiny_runs, TINY, 0)
    ok.pop("_divergence")
    assert set(_judge(ui25_synthetic.machinery_criteria(), ok).values()) == {"supported"}
    real = simulator.run_sgd

    def fast(problem, ex, **kw):
        return real(problem, Expanded(ex.lr * 1.5, ex.batch_size, ex.epoch, ex.stage), **kw)

    monkeypatch.setattr(simulator, "run_sgd", fast)
    bad = ui25_synthetic.machinery_units(tiny_runs, TINY, 0)
    bad.pop("_divergence")
    got = _judge(ui25_synthetic.machinery_criteria(), bad)
    assert got["capped_converges"] == got["noise_free_exact"] == "contradicted"
    assert got["divergence_step"] == "contradicted"


def test_samples_processed_fails_when_a_run_is_short(tiny_runs):
    r = tiny_runs[0]
    short = sim.Run(r.problem, r.regime, r.scheduler, r.seed, r.steps, r.samples - 1, r.grad_sq,
                    r.grad_sq_se, r.bound, r.diverged)  # fmt: skip
    d = {"samples_processed": [max(abs(int(x.samples[-1]) - 96) for x in [short, *tiny_runs])]}
    assert _judge(ui25_synthetic.machinery_criteria(), d) == {"samples_processed": "contradicted"}


def _fake_runs(levels: dict, seeds=(0, 1, 2, 3, 4)):
    """Runs whose chain-mean ‖∇f‖² decays to ``levels[scheduler]`` (with seed jitter)."""
    rng = np.random.default_rng(1)
    out = []
    for p in sim.PROBLEMS:
        for n in sim.SCHEDULERS:
            steps = np.arange(301 if n.startswith("(i)") else 101)
            for s in seeds:
                lvl = levels[n] * math.exp(0.05 * rng.standard_normal())
                g = lvl + np.exp(-steps / 10.0)
                out.append(sim.Run(p, 0.2, n, s, steps, 4 * steps, g, 0 * g, g + 1, False))
    return out


def test_synthetic_headline_can_fail_and_can_pass():
    crit = ui25_synthetic.headline_criteria()
    good = {
        "(i) constant": 1e-1,
        "(i) cosine": 1e-2,
        "(ii) cosine": 1e-2,
        "(iii)": 1e-3,
        "(iv) cosine": 1e-3,
    }
    data, _ = ui25_synthetic.headline_units(_fake_runs(good))
    assert set(_judge(crit, data).values()) == {"supported"}
    # against UI25: (i) constant lowest, (iii)/(iv) highest
    bad = {
        "(i) constant": 1e-4,
        "(i) cosine": 1e-3,
        "(ii) cosine": 1e-3,
        "(iii)": 1e-1,
        "(iv) cosine": 1e-1,
    }
    data, _ = ui25_synthetic.headline_units(_fake_runs(bad))
    assert set(_judge(crit, data).values()) == {"contradicted"}


def test_per_step_budget_is_the_fewest_steps():
    """Per step compares every run within the growing-batch schedulers' step count, where
    (i) (3× the steps) has not yet reached its end value."""
    levels = dict.fromkeys(sim.SCHEDULERS, 1e-3)
    _, table = ui25_synthetic.headline_units(_fake_runs(levels))
    t = table["quadratic η0=0.2/L"]
    assert t["budget"] == 100
    assert np.all(t["step"]["(i) constant"] > t["end"]["(i) constant"])
    assert np.all(t["step"]["(iii)"] == t["end"]["(iii)"])


@pytest.mark.slow
def test_ui25_bounds_smoke(smoke_all):
    _, out = smoke_all["ui25-bounds"]
    res = json.loads((out / "result.json").read_text())
    assert res["verdict"] == "agree", res["summary"]
    assert {c["name"] for c in res["criteria"]} == {c.name for c in ui25.criteria()}
    assert res["metrics"]["max_rel_error_sums"] < 1e-10
    assert (out / "ui25_bounds.png").stat().st_size > 10_000


@pytest.mark.slow
def test_ui25_synthetic_smoke(smoke_all):
    _, out = smoke_all["ui25-synthetic"]
    res = json.loads((out / "result.json").read_text())
    assert res["verdict"] == "agree", res["summary"]
    assert {c["kind"] for c in res["criteria"]} == {"machinery"}
    m = res["metrics"]
    assert m["divergence_step"] == m["divergence_step_predicted"] > m["lr_crosses_2_over_L_step"]
    report = (out / "report.md").read_text()
    assert "per sample" in report and "per step" in report
    assert (out / "ui25_grad_norm.png").stat().st_size > 10_000
