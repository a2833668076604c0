"""The event-driven simulator has the law of the plain step-by-step reference.

Two-sample Kolmogorov–Smirnov tests over N = 1000 independent runs per method (disjoint
seeds, so data sets and SGD noise are both resampled) on the number of SGD steps, the number
of updates, Δw_1, ‖Δw_⊥‖ and the exact test error.  Level 1e-3 per statistic (the seeds are
fixed, so the test is deterministic; with 15 comparisons a correct simulator would fail a
fresh draw with probability < 2%).

Power: with n = m = 1000 the KS critical distance at level 1e-3 is
sqrt(-ln(5e-4)/2)·sqrt(2/1000) ≈ 0.087, so any bug that moves a CDF by more than ~0.12
anywhere (a wrong skip law, using one unfitted point per batch instead of all of them,
batches with replacement at these small P, a wrong η/B) is caught with probability close to
one.  ``test_the_test_has_power`` shows it: a 25% error in the learning rate (which
moves ‖Δw_⊥‖ ∝ T) is rejected at the same level (p ≈ 4e-7 with these seeds, while the
15 equivalence p-values range over 0.07–0.99).
"""

import numpy as np
import pytest
from scipy import stats

from sgdnoise.simulate.perceptron import simulate

N = 1000
LEVEL = 1e-3
STATS = ("steps", "n_updates", "dw1", "dw_perp", "test_error_exact")
CASES = [
    # (P, d, chi, T, alpha, B): noise regime, several unfitted per batch, GD regime
    (24, 3, 0.0, 10.0, 1.0, 3),
    (40, 4, 1.0, 3.0, 2.0, 10),
    (16, 4, 3.0, 0.1, 1.0, 8),
]


def _runs(case, method, seed0, T_scale=1.0):
    P, d, chi, T, alpha, B = case
    out = {k: [] for k in STATS}
    for s in range(seed0, seed0 + N):
        r = simulate(
            P, d, chi, T * T_scale, alpha=alpha, batch_size=B, seed=s, method=method, n_test=0
        )
        assert r.converged
        for k in STATS:
            out[k].append(getattr(r, k))
    return {k: np.asarray(v, float) for k, v in out.items()}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[f"P{c[0]}-chi{c[2]}-T{c[3]}-B{c[5]}" for c in CASES])
def test_same_law_as_reference(case):
    ev = _runs(case, "event", 0)
    rf = _runs(case, "reference", 10_000)
    for k in STATS:
        p = stats.ks_2samp(ev[k], rf[k]).pvalue
        assert p > LEVEL, (k, p, np.median(ev[k]), np.median(rf[k]))


@pytest.mark.slow
def test_the_test_has_power():
    case = CASES[0]
    ev = _runs(case, "event", 0, T_scale=1.25)
    rf = _runs(case, "reference", 10_000)
    assert stats.ks_2samp(ev["dw_perp"], rf["dw_perp"]).pvalue < LEVEL
