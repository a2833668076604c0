"""What `sgw23-opposite` reads from an (α, T) phase grid: the two ways out of the lazy regime
and their effects on the test error, per lazy cell and per seed (Sclocchi, Geiger & Wyart,
ICML 2023; DESIGN.md §4.2).

The lazy row is the grid's largest α (α ≫ 1).  From each of its cells (α_max, T), T below
T_hot, the net leaves the lazy regime in two ways:

* **raise T** at fixed α: to (α_max, T_hot), T_hot the hottest T at which every seed fitted at
  α_max (:func:`._sgw23_analysis.fitted_temperatures`; the grid's hottest when none did);
* **lower α** at fixed T: to (α_min, T), the feature-regime end of the grid.

Per seed s (the sampling unit; a seed missing an arm of a cell is dropped from that cell):
``dT = err(α_max, T_hot) − err(α_max, T)``, ``dα = err(α_min, T) − err(α_max, T)`` and the
same moves' ln ‖Δw‖/‖w0‖ changes ``wT``, ``wα`` (escape: the weights move more).  "Opposite
effects" in a cell means dT and dα of opposite signs; a seed's ``min(−dT, dα)`` (raising T
helps, lowering α hurts) or ``min(dT, −dα)`` (the reverse) bounds both effects from below,
so a one-sided t test of its mean > 0 tests both signs at once (conservative).  Only runs with
status ``done`` enter (:func:`._sgw23_analysis.usable`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ._sgw23_analysis import cell, fitted_temperatures


def moves(df: pd.DataFrame) -> dict:
    """The lazy cells of one data set's grid and the per-seed effects of both moves (module
    docstring): ``{"a_lo", "a_hi", "T_hot", "cells": {T: {"dT", "da", "wT", "wa"}}}``, each
    effect a Series indexed by seed."""
    alphas, Ts = sorted(df["alpha"].unique()), sorted(df["T"].unique())
    a_lo, a_hi = float(alphas[0]), float(alphas[-1])
    T_hot = float((fitted_temperatures(df, a_hi) or Ts)[-1])
    cells = {}
    for T in (float(t) for t in Ts if t < T_hot):
        err = {k: cell(df, "test_err", alpha=a, T=t) for k, (a, t) in
               {"base": (a_hi, T), "hot": (a_hi, T_hot), "feat": (a_lo, T)}.items()}  # fmt: skip
        lwc = {k: np.log(cell(df, "weight_change", alpha=a, T=t)) for k, (a, t) in
               {"base": (a_hi, T), "hot": (a_hi, T_hot), "feat": (a_lo, T)}.items()}  # fmt: skip
        seeds = err["base"].index.intersection(err["hot"].index).intersection(err["feat"].index)
        if len(seeds) == 0:
            continue
        cells[T] = {
            "dT": err["hot"][seeds] - err["base"][seeds],
            "da": err["feat"][seeds] - err["base"][seeds],
            "wT": lwc["hot"][seeds] - lwc["base"][seeds],
            "wa": lwc["feat"][seeds] - lwc["base"][seeds],
        }
    return {"a_lo": a_lo, "a_hi": a_hi, "T_hot": T_hot, "cells": cells}


def _per_seed_mean(cells: dict, key: str) -> np.ndarray:
    """Per seed: the mean of ``key`` over the lazy cells that seed has."""
    if not cells:
        return np.array([])
    return pd.concat([c[key] for c in cells.values()], axis=1).mean(axis=1).to_numpy(float)


def criterion_values(m: dict) -> dict:
    """The per-seed values of the three criteria of one data set, by short name: ``escape-T``
    and ``escape-α`` (per seed, the mean over lazy cells of the move's ln ‖Δw‖/‖w0‖ change)
    and ``opposite`` (the cells of the existence test: each lazy cell in both orientations).
    A value that cannot be formed is a string saying why."""
    cells = m["cells"]
    if not cells:
        why = "no lazy cell with all three arms fitted"
        return {"escape-T": why, "escape-α": why, "opposite": why}
    opp = {}
    for T, c in cells.items():
        dT, da = c["dT"].to_numpy(float), c["da"].to_numpy(float)
        at = f"α={m['a_hi']:g}, T={T:g}"
        opp[f"{at}: T↑ helps, α↓ hurts"] = np.minimum(-dT, da)
        opp[f"{at}: T↑ hurts, α↓ helps"] = np.minimum(dT, -da)
    return {
        "escape-T": _per_seed_mean(cells, "wT"),
        "escape-α": _per_seed_mean(cells, "wa"),
        "opposite": opp,
    }


# --------------------------------------------------------------------------- report


def _ci(values, fmt="+.4f") -> str:
    from ._plots import mean_ci

    v = np.asarray(values, float)
    m, lo, hi = mean_ci(v)
    if v.size < 3:
        return f"{m:{fmt}} ({v.size} seeds: no interval)" if v.size else "—"
    return f"{m:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def _reading(dT: float, da: float) -> str:
    if not (math.isfinite(dT) and math.isfinite(da)):
        return "—"
    if dT * da < 0:
        return "opposite" + (" (T↑ helps, α↓ hurts)" if dT < 0 else " (T↑ hurts, α↓ helps)")
    return "same sign (both help)" if dT < 0 else "same sign (both hurt)"


def cells_table(name: str, m: dict) -> str:
    """Markdown: per lazy cell, both moves' effects on the test error and on ln ‖Δw‖/‖w0‖
    (seed means with 95% t intervals) and how their signs compare (seed means only)."""
    rows = [
        f"{name}: lazy row α = {m['a_hi']:g}; raise T to T_hot = {m['T_hot']:g}; lower α to "
        f"{m['a_lo']:g}.",
        "",
        "| T | seeds | Δ test error, T → T_hot | Δ test error, α → α_min | Δ ln ‖Δw‖/‖w0‖, T "
        "→ T_hot | Δ ln ‖Δw‖/‖w0‖, α → α_min | signs of the seed means |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for T, c in m["cells"].items():
        rows.append(
            f"| {T:g} | {len(c['dT'])} | {_ci(c['dT'])} | {_ci(c['da'])} | "
            f"{_ci(c['wT'], '+.3f')} | {_ci(c['wa'], '+.3f')} | "
            f"{_reading(float(c['dT'].mean()), float(c['da'].mean()))} |"
        )
    if not m["cells"]:
        rows.append("| — | 0 | no lazy cell with all three arms fitted | | | | |")
    return "\n".join(rows)


def figure(by_data: dict):
    """One panel per data set: the per-seed change of test error from each lazy cell when T
    is raised to T_hot and when α is lowered to α_min (points; seed mean with its t
    interval), against the cell's T.  Opposite effects: one series above 0, one below."""
    from matplotlib.figure import Figure

    from ._plots import log_axis, seeds_mean_ci

    n = len(by_data)
    fig = Figure(figsize=(5.0 * n, 3.8))
    axes = np.atleast_1d(fig.subplots(1, n))
    for ax, (name, m) in zip(axes, by_data.items(), strict=True):
        Ts = list(m["cells"])
        if Ts:
            # the two moves side by side at each cell (a small offset on the log axis)
            seeds_mean_ci(ax, [T * 0.93 for T in Ts], [m["cells"][T]["dT"].to_numpy() for T in Ts],
                          label=f"raise T to {m['T_hot']:g}", color="C3")  # fmt: skip
            seeds_mean_ci(ax, [T / 0.93 for T in Ts], [m["cells"][T]["da"].to_numpy() for T in Ts],
                          label=f"lower α to {m['a_lo']:g}", color="C0", marker="s")  # fmt: skip
            log_axis(ax, "x", ticks=Ts)
            ax.set_xlim(min(Ts) / 1.6, max(Ts) * 1.6)  # one cell alone would fill the axis
            ax.legend(fontsize=7)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xlabel(f"T of the lazy cell (α = {m['a_hi']:g})")
        ax.set_ylabel("change of test error")
        ax.set_title(f"SGW23 {name}: leaving the lazy regime", fontsize=10)
    fig.tight_layout()
    return fig
