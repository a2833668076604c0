"""The analysis of SGW23's network grids (Sclocchi, Geiger & Wyart, ICML 2023; DESIGN.md §4.2):
from a grid's frame (one row per run, :func:`sgdnoise.experiments._grid.run_grid`) to the
per-seed values the criteria of ``sgw23-phase`` and ``sgw23-tc`` take, and their figures.

Only runs with status ``done`` enter any value: a ``capped`` run (a step or time cap
stopped it before every point was fitted) has no t* and no final weight change, only bounds,
and a ``diverged`` or ``failed`` run has nothing.  The sampling unit is the seed (the
initialization and the batch sequence; the data subset is the same in every run): every
value is a per-seed difference, slope or optimum, and a seed missing from one arm of a
comparison is dropped from it, never imputed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .criteria import per_seed_slopes

#: T_c: where ‖Δw‖/‖w0‖ has grown by this fraction of its T → 0 value.
TC_FRACTION = 0.5
#: The straight line through the three lowest T (the T → 0 extrapolation of ‖Δw‖/‖w0‖) is
#: trusted when it misses none of them by more than this relative amount: about twice the
#: standard error of a seed mean of ‖Δw‖/‖w0‖ at fixed (P, T) (measured at cpu scale: 1.5–7%
#: with 2 seeds), far below the misfit of an onset that is not linear (q = 1 + T² on
#: T = 0.3, 1, 3 misses by 59%).
LINEAR_TOL = 0.10


def usable(df: pd.DataFrame) -> pd.DataFrame:
    """The runs every value is read from: status ``done`` (fitted, not capped)."""
    return df[df["status"] == "done"]


def status_counts(df: pd.DataFrame) -> dict[str, int]:
    """Runs per status (done, capped, diverged, failed), zeros included."""
    got = df["status"].value_counts()
    return {s: int(got.get(s, 0)) for s in ("done", "capped", "diverged", "failed")}


def cell(df: pd.DataFrame, col: str, **where) -> pd.Series:
    """``col`` of the usable runs of one grid cell, indexed by seed (mean over duplicates)."""
    sub = usable(df)
    for k, v in where.items():
        sub = sub[np.isclose(sub[k].astype(float), float(v))]
    sub = sub[np.isfinite(sub[col].astype(float))]
    return sub.groupby("seed")[col].mean().astype(float)


def seed_difference(a: pd.Series, b: pd.Series) -> np.ndarray:
    """``a − b`` over the seeds present in both (per-seed, seed-paired)."""
    common = a.index.intersection(b.index)
    return (a[common] - b[common]).to_numpy(dtype=float)


# --------------------------------------------------------------------------- sgw23-phase


def optimal_temperature(df: pd.DataFrame, alpha: float) -> pd.Series:
    """Per seed, the T of lowest test error at ``alpha`` among that seed's usable runs
    (a seed with fewer than two usable T has none)."""
    sub = usable(df)
    sub = sub[np.isclose(sub["alpha"].astype(float), alpha) & np.isfinite(sub["test_err"])]
    out = {}
    for seed, g in sub.groupby("seed"):
        if g["T"].nunique() >= 2:
            out[seed] = float(g.loc[g["test_err"].astype(float).idxmin(), "T"])
    return pd.Series(out, dtype=float)


def opposite_effect_cells(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per lazy cell (the largest α, each T but the hottest), the per-seed values of the
    two ways raising T and lowering α can have opposite effects on the test error.

    With ``dT = err(α_max, T⁺) − err(α_max, T)`` (T⁺ the next hotter T of the grid) and
    ``dα = err(α_min, T) − err(α_max, T)``, each seed gives ``min(−dT, dα)`` ("raising T
    helps, lowering α hurts") and ``min(dT, −dα)`` (the reverse).  A mean of such minima
    above 0 bounds both means from below (min(x, y) ≤ x and ≤ y seed by seed), so a
    one-sided t test of it > 0 is a valid (conservative) test that both effects have the
    stated, opposite signs."""
    alphas, Ts = sorted(df["alpha"].unique()), sorted(df["T"].unique())
    a_lo, a_hi = alphas[0], alphas[-1]
    cells = {}
    for T, T_up in zip(Ts[:-1], Ts[1:], strict=True):
        base = cell(df, "test_err", alpha=a_hi, T=T)
        hot = cell(df, "test_err", alpha=a_hi, T=T_up)
        feat = cell(df, "test_err", alpha=a_lo, T=T)
        seeds = base.index.intersection(hot.index).intersection(feat.index)
        if len(seeds) == 0:
            continue
        dT = (hot[seeds] - base[seeds]).to_numpy(float)
        da = (feat[seeds] - base[seeds]).to_numpy(float)
        at = f"α={a_hi:g}, T={T:g}"
        cells[f"{at}: T↑ helps, α↓ hurts"] = np.minimum(-dT, da)
        cells[f"{at}: T↑ hurts, α↓ helps"] = np.minimum(dT, -da)
    return cells


