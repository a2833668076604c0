"""Figures of sweep results, on matplotlib's Figure API (no pyplot: no global state, no GUI).

* :func:`phase_diagram`: a heat map of a metric over two axes (log axes by default, as in
  SGW23's (α, T) diagrams and P19's (η, B) grids), averaged over the remaining columns
  (seeds); missing or non-finite cells (diverged runs) are left blank;
* :func:`collapse_plot`: raw curves next to their collapse ``y·P^b`` vs ``x·P^a``;
* :func:`curves_plot`: training curves (e.g. from :meth:`Store.curves`);
* :func:`powerlaw_plot`: points with a :class:`~sgdnoise.stats.PowerLawFit` and its CI.

Every function returns a :class:`matplotlib.figure.Figure`; save it with ``fig.savefig``
or a claim's ``ctx.savefig``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from ..errors import ParameterError
from ..validation import choice

REDUCERS = ("mean", "median", "min", "max")


def _edges(centres: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges halfway between centres (geometrically on a log axis)."""
    c = np.log(centres) if log else centres.astype(float)
    if c.size == 1:
        e = np.array([c[0] - 0.5, c[0] + 0.5])
    else:
        mid = (c[1:] + c[:-1]) / 2
        e = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    return np.exp(e) if log else e


def grid_table(df, x: str, y: str, z: str, reduce: str = "mean"):
    """``z`` reduced over every other column at each (x, y): a table, y rows × x columns."""
    choice("reduce", reduce, REDUCERS)
    for c in (x, y, z):
        if c not in df.columns:
            raise ParameterError("column", c, f"is not a column; columns are {list(df.columns)}")
    d = df[[x, y, z]].copy()
    d[z] = d[z].astype(float).where(np.isfinite(d[z].astype(float)))
    # A cell with any non-finite run is blank: averaging over the finite ones would hide
    # that some seeds diverged there.
    bad = d[z].isna().groupby([d[y], d[x]]).any()
    table = d.groupby([y, x])[z].agg(reduce)
    table[bad] = np.nan
    return table.unstack(x).sort_index().sort_index(axis=1)


def phase_diagram(
    df,
    x: str,
    y: str,
    z: str,
    *,
    reduce: str = "mean",
    logx: bool = True,
    logy: bool = True,
    logz: bool = False,
    cmap: str = "viridis",
    title: str | None = None,
    mark=None,
    mark_label: str | None = None,
) -> Figure:
    """Heat map of ``z`` over ``(x, y)``; ``mark`` is an optional ``(xs, ys)`` line/points
    drawn on top (e.g. the optimum per width or a T_c line)."""
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import NullLocator

    table = grid_table(df, x, y, z, reduce)
    xs = table.columns.to_numpy(dtype=float)
    ys = table.index.to_numpy(dtype=float)
    if (logx and np.any(xs <= 0)) or (logy and np.any(ys <= 0)):
        raise ParameterError("logx/logy", (logx, logy), "a log axis needs positive values")
    Z = np.ma.masked_invalid(table.to_numpy(dtype=float))
    fig = Figure(figsize=(5.6, 4.4))
    ax = fig.add_subplot()
    norm = None
    if logz:
        pos = Z.compressed()
        pos = pos[pos > 0]
        if pos.size:
            norm = LogNorm(vmin=pos.min(), vmax=pos.max())
        Z = np.ma.masked_less_equal(Z, 0)
    mesh = ax.pcolormesh(_edges(xs, logx), _edges(ys, logy), Z, cmap=cmap, norm=norm)
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    # Ticks at the grid's own values (when few enough to read) say exactly what was run.
    if xs.size <= 12:
        ax.set_xticks(xs, labels=[f"{v:.3g}" for v in xs], minor=False)
        ax.xaxis.set_minor_locator(NullLocator())
    if ys.size <= 12:
        ax.set_yticks(ys, labels=[f"{v:.3g}" for v in ys], minor=False)
        ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    fig.colorbar(mesh, ax=ax, label=f"{z} ({reduce})")
    if mark is not None:
        mx, my = mark
        ax.plot(mx, my, "o-", color="white", mec="black", lw=1.5, label=mark_label)
        if mark_label:
            ax.legend(loc="best", fontsize=8)
    ax.set_title(title or f"{z} over ({x}, {y})")
    return fig


