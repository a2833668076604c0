"""What `p19-collapse` reads from its grid: the seed-paired accuracy differences between grid
points of equal and of different normalized noise scale, the margin, the figures and tables.

Park, Sohl-Dickstein, Le & Smith (ICML 2019): "the optimal SGD hyper-parameters are
determined by a normalized noise scale" ḡ = εN/B (ε the NTK-equivalent rate).  The grid of
one width is a factor-2 ladder of rates ε_j = ε_0·2^j crossed with two batches B_0, 2B_0, so
every point (ε_j, B_0) has a partner of *equal* ḡ, (ε_{j+1}, 2B_0), and a partner of *half*
the ḡ, (ε_j, 2B_0).  Per seed s (the sampling unit: one initialization and batch order shared
by every grid point, so the differences are seed-paired) and width k:

* ``equal``: mean over j of acc(ε_{j+1}, 2B_0) − acc(ε_j, B_0) — zero when accuracy is a
  function of ḡ alone;
* ``different``: mean over j of acc(ε_j, B_0) − acc(ε_j, 2B_0) — the change of one doubling
  of ḡ at fixed ε.

``acc`` is the late test accuracy (mean over the last evaluations, :func:`._grid.late_mean`).
Only runs with status ``done`` enter; a seed missing an arm of any pair is dropped from that
width's values (never imputed) and counted.  Nothing here imports torch.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

SCORE = "test_acc_late"
#: An equal-ḡ pair is "equivalent" when it differs by less than half the accuracy change of
#: one doubling of ḡ on the same grid: a factor √2 in ḡ, half the grid's step, is the
#: resolution at which this ladder places a point on the ḡ axis.
MARGIN_FRACTION = 0.5


def _cell(ok: pd.DataFrame, width, lr, batch) -> pd.Series:
    """Late accuracy of one grid point, indexed by seed."""
    m = (ok["width"] == width) & np.isclose(ok["lr"], lr) & (ok["batch"] == batch)
    return ok.loc[m].groupby("seed")[SCORE].mean()


def pair_values(df: pd.DataFrame, s, gbar) -> dict:
    """Per width: ``equal`` and ``different`` (per-seed arrays, module docstring), ``seeds``
    (the seeds with every arm), ``gbar_error`` (the largest relative deviation of a pair's ḡ
    ratio — ``gbar(lr, batch, width)`` of the runs paired — from the design's 1 for an equal
    pair and 2 for a different one) and ``levels`` (one row per grid point: ε, B, ḡ, seed
    values)."""
    ok = df[df["status"] == "done"]
    ok = ok[np.isfinite(ok[SCORE].astype(float))]
    b0, b1 = s.batch, 2 * s.batch
    out = {}
    for w in s.widths:
        eq, dif, err = [], [], 0.0
        for lo, hi in zip(s.eps[:-1], s.eps[1:], strict=True):
            eq.append(_cell(ok, w, hi, b1) - _cell(ok, w, lo, b0))
            err = max(err, abs(gbar(hi, b1, w) / gbar(lo, b0, w) - 1))
        for e in s.eps:
            dif.append(_cell(ok, w, e, b0) - _cell(ok, w, e, b1))
            err = max(err, abs(gbar(e, b0, w) / gbar(e, b1, w) - 2) / 2)
        both = pd.concat([pd.concat(eq, axis=1), pd.concat(dif, axis=1)], axis=1).dropna()
        n_eq = len(eq)
        levels = [
            {"eps": e, "batch": b, "gbar": gbar(e, b, w), "acc": _cell(ok, w, e, b)}
            for e in s.eps
            for b in (b0, b1)
        ]
        out[w] = {
            "equal": both.iloc[:, :n_eq].mean(axis=1).to_numpy(float),
            "different": both.iloc[:, n_eq:].mean(axis=1).to_numpy(float),
            "seeds": tuple(int(v) for v in both.index),
            "gbar_error": err,
            "levels": levels,
        }
    return out


def margin(values: dict) -> float:
    """The equivalence margin of one width: :data:`MARGIN_FRACTION` × |seed mean of the
    change of one doubling of ḡ| measured on the same grid (NaN without seeds)."""
    d = values["different"]
    return MARGIN_FRACTION * abs(float(d.mean())) if d.size else math.nan


def collapse_ratio(values: dict) -> float:
    """|seed mean of ``equal``| / |seed mean of ``different``| (inf when the grid does not
    move accuracy with ḡ at all; NaN without seeds): well below 1 when accuracy collapses
    onto ḡ, about 1 or more when it follows ε or B instead."""
    e, d = values["equal"], values["different"]
    if not e.size:
        return math.nan
    den = abs(float(d.mean()))
    return abs(float(e.mean())) / den if den > 0 else math.inf


def incomplete_runs(df: pd.DataFrame, s) -> int:
    """Grid runs (widths × rates × 2 batches × seeds) not done: diverged, failed or absent."""
    expected = len(s.widths) * len(s.eps) * 2 * s.seeds
    return expected - int((df["status"] == "done").sum())


# --------------------------------------------------------------------------- report


def _ci(values, fmt="+.4f") -> str:
    from ._plots import mean_ci

    m, lo, hi = mean_ci(values)
    if not np.size(values):
        return "no seed"
    if np.size(values) < 3 or not math.isfinite(lo):
        return f"{m:{fmt}} ({np.size(values)} seeds: no interval)"
    return f"{m:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def pairs_table(values: dict) -> str:
    """Per width: the per-seed differences' means with 95% t intervals, the margin."""
    rows = [
        "| width | seeds | equal ḡ: acc(2ε, 2B) − acc(ε, B) | ḡ doubled: acc(ε, B) − acc(ε, 2B) "
        "| margin (½ × ḡ doubled) | |equal| / |doubled| |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for w, v in values.items():
        rows.append(
            f"| {w} | {len(v['seeds'])} | {_ci(v['equal'])} | {_ci(v['different'])} | "
            f"±{margin(v):.4f} | {collapse_ratio(v):.3f} |"
        )
    return "\n".join(rows)


def levels_table(values: dict) -> str:
    """Per width and grid point: ḡ and the seed mean ± sd of the late test accuracy."""
    rows = [
        "| width | ε | B | ḡ = εN/B | late test acc (mean ± sd) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for w, v in values.items():
        for r in sorted(v["levels"], key=lambda r: (r["gbar"], r["batch"])):
            a = r["acc"]
            sd = f"{a.std(ddof=1):.3f}" if len(a) > 1 else "—"
            cell = f"{a.mean():.3f} ± {sd}" if len(a) else "—"
            rows.append(f"| {w} | {r['eps']:g} | {r['batch']} | {r['gbar']:g} | {cell} |")
    return "\n".join(rows)


# --------------------------------------------------------------------------- figures


def collapse_figure(values: dict, title: str):
    """One panel per width: late test accuracy against ḡ, one series per batch (each seed a
    point, the seed mean with its t interval).  Accuracy that is a function of ḡ puts the
    two batches' series on one curve."""
    from matplotlib.figure import Figure

    from ._plots import log_axis, seeds_mean_ci

    n = len(values)
    fig = Figure(figsize=(4.2 * n, 3.6))
    axes = np.atleast_1d(fig.subplots(1, n, sharey=True))
    for ax, (w, v) in zip(axes, values.items(), strict=True):
        for i, b in enumerate(sorted({r["batch"] for r in v["levels"]})):
            rows = sorted((r for r in v["levels"] if r["batch"] == b), key=lambda r: r["gbar"])
            seeds_mean_ci(ax, [r["gbar"] for r in rows], [r["acc"].to_numpy() for r in rows],
                          label=f"B = {b}", color=f"C{i}", marker="os"[i % 2])  # fmt: skip
        log_axis(ax, "x", ticks=sorted({round(r["gbar"], 6) for r in v["levels"]}))
        ax.set_xlabel("ḡ = εN/B")
        ax.set_title(f"width {w}", fontsize=10)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("late test accuracy")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def pairs_figure(values: dict):
    """Per width: the per-seed equal-ḡ and ḡ-doubled differences (points; seed mean ± t
    interval) with the equivalence band ±margin shaded around 0."""
    from matplotlib.figure import Figure

    from ._plots import seeds_mean_ci

    ws = list(values)
    x = np.arange(len(ws), dtype=float)
    fig = Figure(figsize=(5.6, 3.8))
    ax = fig.add_subplot()
    for dx, key, label, color, marker in (
        (-0.08, "equal", "equal ḡ: acc(2ε, 2B) − acc(ε, B)", "C0", "o"),
        (0.08, "different", "ḡ doubled: acc(ε, B) − acc(ε, 2B)", "C3", "s"),
    ):
        line = seeds_mean_ci(ax, x + dx, [values[w][key] for w in ws], label=label,
                             color=color, marker=marker)  # fmt: skip
        line.set_linestyle("none")  # widths are categories here: no line between them
    for xi, w in zip(x, ws, strict=True):
        m = margin(values[w])
        if math.isfinite(m):
            ax.fill_between([xi - 0.3, xi + 0.3], -m, m, color="0.85", zorder=0)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x, [str(w) for w in ws])
    ax.set_xlabel("width (grey: the equivalence margin ±½ × ḡ doubled)")
    ax.set_ylabel("seed-paired accuracy difference")
    ax.set_title("P19: equal ḡ vs different ḡ", fontsize=10)
    ax.legend(fontsize=7)
    return fig
