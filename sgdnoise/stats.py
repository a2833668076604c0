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