def fitted_temperatures(df: pd.DataFrame, *alphas: float) -> list[float]:
    """The T at which every seed of the grid has a usable run at each of ``alphas`` (in
    increasing T): comparisons are read between these, so a cap that stopped some seeds at
    an extreme T moves the comparison inward rather than dropping those seeds.  The choice
    depends on which runs fitted, never on the values compared."""
    ok = usable(df)
    seeds = set(ok["seed"].unique())  # a seed with no fitted run at all has nothing to pair
    Ts = []
    for T in sorted(df["T"].unique()):
        at = ok[np.isclose(ok["T"].astype(float), T)]
        if all(
            set(at.loc[np.isclose(at["alpha"].astype(float), a), "seed"]) >= seeds for a in alphas
        ):
            Ts.append(float(T))
    return Ts


def _ends(df: pd.DataFrame, *alphas: float) -> tuple[float, float]:
    f = fitted_temperatures(df, *alphas) or sorted(df["T"].unique())
    return float(f[0]), float(f[-1])


def phase_values(df: pd.DataFrame) -> dict:
    """The per-seed values of every ``sgw23-phase`` criterion on one data set's grid,
    by short name (see :mod:`sgdnoise.experiments.sgw23_phase`); T_lo and T_hi are the
    coldest and hottest of :func:`fitted_temperatures` at the α compared (the grid's own
    ends when no T has every seed fitted):

    * ``L``: ln ‖Δw‖/‖w0‖ at (α_min, T_lo) minus at (α_max, T_lo);
    * ``N``: ln ‖Δw‖/‖w0‖ at (α_max, T_hi) minus at (α_max, T_lo);
    * ``U``: test error at (α_max, T_hi) minus at (α_max, T_lo);
    * ``T_opt``: ln T_opt(α₂) − ln T_opt(α_min), α₂ the next α of the grid, T_opt per seed;
    * ``opposite``: the cells of :func:`opposite_effect_cells`.

    A value that cannot be formed is a string saying why (the criterion is then undecided).
    """
    alphas = sorted(df["alpha"].unique())
    a_lo, a_2, a_hi = alphas[0], alphas[1], alphas[-1]
    (T_l, _), (T_lo, T_hi) = _ends(df, a_lo, a_hi), _ends(df, a_hi)
    lwc = lambda a, T: np.log(cell(df, "weight_change", alpha=a, T=T))
    err = lambda a, T: cell(df, "test_err", alpha=a, T=T)
    topt_lo, topt_2 = optimal_temperature(df, a_lo), optimal_temperature(df, a_2)
    return {
        "L": seed_difference(lwc(a_lo, T_l), lwc(a_hi, T_l)),
        "N": seed_difference(lwc(a_hi, T_hi), lwc(a_hi, T_lo)),
        "U": seed_difference(err(a_hi, T_hi), err(a_hi, T_lo)),
        "T_opt": seed_difference(np.log(topt_2), np.log(topt_lo)),
        "opposite": opposite_effect_cells(df) or "no lazy cell with all three arms fitted",
        "T_compared": {"L": T_l, "N/U": (T_lo, T_hi)},
    }


# --------------------------------------------------------------------------- sgw23-tc


def low_temperature_value(T, q) -> dict:
    """How the T → 0 value of one P's seed-mean ‖Δw‖/‖w0‖ curve is known.

    ``measured``: the two lowest T agree within ``TC_FRACTION/2`` (the grid reaches the
    plateau; q0 is the lowest-T value).  ``linear``: the straight line through the three
    lowest T (:func:`sgdnoise.sweeps.analysis.low_temperature_limit`; the noise part of the
    weight change is linear in T at small T, as ‖Δw_⊥‖ ∝ T in SGW23's perceptron) fits them
    within :data:`LINEAR_TOL` with a positive intercept and slope.  Otherwise the T → 0
    value is unknown and T_c would only mark the grid's lower end."""
    from ..sweeps.analysis import low_temperature_limit

    order = np.argsort(T)
    T, q = np.asarray(T, float)[order], np.asarray(q, float)[order]
    measured = bool(T.size >= 2 and abs(q[1] / q[0] - 1) < TC_FRACTION / 2)
    lim = low_temperature_limit(T, q) if T.size >= 3 else None
    linear = bool(
        lim is not None and lim.q0 > 0 and lim.slope >= 0 and lim.max_rel_residual <= LINEAR_TOL
    )
    return {
        "measured": measured,
        "linear": linear,
        "known": measured or linear,
        "q0": lim.q0 if linear else float(q[0]),
        "q0_from": "linear extrapolation" if linear else "lowest T",
        "line_misfit": lim.max_rel_residual if lim is not None else math.nan,
    }


