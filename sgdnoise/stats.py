"""Small statistics shared by every layer: binomial intervals and power-law fits with
bootstrap confidence intervals.  numpy/scipy only; imports nothing else of ours but
:mod:`sgdnoise.validation`, so theory, simulate, nets, sweeps and experiments may all use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from .errors import ParameterError
from .validation import in_range, integer


def wilson_interval(k, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion k/n (vectorized).

    Preferred over the normal (Wald) interval because it keeps its coverage near 0 and 1,
    where basin occupations at low temperature live.
    """
    level = in_range("level", level, 0, 1, low_open=True, high_open=True)
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n):
        raise ParameterError("k, n", (k.tolist(), n.tolist()), "need 0 <= k <= n and n >= 1")
    z = _st.norm.ppf(0.5 + level / 2)
    p = k / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


MAX_T_GROUPS = 5


@dataclass(frozen=True)
class PowerLawFit:
    """``y ≈ prefactor · x**exponent`` fitted in log-log space, with a bootstrap interval."""

    exponent: float
    prefactor: float
    ci_low: float
    ci_high: float
    level: float
    n_points: int

    def contains(self, value: float, tolerance: float) -> bool:
        """``value`` lies within ``tolerance`` of the interval.  The tolerance is explicit
        because interval ends are computed in floating point: a slope of exactly 1 may come
        out as 0.9999999999999997 (issue 13), so no exact containment is ever asked."""
        if not tolerance >= 0:
            raise ParameterError("tolerance", tolerance, "must be >= 0")
        return self.ci_low - tolerance <= value <= self.ci_high + tolerance

    def predict(self, x):
        return self.prefactor * np.asarray(x, dtype=float) ** self.exponent


def _slope_intercept(lx: np.ndarray, ly: np.ndarray) -> tuple[float, float]:
    A = np.column_stack([lx, np.ones_like(lx)])
    (b, a), *_ = np.linalg.lstsq(A, ly, rcond=None)
    return float(b), float(a)


def powerlaw_fit(
    x,
    y,
    *,
    groups=None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> PowerLawFit:
    """Least-squares fit of ``log y = log c + a log x`` with an interval on a.

    ``groups`` (e.g. the seed of each point) makes the interval treat whole groups as the
    sampling unit, which keeps the correlation of points that share a seed.  With more than
    :data:`MAX_T_GROUPS` groups the interval is a percentile bootstrap over groups; with
    3…MAX_T_GROUPS groups it is a Student-t interval on the per-group slopes (a bootstrap
    over ≤ 5 seeds is the range of a handful of values: its coverage with 2 seeds is 49%,
    issue 13); with fewer than 3 groups there is no interval (NaN).  Without ``groups``
    points are resampled individually.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ParameterError("y", y.shape, f"must have the shape of x {x.shape}")
    if x.size < 3:
        raise ParameterError("x", x.size, "needs at least 3 points")
    if np.any(~np.isfinite(x)) or np.any(x <= 0) or np.any(~np.isfinite(y)) or np.any(y <= 0):
        raise ParameterError("x, y", "non-positive or non-finite", "must be finite and > 0")
    if np.unique(x).size < 2:
        raise ParameterError("x", np.unique(x).tolist(), "needs at least two distinct values")
    n_boot = integer("n_boot", n_boot, minimum=10)
    level = in_range("level", level, 0, 1, low_open=True, high_open=True)
    lx, ly = np.log(x), np.log(y)
    slope, intercept = _slope_intercept(lx, ly)

    rng = np.random.default_rng(seed)
    if groups is None:
        members = [np.array([i]) for i in range(x.size)]
    else:
        g = np.asarray(groups).ravel()
        if g.shape != x.shape:
            raise ParameterError("groups", g.shape, f"must have the shape of x {x.shape}")
        members = [np.flatnonzero(g == u) for u in np.unique(g)]
        if len(members) <= MAX_T_GROUPS:
            per = [_slope_intercept(lx[m], ly[m])[0] for m in members if np.unique(lx[m]).size >= 2]
            lo = hi = float("nan")
            if len(per) >= 3:
                per = np.asarray(per)
                h = _st.t.ppf(0.5 + level / 2, per.size - 1) * per.std(ddof=1) / np.sqrt(per.size)
                lo, hi = float(per.mean() - h), float(per.mean() + h)
            return PowerLawFit(slope, float(np.exp(intercept)), lo, hi, level, int(x.size))
    slopes = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(members), size=len(members))
        idx = np.concatenate([members[j] for j in pick])
        if np.unique(lx[idx]).size < 2:
            continue  # a replicate with one x value has no slope
        slopes.append(_slope_intercept(lx[idx], ly[idx])[0])
    lo, hi = np.quantile(slopes, [(1 - level) / 2, (1 + level) / 2])
    return PowerLawFit(slope, float(np.exp(intercept)), float(lo), float(hi), level, int(x.size))


@dataclass(frozen=True)
class PairedDifference:
    """Mean of paired differences ``a_i − b_i`` with a Student-t interval (n − 1 d.o.f.)."""

    mean: float
    ci_low: float
    ci_high: float
    level: float
    n: int

    @property
    def positive(self) -> bool:
        """The interval lies above 0."""
        return self.ci_low > 0

    @property
    def negative(self) -> bool:
        """The interval lies below 0."""
        return self.ci_high < 0


def paired_difference(a, b, level: float = 0.95) -> PairedDifference:
    """Seed-paired difference ``a − b`` (same seeds in both arms) with a t interval; with
    one pair the interval is unbounded (no spread to judge it by)."""
    level = in_range("level", level, 0, 1, low_open=True, high_open=True)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 1:
        raise ParameterError("a, b", (a.shape, b.shape), "need two 1-D arrays of equal length ≥ 1")
    d = a - b
    n, m = len(d), float(d.mean())
    if n < 2:
        return PairedDifference(m, -np.inf, np.inf, level, n)
    half = _st.t.ppf(0.5 + level / 2, n - 1) * d.std(ddof=1) / np.sqrt(n)
    return PairedDifference(m, m - half, m + half, level, n)


def spearman_ci(x, y, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    """Spearman rank correlation of (x, y) with a percentile bootstrap interval over pairs:
    ``(rho, ci_low, ci_high)``.  Resamples with fewer than two distinct values in x or y
    (rank correlation undefined) are dropped."""
    level = in_range("level", level, 0, 1, low_open=True, high_open=True)
    n_boot = integer("n_boot", n_boot, minimum=10)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 3:
        raise ParameterError("x, y", (x.shape, y.shape), "need two 1-D arrays of length ≥ 3")
    rho = float(_st.spearmanr(x, y).statistic)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    xs, ys = x[idx], y[idx]
    ok = (np.ptp(xs, axis=1) > 0) & (np.ptp(ys, axis=1) > 0)
    if not ok.any():
        return rho, float("nan"), float("nan")
    rx = _st.rankdata(xs[ok], axis=1)
    ry = _st.rankdata(ys[ok], axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    boot = (rx * ry).sum(1) / np.sqrt((rx**2).sum(1) * (ry**2).sum(1))
    lo, hi = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2])
    return rho, float(lo), float(hi)
