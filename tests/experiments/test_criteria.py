"""Calibration of the criteria layer (DESIGN.md §10, issue 13): for every criterion kind,
data simulated under its null and under a stated alternative, with the seed counts the
scales use (3, 5, 10), give a false-alarm rate ≤ the level plus Monte-Carlo error and the
power the layer reports; plus the verdict rule, Bonferroni across criteria, the
"undecided by design" rule and the refusal to form intervals from < 3 seeds.

Monte-Carlo error: with R replicates a rate p has standard error sqrt(p(1−p)/R); bounds
below are the nominal value plus 3 such errors (a false failure has probability ≈ 0.1%).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import TTestPower

from sgdnoise.errors import ParameterError
from sgdnoise.experiments.criteria import (
    ALPHA,
    Criterion,
    Unpaired,
    criteria_table,
    evaluate,
    judge,
    per_seed_slopes,
    verdict,
)

R = 1500  # replicates per calibration case
SEEDS = (3, 5, 10)


def _rate(decisions, what):
    return float(np.mean([d == what for d in decisions]))


def _mc(p, reps=R):
    return 3 * math.sqrt(p * (1 - p) / reps)


def _run(criterion, draw, reps=R, alpha=ALPHA):
    js = [judge(criterion, draw(), alpha=alpha) for _ in range(reps)]
    return [j.decision for j in js], js


DIRECTION = Criterion("d", "larger T lowers the loss", "direction", effect=1.0, sign=-1)


@pytest.mark.parametrize("n", SEEDS)
def test_direction_false_alarm_at_the_null(n):
    """True effect 0: "supported" (the paper's sign) and "contradicted" (the opposite)
    each at most α one-sided."""
    rng = np.random.default_rng(n)
    dec, _ = _run(DIRECTION, lambda: rng.normal(0, 1, n))
    assert _rate(dec, "supported") <= ALPHA + _mc(ALPHA)
    assert _rate(dec, "contradicted") <= ALPHA + _mc(ALPHA)


@pytest.mark.parametrize("n", SEEDS)
def test_direction_power_is_what_the_layer_reports(n):
    """True effect −1.5 sd (the paper's sign): the reported power is a median-unbiased
    estimate of the exact power at the true spread (statsmodels' TTestPower, an independent
    computation): it falls below the exact power in half of the replicates.  The rate of
    "supported" reaches the exact power less what the power gate (power < 0.5 →
    undecided) removes."""
    rng = np.random.default_rng(10 + n)
    crit = DIRECTION.with_(effect=1.5)
    dec, js = _run(crit, lambda: rng.normal(-1.5, 1, n))
    exact = TTestPower().power(effect_size=1.5, nobs=n, alpha=ALPHA, alternative="larger")
    below = np.mean([j.power < exact for j in js])
    assert below == pytest.approx(0.5, abs=_mc(0.5))
    gated = np.mean([j.power < 0.5 for j in js])
    assert exact - gated - _mc(exact) <= _rate(dec, "supported") <= exact + _mc(exact)
    assert _rate(dec, "contradicted") < 1e-3


def test_direction_power_matches_statsmodels_for_unpaired_arms():
    """Welch's two arms of equal size and known spread: the reported power equals
    statsmodels' TTestIndPower for the same standardized effect within the Welch-vs-pooled
    degrees-of-freedom difference."""
    from statsmodels.stats.power import TTestIndPower

    a = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    b = a + 2.0
    j = judge(Criterion("u", "a below b", "direction", effect=2.0, sign=-1), Unpaired(a, b))
    # the layer's spread is the median-unbiased one, sd·sqrt(df/χ²₀.₅(df)), df = 8 here
    sd = a.std(ddof=1) * math.sqrt(8 / stats.chi2.ppf(0.5, 8))
    ref = TTestIndPower().power(effect_size=2.0 / sd, nobs1=5, alpha=ALPHA, alternative="larger")
    assert j.power == pytest.approx(ref, abs=0.01)
    assert j.estimate == pytest.approx(-2.0)


EQUIV = Criterion(
    "e", "equal-T pairs give the same loss", "equivalence", margin=1.0, margin_reason="test"
)


@pytest.mark.parametrize("n", SEEDS)
def test_equivalence_false_alarm_at_the_margin(n):
    """True difference at the margin (the null of TOST): "supported" at most α."""
    rng = np.random.default_rng(20 + n)
    dec, _ = _run(EQUIV, lambda: rng.normal(1.0, 0.5, n))
    assert _rate(dec, "supported") <= ALPHA + _mc(ALPHA)


@pytest.mark.parametrize("n", SEEDS)
def test_equivalence_power_and_no_false_contradiction_at_zero(n):
    """True difference 0: "supported" at about the reported power (central-t
    approximation of TOST's power, checked here by simulation), and "contradicted" (the
    difference exceeds the margin beyond the spread) at most α."""
    rng = np.random.default_rng(30 + n)
    dec, js = _run(EQUIV, lambda: rng.normal(0.0, 0.5, n))
    rep = np.median([j.power for j in js])
    gated = np.mean([j.power < 0.5 for j in js])
    sup = _rate(dec, "supported")
    assert rep - gated - 0.1 <= sup <= rep + 0.1
    assert _rate(dec, "contradicted") <= ALPHA + _mc(ALPHA)
    if n == 10:
        assert sup > 0.9


def test_equivalence_is_never_not_significantly_different():
    """Two wildly spread seeds around 0 are not "equal": an interval wider than the margin
    is undecided, not supported (the old "not significantly different" error)."""
    j = judge(EQUIV, np.array([-3.0, 3.1, 0.2, -2.9, 2.5]))
    assert j.decision == "undecided"
    far = judge(EQUIV, np.array([3.0, 3.1, 2.9]))
    assert far.decision == "contradicted"


EXPONENT = Criterion(
    "x", "slope 1", "exponent", prediction=1.0, tolerance=0.1, effect=1.0, effect_reason="test"
)


@pytest.mark.parametrize("n", SEEDS)
def test_exponent_false_alarm_when_the_prediction_holds(n):
    """Per-seed slopes around the predicted exponent: "contradicted" at most α."""
    rng = np.random.default_rng(40 + n)
    dec, _ = _run(EXPONENT, lambda: rng.normal(1.0, 0.3, n))
    assert _rate(dec, "contradicted") <= ALPHA + _mc(ALPHA)


@pytest.mark.parametrize("n", SEEDS)
def test_exponent_power_at_the_alternative(n):
    """Slopes around 0 (the alternative "independent of width", effect 1): the reported
    power is median-unbiased for the rate of "contradicted" without the power gate (checked
    by simulation), and "supported" stays at most α."""
    rng = np.random.default_rng(50 + n)
    draws = [rng.normal(0.0, 0.3, n) for _ in range(R)]
    js = [judge(EXPONENT, d) for d in draws]
    dec = [j.decision for j in js]
    ungated = np.mean([judge(EXPONENT.with_(effect=1e9, tolerance=0.1), d).decision
                       == "contradicted" for d in draws])  # fmt: skip
    assert np.median([j.power for j in js]) == pytest.approx(ungated, abs=0.05)
    assert _rate(dec, "supported") <= ALPHA + _mc(ALPHA)


def test_exponent_has_no_exact_float_containment():
    """Per-seed slopes exactly 1 computed as 0.9999999999999997 are supported at any stated
    tolerance; a tolerance of 0 (exact containment) is refused at declaration."""
    j = judge(EXPONENT.with_(tolerance=1e-9), np.full(4, 0.9999999999999997))
    assert j.decision == "supported"
    with pytest.raises(ParameterError, match="tolerance"):
        EXPONENT.with_(tolerance=0.0)


EXIST = Criterion("s", "BN does not consistently lower λmax", "existence", effect=1.0, sign=1)


@pytest.mark.parametrize("n", SEEDS)
def test_existence_false_alarm_with_every_cell_null(n):
    """Four cells, none shows the effect: "supported" at most α (Bonferroni over cells)."""
    rng = np.random.default_rng(60 + n)
    dec, _ = _run(EXIST, lambda: {k: rng.normal(0, 1, n) for k in range(4)})
    assert _rate(dec, "supported") <= ALPHA + _mc(ALPHA)


@pytest.mark.parametrize("n", (5, 10))
def test_existence_power_and_contradiction(n):
    """One cell of four shows the effect (+2 sd): "supported" at about the reported power.
    Every cell shows the opposite (−2 sd): "contradicted" most of the time, and never when
    one cell is null (an intersection-union test)."""
    rng = np.random.default_rng(70 + n)

    def one():
        d = {k: rng.normal(0, 1, n) for k in range(3)}
        d[3] = rng.normal(2.0, 1, n)
        return d

    dec, js = _run(EXIST.with_(effect=2.0), one, reps=800)
    rep = np.median([j.power for j in js])
    assert _rate(dec, "supported") == pytest.approx(rep, abs=0.15)
    opp = EXIST.with_(effect=2.0)  # powered: the gate would otherwise hold it undecided
    dec, _ = _run(opp, lambda: {k: rng.normal(-2.0, 1, n) for k in range(4)}, reps=400)
    assert _rate(dec, "contradicted") > 0.5

    def mixed():
        d = {k: rng.normal(-2.0, 1, n) for k in range(3)}
        d[3] = rng.normal(0.0, 1, n)
        return d

    dec, _ = _run(EXIST, mixed, reps=800)
    assert _rate(dec, "contradicted") <= ALPHA + _mc(ALPHA, 800)


def test_machinery_passes_inside_and_fails_outside_its_range():
    c = Criterion("m", "Lanczos = power iteration", "machinery", low=0, high=1e-3)
    assert judge(c, 5e-4).decision == "supported"
    assert judge(c, 2e-3).decision == "contradicted"
    assert judge(c, float("nan")).decision == "contradicted"
    assert judge(c, 5e-4).power is None


def test_fewer_than_three_seeds_is_undecided_and_forms_no_interval():
    for c, d in [
        (DIRECTION, np.array([-5.0, -5.1])),
        (EQUIV, np.array([0.0, 0.01])),
        (EXPONENT, np.array([1.0, 1.0])),
        (EXIST, {0: np.array([9.0, 9.1])}),
    ]:
        j = judge(c, d)
        assert j.decision == "undecided" and math.isnan(j.ci_low), (c.kind, j)
        assert "at least 3" in j.note


def test_underpowered_criterion_is_undecided_by_design():
    """A clearly significant direction whose power at the stated effect is < 0.5 (a tiny
    stated effect against a large spread) is not allowed to decide."""
    x = np.array([-10.0, -14.0, -6.0])
    j = judge(DIRECTION.with_(effect=0.1), x)
    assert j.decision == "undecided" and j.power < 0.5
    assert "undecided by design" in j.note and "supported" in j.note
    assert judge(DIRECTION.with_(effect=20.0), x).decision == "supported"


@pytest.mark.parametrize("n", (3, 10))
def test_bonferroni_keeps_the_family_false_alarm(n):
    """Four true direction statements (every effect 0 in truth... the null of each): the
    chance that any one is called contradicted — a false "disagree" — stays ≤ α."""
    rng = np.random.default_rng(80 + n)
    crits = [DIRECTION.with_(name=f"d{i}", effect=0.5) for i in range(4)]
    bad = 0
    for _ in range(R):
        js = evaluate(crits, {c.name: rng.normal(0, 1, n) for c in crits})
        bad += any(j.decision == "contradicted" for j in js)
        assert all(j.level == pytest.approx(ALPHA / 4) for j in js)
    assert bad / R <= ALPHA + _mc(ALPHA)


def test_verdict_rule():
    mk = lambda d: judge(  # noqa: E731
        Criterion("m", "x", "machinery", low=0, high=1), {"s": 0.5, "c": 2.0}[d]
    )
    s, c = mk("s"), mk("c")
    u = judge(DIRECTION, np.array([1.0, -1.0]))
    assert verdict([s, s]) == "agree"
    assert verdict([s, u]) == "inconclusive"
    assert verdict([s, u, c]) == "disagree"
    assert verdict([]) == "inconclusive"


def test_evaluate_marks_missing_measurements_undecided_and_rejects_duplicates():
    js = evaluate([DIRECTION, EQUIV], {"d": "every run diverged"})
    assert [j.decision for j in js] == ["undecided", "undecided"]
    assert "every run diverged" in js[0].note
    with pytest.raises(ParameterError):
        evaluate([DIRECTION, DIRECTION], {})
    table = criteria_table(js)
    assert table.count("\n") == 3 and "undecided" in table


def test_declarations_are_validated():
    with pytest.raises(ParameterError, match="kind"):
        Criterion("a", "b", "vibes")
    with pytest.raises(ParameterError, match="effect"):
        Criterion("a", "b", "direction")
    with pytest.raises(ParameterError, match="margin"):
        Criterion("a", "b", "equivalence")
    with pytest.raises(ParameterError, match="tolerance"):
        Criterion("a", "b", "exponent", prediction=1, tolerance=0.5, effect=0.2)
    with pytest.raises(ParameterError):
        judge(DIRECTION, np.array([1.0, np.nan, 2.0]))


def test_per_seed_slopes_match_linregress():
    x = np.tile([1.0, 2.0, 4.0], 3)
    seeds = np.repeat([0, 1, 2], 3)
    y = np.exp(np.log(x) * np.repeat([0.9, 1.0, 1.1], 3))
    s = per_seed_slopes(x, y, seeds)
    assert s == pytest.approx([0.9, 1.0, 1.1], rel=1e-12)
    ref = stats.linregress(np.log(x[:3]), np.log(y[:3])).slope
    assert s[0] == pytest.approx(ref)


def test_judgement_as_dict_has_the_result_json_keys():
    d = judge(DIRECTION, np.array([-1.0, -2.0, -1.5])).as_dict()
    for k in ("name", "paper_says", "kind", "estimate", "ci_low", "ci_high", "decision", "power"):
        assert k in d
    assert d["decision"] in ("supported", "contradicted", "undecided")


def test_a_power_that_cannot_be_computed_holds_the_criterion_undecided(monkeypatch):
    """scipy's noncentral t can return NaN far in a tail; a NaN power must not slip past
    the gate (NaN < 0.5 is False)."""
    from sgdnoise.experiments import criteria

    monkeypatch.setattr(criteria, "_one_sided_power", lambda *a: float("nan"))
    j = judge(DIRECTION, np.array([-5.0, -5.2, -4.9]))
    assert j.power == 0.0 and j.decision == "undecided"
