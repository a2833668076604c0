"""stats: Wilson coverage by simulation, power-law fit recovery and CI coverage."""

import numpy as np
import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.stats import powerlaw_fit, wilson_interval


def test_wilson_coverage_monte_carlo():
    # 4000 binomial draws per p: coverage of a 95% interval estimated to ±0.7% (1 sd);
    # Wilson's coverage is within ~2% of nominal for n=50, so we accept [0.92, 0.98].
    rng = np.random.default_rng(1)
    n = 50
    for p in (0.05, 0.3, 0.5, 0.9):
        k = rng.binomial(n, p, size=4000)
        lo, hi = wilson_interval(k, n)
        cover = np.mean((lo <= p) & (p <= hi))
        assert 0.92 <= cover <= 0.98, (p, cover)


def test_wilson_edges_and_bad_input():
    lo, hi = wilson_interval(0, 10)
    assert lo == pytest.approx(0, abs=1e-12) and 0 < hi < 0.35
    with pytest.raises(ParameterError):
        wilson_interval(11, 10)
    with pytest.raises(ParameterError) as e:
        wilson_interval(1, 10, level=1.5)
    assert e.value.parameter == "level"


def test_powerlaw_recovers_exponent_and_ci_covers():
    rng = np.random.default_rng(2)
    x = np.repeat(np.logspace(0, 3, 8), 5)
    hits = 0
    for rep in range(40):
        y = 3.0 * x**-0.7 * np.exp(rng.normal(0, 0.2, size=x.size))
        fit = powerlaw_fit(x, y, n_boot=400, seed=rep)
        assert fit.exponent == pytest.approx(-0.7, abs=0.1)
        hits += fit.contains(-0.7, tolerance=0.0)
    # 40 replicate fits of a 95% interval: expect ~38 hits; fewer than 33 has p < 0.01.
    assert hits >= 33


def test_powerlaw_contains_needs_a_tolerance():
    """A slope of exactly 1 computed as 0.9999999999999997 (issue 13) is inside [0.5, 1)
    within any tolerance above rounding; a negative tolerance is refused."""
    from sgdnoise.stats import PowerLawFit

    fit = PowerLawFit(0.75, 1.0, 0.5, 0.9999999999999997, 0.95, 6)
    assert not fit.contains(1.0, tolerance=0.0)
    assert fit.contains(1.0, tolerance=1e-9)
    with pytest.raises(ParameterError):
        fit.contains(1.0, tolerance=-1.0)


def test_powerlaw_few_groups_use_t_interval_on_group_slopes():
    """≤ 5 seed groups: a t interval on the per-group slopes (scipy's t), never a bootstrap;
    < 3 groups: no interval."""
    from scipy import stats

    rng = np.random.default_rng(0)
    x = np.tile([1.0, 2.0, 4.0, 8.0], 4)
    g = np.repeat([0, 1, 2, 3], 4)
    y = x ** (1.0 + np.repeat(rng.normal(0, 0.1, 4), 4))
    fit = powerlaw_fit(x, y, groups=g, n_boot=100)
    slopes = [stats.linregress(np.log(x[g == k]), np.log(y[g == k])).slope for k in range(4)]
    lo, hi = stats.t.interval(0.95, 3, loc=np.mean(slopes), scale=stats.sem(slopes))
    assert fit.ci_low == pytest.approx(lo, rel=1e-9) and fit.ci_high == pytest.approx(hi, rel=1e-9)
    two = powerlaw_fit(x[:8], y[:8], groups=g[:8], n_boot=100)
    assert np.isnan(two.ci_low) and np.isnan(two.ci_high)


def test_powerlaw_grouped_bootstrap_and_errors():
    x = np.tile([1.0, 2.0, 4.0, 8.0], 3)
    y = 2 * x**1.5
    fit = powerlaw_fit(x, y, groups=np.repeat([0, 1, 2], 4), n_boot=100)
    assert fit.exponent == pytest.approx(1.5, rel=1e-12)
    assert fit.ci_low == pytest.approx(1.5, rel=1e-9) and fit.ci_high == pytest.approx(
        1.5, rel=1e-9
    )
    with pytest.raises(ParameterError):
        powerlaw_fit([1, 2, 3], [1, -1, 2])
    with pytest.raises(ParameterError):
        powerlaw_fit([1, 1, 1], [1, 2, 3])