def tc_per_seed(df: pd.DataFrame, fraction: float = TC_FRACTION):
    """T_c per P on the seed-mean curve and per (P, seed), from usable runs only.

    Returns ``(per_P, per_seed)`` frames.  ``per_P``: P, T_c of the seed-mean curve, how
    its T → 0 value is known (:func:`low_temperature_value`), capped runs left out.
    ``per_seed``: P, seed, T_c (each seed's own curve, its T → 0 value by the same rule as
    its P: its own line when the P's mean curve is linear, else its lowest-T value)."""
    from ..sweeps.analysis import critical_temperature

    ok = usable(df)
    ok = ok[np.isfinite(ok["weight_change"].astype(float))]
    rows, seeds = [], []
    for P, g in df.groupby("n_train"):
        gu = ok[np.isclose(ok["n_train"].astype(float), float(P))]
        mean = gu.groupby("T")["weight_change"].mean()
        row = {"n_train": int(P), "capped": int((g["status"] == "capped").sum())}
        if len(mean) < 2:
            rows.append(dict(row, T_c=math.nan, known=False, q0=math.nan, q0_from="—",
                             line_misfit=math.nan, measured=False, linear=False))  # fmt: skip
            continue
        low = low_temperature_value(mean.index, mean.to_numpy())
        q0 = "linear" if low["linear"] else None
        tc = critical_temperature(mean.index, mean.to_numpy(), fraction=fraction, q0=q0)
        rows.append(dict(row, T_c=tc, **low))
        for sd, s in gu.groupby("seed"):
            if s["T"].nunique() < (3 if q0 else 2):
                continue
            tc_s = critical_temperature(
                s["T"].to_numpy(float), s["weight_change"].to_numpy(float),
                fraction=fraction, q0=q0,
            )  # fmt: skip
            seeds.append({"n_train": int(P), "seed": int(sd), "T_c": tc_s})
    per_seed = pd.DataFrame(seeds, columns=["n_train", "seed", "T_c"])
    return pd.DataFrame(rows), per_seed


def slopes_by_seed(df: pd.DataFrame, x: str, y: str) -> pd.Series:
    """Per seed, the least-squares slope of ln y on ln x (:func:`criteria.per_seed_slopes`),
    indexed by seed; a seed with fewer than two distinct x has none."""
    out = {}
    for sd, g in df.groupby("seed"):
        s = per_seed_slopes(g[x], g[y], g["seed"])
        if s.size:
            out[sd] = float(s[0])
    return pd.Series(out, dtype=float)


def growth_with_T(df: pd.DataFrame, col: str) -> np.ndarray:
    """Per seed: the mean over P of ``ln col(T_hot) − ln col(T_cold)``, T_cold and T_hot the
    coldest and hottest T at which that (seed, P) has a usable run (a capped run has no t*
    and no final weight change: the comparison uses the fitted temperatures around it)."""
    ok = usable(df)
    ok = ok[np.isfinite(ok[col].astype(float)) & (ok[col].astype(float) > 0)]
    per = {}
    for (sd, _P), g in ok.groupby(["seed", "n_train"]):
        if g["T"].nunique() >= 2:
            g = g.sort_values("T")
            per.setdefault(sd, []).append(math.log(g[col].iloc[-1] / g[col].iloc[0]))
    return np.array([np.mean(v) for v in per.values()], dtype=float)


