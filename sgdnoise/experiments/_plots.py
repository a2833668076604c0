"""One plotting style for every claim's figures (DESIGN.md §10, step 6).

* :func:`log_axis` — a log axis whose tick labels never pile up: major ticks labelled in
  plain numbers, minor ticks unlabelled (matplotlib's default labels minor ticks of short
  log ranges, which printed "2×10² 3×10⁴×10²" on top of each other);
* :func:`seeds_mean_ci` — each seed as a faint point, the seed mean as a line with its
  Student-t 95% interval (the same interval the criteria use) as error bars;
* :func:`theory_line` — a theory prediction, dashed and labelled as theory (or "derived").
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as _st


def log_axis(ax, which: str = "x", ticks=None) -> None:
    """Put ``ax``'s ``which`` ("x", "y" or "both") axis on a log scale with plain major
    labels and unlabelled minor ticks.  ``ticks`` (e.g. the grid's values) labels exactly
    those values instead of the powers of ten — use it when the axis spans less than a
    decade, where there may be no power of ten to label."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    for name in ("x", "y") if which == "both" else (which,):
        axis = ax.xaxis if name == "x" else ax.yaxis
        (ax.set_xscale if name == "x" else ax.set_yscale)("log")
        if ticks is not None:
            axis.set_major_locator(FixedLocator(sorted({float(t) for t in ticks})))
        else:
            axis.set_major_locator(LogLocator(base=10, numticks=12))
        # 0.01, 0.1, 1, 10, 100 … and 1e-05 / 1e+05 beyond
        axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        axis.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10) * 0.1, numticks=12))
        axis.set_minor_formatter(NullFormatter())


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of per-seed values with a Student-t interval; (mean, nan, nan)
    with fewer than 2 values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    m = float(v.mean())
    if v.size < 2:
        return m, math.nan, math.nan
    h = _st.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return m, m - h, m + h


def seeds_mean_ci(ax, x, values_per_x, *, label: str, color=None, marker: str = "o"):
    """Plot per-seed values as points and the seed mean ± t interval as a line.

    ``x``: the grid values; ``values_per_x``: for each x, the per-seed values (a sequence).
    Returns the line of means (its colour is the series')."""
    x = list(x)
    means, lows, highs = zip(*(mean_ci(v) for v in values_per_x), strict=True)
    means, lows, highs = (np.asarray(a, dtype=float) for a in (means, lows, highs))
    (line,) = ax.plot(x, means, marker=marker, color=color, label=f"{label} (seed mean, 95% CI)")
    c = line.get_color()
    for xi, vals in zip(x, values_per_x, strict=True):
        vals = np.asarray(vals, dtype=float)
        ax.scatter(np.full(vals.size, xi), vals, s=10, color=c, alpha=0.35, linewidths=0)
    ok = np.isfinite(lows)
    if ok.any():
        xa = np.asarray(x, dtype=float)[ok]
        ax.errorbar(
            xa, means[ok], yerr=[means[ok] - lows[ok], highs[ok] - means[ok]],
            fmt="none", ecolor=c, capsize=3, lw=1,
        )  # fmt: skip
    return line


def theory_line(ax, x, y, *, label: str = "theory", derived: bool = False, **kw):
    """A theory curve, dashed black unless told otherwise, labelled (with "(derived)" for
    a prediction we derived rather than one the paper prints)."""
    kw.setdefault("color", "black")
    kw.setdefault("ls", "--")
    kw.setdefault("lw", 1.2)
    return ax.plot(x, y, label=label + (" (derived)" if derived else ""), **kw)[0]