def collapse_plot(
    x,
    y,
    size,
    a: float,
    b: float,
    *,
    xlabel: str = "x",
    ylabel: str = "y",
    size_label: str = "P",
) -> Figure:
    """Two panels: the raw curves (one per size) and ``y·size^b`` against ``x·size^a``."""
    from .analysis import rescale

    x, y, size = (np.asarray(v, dtype=float).ravel() for v in (x, y, size))
    X, Y = rescale(x, y, size, a, b)
    fig = Figure(figsize=(9.5, 3.8))
    ax0, ax1 = fig.subplots(1, 2)
    for s in np.unique(size):
        m = size == s
        o = np.argsort(x[m])
        ax0.plot(x[m][o], y[m][o], "o-", ms=3, label=f"{size_label}={s:g}")
        ax1.plot(X[m][o], Y[m][o], "o-", ms=3, label=f"{size_label}={s:g}")
    for ax in (ax0, ax1):
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax0.set_xlabel(xlabel)
    ax0.set_ylabel(ylabel)
    ax0.set_title("raw")
    ax1.set_xlabel(f"{xlabel} · {size_label}^{a:.3g}")
    ax1.set_ylabel(f"{ylabel} · {size_label}^{b:.3g}")
    ax1.set_title("collapsed")
    ax1.legend(fontsize=7)
    return fig


def curves_plot(
    curves: Mapping,
    *,
    xlabel: str = "step",
    ylabel: str = "value",
    logx: bool = False,
    logy: bool = True,
    title: str | None = None,
) -> Figure:
    """One line per entry of ``{label: (x, y)}``."""
    fig = Figure(figsize=(5.6, 3.8))
    ax = fig.add_subplot()
    for label, (cx, cy) in curves.items():
        cx, cy = np.asarray(cx, float), np.asarray(cy, float)
        ok = np.isfinite(cy) & ((cy > 0) if logy else True)
        ax.plot(cx[ok], cy[ok], lw=1.2, label=str(label))
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if 0 < len(curves) <= 12:
        ax.legend(fontsize=7)
    return fig


def powerlaw_plot(x, y, fit, *, xlabel: str = "x", ylabel: str = "y") -> Figure:
    """Points and the fit ``c x^a`` on log-log axes, with lines of the CI's end exponents
    drawn through the data's geometric centre."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    fig = Figure(figsize=(5.0, 3.8))
    ax = fig.add_subplot()
    ax.loglog(x, y, "o", ms=4, label="data")
    xx = np.geomspace(x.min(), x.max(), 50)
    ax.loglog(xx, fit.predict(xx), "-", label=f"fit: exponent {fit.exponent:.3g}")
    lx0 = np.mean(np.log(x))
    ly0 = np.log(fit.prefactor) + fit.exponent * lx0
    for e in (fit.ci_low, fit.ci_high):
        ax.loglog(xx, np.exp(ly0 + e * (np.log(xx) - lx0)), ":", color="gray")
    ax.plot(
        [], [], ":", color="gray", label=f"{fit.level:.0%} CI [{fit.ci_low:.3g}, {fit.ci_high:.3g}]"
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return fig


def line_plot(
    df,
    x: str,
    y: str,
    *,
    hue: str | None = None,
    seed: str | None = "seed",
    logx: bool = True,
    logy: bool = False,
) -> Figure:
    """Seed mean of ``y`` against ``x`` with ±1 sample-std bars, one line per ``hue`` value.

    Rows with a non-finite ``y`` are left out of the mean (their count shows in ``n``)."""
    for c in [x, y] + ([hue] if hue else []):
        if c not in df.columns:
            raise ParameterError("column", c, f"is not a column; columns are {list(df.columns)}")
    fig = Figure(figsize=(5.6, 3.8))
    ax = fig.add_subplot()
    d = df[np.isfinite(df[y].astype(float))]
    parts = d.groupby(hue, sort=True) if hue else [(None, d)]
    for label, sub in parts:
        g = sub.groupby(x)[y].agg(["mean", "std"]).sort_index()
        ax.errorbar(
            g.index.to_numpy(float),
            g["mean"].to_numpy(float),
            yerr=g["std"].fillna(0).to_numpy(float),
            marker="o",
            ms=3,
            capsize=2,
            label=None if label is None else f"{hue}={label}",
        )
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set_xlabel(x)
    ax.set_ylabel(f"{y} (mean ± std over {seed})" if seed and seed in df.columns else y)
    if hue:
        ax.legend(fontsize=7)
    return fig