def tc_values(df: pd.DataFrame, fraction: float = TC_FRACTION) -> dict:
    """The per-seed values of every ``sgw23-tc`` criterion (see
    :mod:`sgdnoise.experiments.sgw23_tc`) and the tables behind them.

    ``a``: per seed, minus the slope of ln T_c on ln P over the P whose T → 0 value is
    known; ``gamma``: per seed, the slope of ln ‖Δw‖/‖w0‖ on ln P at the hottest T (the
    noise-dominated end of the grid); ``a_gamma``: their per-seed difference a − γ."""
    per_P, per_seed = tc_per_seed(df, fraction)
    known = set(per_P.loc[per_P["known"].astype(bool), "n_train"].astype(int))
    fit = per_seed[per_seed["n_train"].isin(known) & np.isfinite(per_seed["T_c"])]
    a = -slopes_by_seed(fit, "n_train", "T_c")
    T_hot = float(df["T"].max())
    hot = usable(df)
    hot = hot[np.isclose(hot["T"].astype(float), T_hot) & (hot["weight_change"] > 0)]
    gamma = slopes_by_seed(hot, "n_train", "weight_change")
    why = f"T_c fits need the T → 0 value known at ≥ 2 P (known at {sorted(known)})"
    return {
        "wc_grows": growth_with_T(df, "weight_change"),
        "tstar_grows": growth_with_T(df, "t_star"),
        "located": float(np.isfinite(per_P["T_c"]).mean()) if len(per_P) else 0.0,
        "fitted": float((df["status"] == "done").mean()) if len(df) else 0.0,
        "a": a.to_numpy() if len(known) >= 2 else why,
        "a_gamma": seed_difference(a, gamma) if len(known) >= 2 else why,
        "per_P": per_P,
        "per_seed": per_seed,
        "a_by_seed": a,
        "gamma_by_seed": gamma,
        "T_hot": T_hot,
        "known": sorted(known),
    }


# --------------------------------------------------------------------------- figures


def _log_y(ax, values) -> None:
    """A log y axis framed on the per-seed points (a t interval of three seeds may reach
    near 0 and would squash them), labelled at 1, 2, 5 × 10^k inside that frame."""
    from ._plots import log_axis

    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return log_axis(ax, "y")
    lo, hi = v.min() / 1.5, v.max() * 1.5
    k = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    ticks = [m * 10.0**e for e in k for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]
    log_axis(ax, "y", ticks=ticks or None)
    ax.set_ylim(lo, hi)


def curves_figure(df: pd.DataFrame, col: str, *, hue: str, ylabel: str, title: str):
    """``col`` against T, one series per ``hue`` value: each seed a point, the seed mean
    with its t interval (:func:`sgdnoise.experiments._plots.seeds_mean_ci`); usable runs
    only; log axes labelled at the grid's temperatures."""
    from matplotlib.figure import Figure

    from ._plots import log_axis, seeds_mean_ci

    ok = usable(df)
    ok = ok[np.isfinite(ok[col].astype(float))]
    Ts = sorted(df["T"].unique())
    fig = Figure(figsize=(5.8, 4.0))
    ax = fig.add_subplot()
    for h, g in ok.groupby(hue):
        xs = [T for T in Ts if (np.isclose(g["T"], T)).any()]
        vals = [g.loc[np.isclose(g["T"], T), col].to_numpy(float) for T in xs]
        seeds_mean_ci(ax, xs, vals, label=f"{hue}={h:g}")
    log_axis(ax, "x", ticks=Ts)
    _log_y(ax, ok[col])
    ax.set_xlabel("T = η/(B h)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return fig


def tc_figure(values: dict):
    """T_c per seed against P (points; seed mean with its t interval), the power law with
    the seeds' mean exponent a, and the derived prediction a = γ drawn through the same
    centre."""
    from matplotlib.figure import Figure

    from ._plots import log_axis, seeds_mean_ci, theory_line

    ps = values["per_seed"]
    ps = ps[np.isfinite(ps["T_c"])]
    fig = Figure(figsize=(5.4, 4.0))
    ax = fig.add_subplot()
    Ps = sorted(ps["n_train"].unique())
    if Ps:
        vals = [ps.loc[ps["n_train"] == P, "T_c"].to_numpy(float) for P in Ps]
        seeds_mean_ci(ax, Ps, vals, label="T_c")
        x = np.geomspace(min(Ps), max(Ps), 50)
        lx0 = np.mean(np.log(ps["n_train"]))
        ly0 = np.mean(np.log(ps["T_c"]))
        a, g = values["a_by_seed"], values["gamma_by_seed"]
        if len(a):
            ax.plot(x, np.exp(ly0 - a.mean() * (np.log(x) - lx0)), "-", color="C1",
                    label=f"T_c ∝ P^(−a), a = {a.mean():.3g} (seed mean)")  # fmt: skip
        if len(g):
            theory_line(ax, x, np.exp(ly0 - g.mean() * (np.log(x) - lx0)),
                        label=f"a = γ = {g.mean():.3g}", derived=True)  # fmt: skip
        log_axis(ax, "x", ticks=Ps)
        _log_y(ax, ps["T_c"])
        ax.legend(fontsize=7)
    ax.set_xlabel("P (training points)")
    ax.set_ylabel("T_c")
    ax.set_title("SGW23 lazy regime: T_c against P", fontsize=10)
    return fig
