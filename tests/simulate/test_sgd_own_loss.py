"""SGD on finite-sample losses of your own (a quartic double well, a triple well): chains at
two (η, B) with equal T = η/B, started on the exact Fokker–Planck law of (L_N, Σ_N) and run
for t = 20 (≫ the in-basin relaxation time 1/h ≤ 1), keep the same stationary statistics.

Statistics: the fraction of chains in each basin (split at the maxima of L_N) and the pooled
within-basin variance V.  Tolerances, stated:
* sampling: 4 standard errors (binomial for fractions; sd of the squared deviations/√n for
  V), for a difference of two independent runs √2 times that;
* discretization: SGD's stationary variance in a basin of curvature h is
  TΣ/(h(2 − ηh)) against the SDE's TΣ/(2h) (the OU recursion), a relative excess
  1/(1 − ηh/2) − 1 at the largest curvature h_max among the minima; fractions move only by
  escapes (Kramers times ≫ 20 here) so they get a fixed 0.01 allowance.
A simulator that used η/B wrong (e.g. the temperature η instead of η/B) changes V by the
factor B between the two runs and fails."""

import numpy as np
import pytest
import sympy as sp

from sgdnoise.simulate.sgd import sgd
from sgdnoise.simulate.stationary import stationary_sampler
from sgdnoise.theory.basins import minima
from sgdnoise.theory.density import StationaryDensity
from sgdnoise.theory.sample_loss import critical_points, sample_loss

th, u, v, a = sp.symbols("theta u v a", real=True)
N_CHAINS, T_RUN = 4000, 20.0


def _sampler(rng):
    return np.column_stack([0.05 * rng.standard_normal(2000), 2.0 * rng.standard_normal(2000)])


LOSSES = {
    "quartic": (((th - u) ** 2 - 1) ** 2 / 4 + (a + v) * th, {a: 0.05}, (-2.5, 2.5), 0.04),
    "triple": ((th - u) ** 2 * ((th - u) ** 2 - 2) ** 2 / 8 + v * th, {}, (-3.0, 3.0), 0.02),
}


def _stats(x, splits):
    k = np.searchsorted(splits, x)
    frac = np.bincount(k, minlength=len(splits) + 1) / x.size
    means = np.array([x[k == j].mean() if np.any(k == j) else 0.0 for j in range(frac.size)])
    dev2 = (x - means[k]) ** 2
    return frac, dev2.mean(), dev2.std() / np.sqrt(x.size)


def _fp_stats(dens, splits, domain):
    grid = np.linspace(*domain, 40001)
    mid = 0.5 * (grid[1:] + grid[:-1])
    w = np.diff(dens.marginal_cdf(grid))
    k = np.searchsorted(splits, mid)
    frac = np.bincount(k, weights=w, minlength=len(splits) + 1)
    means = np.bincount(k, weights=w * mid, minlength=frac.size) / frac
    return frac, float(np.sum(w * (mid - means[k]) ** 2))


@pytest.mark.parametrize("name", list(LOSSES))
def test_equal_eta_over_b_gives_equal_stationary_statistics(name):
    expr, params, domain, T = LOSSES[name]
    loss = sample_loss(expr, th, (u, v), sampler=_sampler, params=params, domain=domain)
    pot = loss.potential
    crit = critical_points(loss.loss_coeffs, *domain)
    curv = np.polynomial.polynomial.polyval(
        crit, np.polynomial.polynomial.polyder(loss.loss_coeffs, 2)
    )
    splits = crit[curv < 0]
    assert splits.size == (1 if name == "quartic" else 2)
    h_max = max(m.hessian[0, 0] for m in minima(pot))
    fp_frac, fp_var = _fp_stats(StationaryDensity(pot, T), splits, domain)
    draw = stationary_sampler(pot, T)
    runs = {}
    for B in (1, 2):
        lr = T * B
        x0 = draw(N_CHAINS, np.random.default_rng(10 + B))
        r = sgd(
            loss, lr=lr, batch_size=B, n_chains=N_CHAINS, n_steps=int(T_RUN / lr), x0=x0, seed=B
        )
        assert r.n_diverged == 0 and r.T == pytest.approx(T)
        runs[B] = (lr, *_stats(r.positions[:, 0], splits))
    bias = {B: 1 / (1 - lr * h_max / 2) - 1 for B, (lr, *_) in runs.items()}
    se_f = np.sqrt(fp_frac * (1 - fp_frac) / N_CHAINS)
    (_, f1, v1, s1), (_, f2, v2, s2) = runs[1], runs[2]
    # the two equal-T runs agree with each other ...
    assert np.all(np.abs(f1 - f2) <= 4 * np.sqrt(2) * se_f + 0.01), (f1, f2)
    assert abs(v1 - v2) <= 4 * np.hypot(s1, s2) + bias[2] * fp_var, (v1, v2)
    # ... and with the Fokker–Planck law of (L_N, Σ_N) at T = η/B
    for B, (_, f, var, se) in runs.items():
        assert np.all(np.abs(f - fp_frac) <= 4 * se_f + 0.01), (B, f, fp_frac)
        assert -4 * se <= var - fp_var <= 4 * se + bias[B] * fp_var, (B, var, fp_var)
