"""Analysis of sweep results (pandas frames from :meth:`Store.to_frame`), used by claims.

* :func:`optimum` / :func:`per_seed_optimum`: the best grid point per group (e.g. the
  learning rate and batch maximizing accuracy at each width, P19), with its spread over
  seeds — of the objective at the optimum and of the optimum's location;
* :func:`fit_powerlaw`: a frame-level front end of :func:`sgdnoise.stats.powerlaw_fit`
  (the one power-law fit of the package: log-log least squares, bootstrap CI);
* :func:`critical_temperature` / :func:`critical_temperatures`: the T at which a quantity
  departs from its T → 0 value by a set fraction (SGW23's T_c); the T → 0 value is the
  lowest-T value, a given number, or :func:`low_temperature_limit`'s linear extrapolation;
* :func:`rescale`, :func:`collapse_quality`, :func:`fit_collapse`: data collapse
  ``y·P^b`` against ``x·P^a`` and the exponents that make the curves coincide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..errors import ParameterError
from ..stats import PowerLawFit, powerlaw_fit
from ..validation import choice, in_range, integer

MODES = ("max", "min")


def _columns(df, names: Sequence[str], what: str) -> list[str]:
    names = [names] if isinstance(names, str) else list(names)
    for n in names:
        if n not in df.columns:
            raise ParameterError(what, n, f"is not a column; columns are {list(df.columns)}")
    return names


def _groups(df, by: list[str]):
    if not by:
        yield (), df
        return
    for key, sub in df.groupby(by, sort=True, dropna=False):
        yield (key if isinstance(key, tuple) else (key,)), sub


def per_seed_optimum(df, objective: str, over, *, by=(), seed: str = "seed", mode: str = "max"):
    """For each group and each seed, the grid point (``over`` axes) with the best objective.

    Non-finite objective values (diverged or failed runs) never win.  Returns one row per
    (group, seed) with the ``by`` and ``seed`` values, the optimal ``over`` values and the
    objective there; a (group, seed) without any finite value is left out.
    """
    import pandas as pd

    choice("mode", mode, MODES)
    over = _columns(df, over, "over")
    by = _columns(df, by, "by")
    _columns(df, [objective, seed], "column")
    rows = []
    for gkey, sub in _groups(df, by + [seed]):
        vals = sub[objective].to_numpy(dtype=float)
        ok = np.isfinite(vals)
        if not ok.any():
            continue
        pick = np.where(ok, vals, -np.inf if mode == "max" else np.inf)
        i = int(np.argmax(pick) if mode == "max" else np.argmin(pick))
        best = sub.iloc[i]
        rows.append(
            {**dict(zip(by + [seed], gkey)), **{a: best[a] for a in over}, objective: vals[i]}
        )
    return pd.DataFrame(rows, columns=[*by, seed, *over, objective])


def optimum(df, objective: str, over, *, by=(), seed: str = "seed", mode: str = "max"):
    """Best grid point per group by the seed-mean objective, with its seed spread.

    For each group of ``by`` values, runs are averaged over ``seed`` at every point of
    the ``over`` axes; a point where any seed's objective is missing or non-finite (a
    diverged or failed run) is not eligible, because its mean would hide the failure.
    Returns one row per group with the optimal ``over`` values and
    ``{objective}`` (seed mean), ``{objective}_std`` (sample std over seeds, ddof=1),
    ``{objective}_sem``, ``n_seeds``, ``n_points`` (eligible grid points), and for each
    axis ``{axis}_seed_lo``/``{axis}_seed_hi``: the range of the per-seed optima
    (:func:`per_seed_optimum`), i.e. how far the optimum's location moves between seeds.
    """
    import pandas as pd

    choice("mode", mode, MODES)
    over = _columns(df, over, "over")
    by = _columns(df, by, "by")
    _columns(df, [objective, seed], "column")
    seeds_per_group = {}
    rows = []
    per_seed = per_seed_optimum(df, objective, over, by=by, seed=seed, mode=mode)
    for gkey, sub in _groups(df, by):
        seeds_per_group[gkey] = sub[seed].nunique()
        stats = []
        for pkey, pt in _groups(sub, over):
            v = pt[objective].to_numpy(dtype=float)
            if len(v) < seeds_per_group[gkey] or not np.all(np.isfinite(v)):
                continue
            sd = float(np.std(v, ddof=1)) if len(v) > 1 else math.nan
            stats.append((pkey, float(np.mean(v)), sd, len(v)))
        if not stats:
            continue
        means = np.array([s[1] for s in stats])
        i = int(np.argmax(means) if mode == "max" else np.argmin(means))
        pkey, mean, sd, n = stats[i]
        row = {**dict(zip(by, gkey)), **dict(zip(over, pkey))}
        row.update(
            {
                objective: mean,
                f"{objective}_std": sd,
                f"{objective}_sem": sd / math.sqrt(n) if n > 1 else math.nan,
                "n_seeds": n,
                "n_points": len(stats),
            }
        )
        ps = per_seed
        for b, v in zip(by, gkey):
            ps = ps[ps[b] == v]
        for a in over:
            row[f"{a}_seed_lo"] = ps[a].min() if len(ps) else math.nan
            row[f"{a}_seed_hi"] = ps[a].max() if len(ps) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def fit_powerlaw(df, x: str, y: str, *, groups: str | None = None, **kwargs) -> PowerLawFit:
    """``y ≈ c x^a`` over the rows of ``df`` via :func:`sgdnoise.stats.powerlaw_fit`.

    ``groups`` names a column (typically the seed) whose rows are resampled together in the
    bootstrap; other keyword arguments go to ``powerlaw_fit`` (``n_boot``, ``level``, ``seed``).
    """
    cols = [x, y] + ([groups] if groups else [])
    _columns(df, cols, "column")
    g = df[groups].to_numpy() if groups else None
    return powerlaw_fit(df[x].to_numpy(float), df[y].to_numpy(float), groups=g, **kwargs)


# --------------------------------------------------------------------------- T_c


class LowTemperatureLimit(NamedTuple):
    """``q(T) ≈ q0 + slope·T`` fitted on the lowest temperatures of a grid."""

    q0: float
    slope: float
    max_rel_residual: float  # max |q − fit| / q over the points used
    n_points: int


def _averaged(T, q):
    T = np.asarray(T, dtype=float).ravel()
    q = np.asarray(q, dtype=float).ravel()
    if T.shape != q.shape or T.size < 2:
        raise ParameterError("T, q", (T.size, q.size), "need equal lengths >= 2")
    if np.any(~np.isfinite(T)) or np.any(T <= 0):
        raise ParameterError("T", T.tolist(), "temperatures must be finite and > 0")
    if np.any(~np.isfinite(q)):
        raise ParameterError("q", q.tolist(), "must be finite (drop diverged runs first)")
    Tu, inv = np.unique(T, return_inverse=True)
    return Tu, np.bincount(inv, weights=q) / np.bincount(inv)


def low_temperature_limit(T, q, *, n_low: int = 3) -> LowTemperatureLimit:
    """The T → 0 value of ``q`` by a straight line through its ``n_low`` lowest temperatures.

    Least squares of ``q = q0 + slope·T`` (repeated T averaged first).  This is the right
    extrapolation when the noise part of ``q`` is linear in T at small T — SGW23's
    perceptron has ``‖Δw_⊥‖ ∝ T`` (DESIGN.md §4.2) — and it lets a grid whose lowest T
    already lies above the plateau still locate T_c.  ``max_rel_residual`` says how well
    the line fits (with ``n_low = 3`` it tests one degree of freedom of linearity): a
    caller must check it before trusting ``q0``.
    """
    n_low = integer("n_low", n_low, minimum=2)
    Tu, qu = _averaged(T, q)
    if n_low > Tu.size:
        raise ParameterError("n_low", n_low, f"must be <= the number of temperatures {Tu.size}")
    t, y = Tu[:n_low], qu[:n_low]
    slope, q0 = np.polyfit(t, y, 1)
    fit = q0 + slope * t
    resid = float(np.max(np.abs(y - fit) / np.abs(y))) if np.all(y != 0) else math.inf
    return LowTemperatureLimit(float(q0), float(slope), resid, int(n_low))


def critical_temperature(
    T, q, *, fraction: float = 0.1, q0: float | str | None = None, n_low: int | None = None
):
    """The temperature at which ``q(T)`` departs from its T → 0 value by ``fraction``.

    With ``d(T) = |q(T) − q0| / |q0|``, T_c is the smallest T with ``d(T) = fraction``.
    ``q0`` defaults to the mean of q at the ``n_low`` (default 1) smallest temperatures of
    the grid (repeated T values are averaged first); ``q0="linear"`` takes
    :func:`low_temperature_limit`'s intercept over the ``n_low`` (default 3) smallest.
    Between the last grid point below the threshold and the first at or above it, T_c is
    interpolated linearly in ``(log T, log d)`` — exact when the departure is a power law
    ``d ∝ T^k``, the generic onset — or in ``(log T, d)`` when the lower point has ``d = 0``.

    Returns NaN when q never departs by ``fraction`` on the grid, or has already departed
    at the smallest T (T_c lies below the grid: it cannot be located).
    """
    fraction = in_range("fraction", fraction, 0, None, low_open=True)
    Tu, qu = _averaged(T, q)
    if isinstance(q0, str):
        choice("q0", q0, ("linear",))
        q0 = low_temperature_limit(Tu, qu, n_low=3 if n_low is None else n_low).q0
    n_low = integer("n_low", 1 if n_low is None else n_low, minimum=1)
    if q0 is None:
        if n_low >= Tu.size:
            raise ParameterError("n_low", n_low, f"must be < the number of temperatures {Tu.size}")
        q0 = float(np.mean(qu[:n_low]))
    if q0 == 0 or not math.isfinite(q0):
        raise ParameterError("q0", q0, "the T → 0 value must be finite and non-zero")
    d = np.abs(qu - q0) / abs(q0)
    above = np.flatnonzero(d >= fraction)
    if above.size == 0 or above[0] == 0:
        return math.nan
    i = above[0]
    lt0, lt1 = math.log(Tu[i - 1]), math.log(Tu[i])
    if d[i - 1] > 0:
        u0, u1, target = math.log(d[i - 1]), math.log(d[i]), math.log(fraction)
    else:
        u0, u1, target = d[i - 1], d[i], fraction
    return float(math.exp(lt0 + (target - u0) / (u1 - u0) * (lt1 - lt0)))


def critical_temperatures(
    df,
    T: str,
    q: str,
    *,
    by=(),
    seed: str | None = None,
    fraction: float = 0.1,
    q0: float | str | None = None,
    n_low: int | None = None,
):
    """:func:`critical_temperature` per group of ``by`` (e.g. per training-set size P).

    T_c is taken from the seed-averaged curve; with ``seed`` given, each seed's own T_c
    is computed too and ``T_c_lo``/``T_c_hi``/``T_c_std`` give their spread (``n_tc`` of
    them were locatable).  ``q0`` (the T → 0 value, when theory gives it) applies to every
    group; by default each curve's own low-T value is used, and ``q0="linear"`` extrapolates
    each curve (:func:`low_temperature_limit`).  Rows with a non-finite q are
    dropped first.
    """
    import pandas as pd

    by = _columns(df, by, "by")
    _columns(df, [T, q] + ([seed] if seed else []), "column")
    df = df[np.isfinite(df[q].to_numpy(float))]
    rows = []
    for gkey, sub in _groups(df, by):
        row = dict(zip(by, gkey))
        row["T_c"] = critical_temperature(
            sub[T].to_numpy(float), sub[q].to_numpy(float), fraction=fraction, q0=q0, n_low=n_low
        )
        if seed:
            tcs = np.array(
                [
                    critical_temperature(
                        s[T].to_numpy(float),
                        s[q].to_numpy(float),
                        fraction=fraction,
                        q0=q0,
                        n_low=n_low,
                    )
                    for _, s in sub.groupby(seed)
                ]
            )
            ok = tcs[np.isfinite(tcs)]
            row.update(
                {
                    "T_c_lo": ok.min() if ok.size else math.nan,
                    "T_c_hi": ok.max() if ok.size else math.nan,
                    "T_c_std": float(np.std(ok, ddof=1)) if ok.size > 1 else math.nan,
                    "n_tc": int(ok.size),
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- collapse


def rescale(x, y, size, a: float, b: float):
    """Collapse coordinates ``(x · size^a, y · size^b)``."""
    x, y, size = (np.asarray(v, dtype=float) for v in (x, y, size))
    return x * size**a, y * size**b


def collapse_quality(x, y, groups) -> float:
    """How far curves of different groups lie apart, where they overlap (0 = perfect).

    For every pair of groups, each curve (sorted by x) is interpolated linearly in
    ``(log x, log y)`` onto the other's points inside the common x range; the result is
    the mean squared difference of ``log y`` over all such points.  Returns ``inf`` when no
    two curves overlap (a collapse that separates the curves must not look good).
    """
    x, y, g = np.asarray(x, float), np.asarray(y, float), np.asarray(groups)
    if np.any(x <= 0) or np.any(y <= 0):
        raise ParameterError("x, y", "non-positive", "collapse works on log axes: x, y > 0")
    curves = []
    for u in np.unique(g):
        m = g == u
        order = np.argsort(x[m])
        curves.append((np.log(x[m][order]), np.log(y[m][order])))
    total, count = 0.0, 0
    for i in range(len(curves)):
        for j in range(len(curves)):
            if i == j:
                continue
            (lx, ly), (mx, my) = curves[i], curves[j]
            inside = (lx >= mx[0]) & (lx <= mx[-1])
            if not inside.any() or mx.size < 2:
                continue
            total += float(np.sum((ly[inside] - np.interp(lx[inside], mx, my)) ** 2))
            count += int(inside.sum())
    return total / count if count else math.inf


def fit_collapse(
    x,
    y,
    size,
    *,
    a0: float = 0.0,
    b0: float = 0.0,
    fit_a: bool = True,
    fit_b: bool = True,
) -> tuple[float, float, float]:
    """Exponents ``(a, b, quality)`` minimizing :func:`collapse_quality` of
    :func:`rescale`'d curves (one curve per ``size``), by Nelder–Mead from ``(a0, b0)``.

    Fix one exponent with ``fit_a=False`` / ``fit_b=False``.  A pure power law
    ``y ∝ x^k`` collapses along a whole line of exponents (``b = −k a``): fix one of them
    in that case.
    """
    from scipy.optimize import minimize

    if not (fit_a or fit_b):
        raise ParameterError("fit_a, fit_b", (fit_a, fit_b), "at least one must be True")
    x, y, size = (np.asarray(v, dtype=float).ravel() for v in (x, y, size))
    if np.unique(size).size < 2:
        raise ParameterError("size", np.unique(size).tolist(), "needs at least two sizes")

    def unpack(p):
        it = iter(p)
        return (next(it) if fit_a else a0), (next(it) if fit_b else b0)

    def cost(p):
        a, b = unpack(p)
        X, Y = rescale(x, y, size, a, b)
        q = collapse_quality(X, Y, size)
        return q if math.isfinite(q) else 1e6

    start = np.array([v for v, f in ((a0, fit_a), (b0, fit_b)) if f], dtype=float)
    # An explicit simplex of width 0.2: the default one around an exponent of 0 is tiny.
    simplex = np.vstack([start, *(start + 0.2 * np.eye(len(start)))])
    res = minimize(
        cost,
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-7, "fatol": 1e-14, "initial_simplex": simplex},
    )
    a, b = unpack(res.x)
    return float(a), float(b), float(res.fun)
