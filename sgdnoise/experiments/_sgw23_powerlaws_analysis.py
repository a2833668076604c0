"""The analysis of ``sgw23-powerlaws`` (Sclocchi, Geiger & Wyart, ICML 2023; DESIGN.md §4.2):
from the runs' frames to the per-seed values its criteria take, and its figures.

**Joint power law.**  Per seed s, ordinary least squares of

    ln y = c_s + δ_s u + γ_s v,    u = ln T − ū,  v = ln P − v̄

over that seed's usable runs (status ``done``: a capped run has no t* and no final weight
change, only bounds) at the fitted temperatures, ū, v̄ the means of the fitted grid's ln T and
ln P.  The seed is the sampling unit: δ_s and γ_s are one value per seed.

**Adequacy.**  The same seed's runs fitted with the quadratic terms added,

    ln y = c + δ u + γ v + κ u² + ι u v + λ v²

(u² only with ≥ 3 temperatures, v² only with ≥ 3 P).  A power law has constant local
exponents ∂ln y/∂ln T and ∂ln y/∂ln P; the quadratic terms make them drift across the fitted
grid by 2κ R_u and ι R_v (the T exponent, across T and across P) and ι R_u and 2λ R_v (the P
exponent), R_u and R_v the ranges of u and v.  Two signed per-seed values are judged:
``curv_T = 2κ R_u`` (is the T dependence a power law?) and ``inter = ι·max(R_u, R_v)`` (is
it a product T^δ P^γ, or does one exponent move with the other variable?).  Signed values
average to 0 under a power law whatever the noise, so they take an equivalence test; the
unsigned ``drift`` (the largest of the four magnitudes) is reported only — the noise alone
makes it positive (≈ 0.3 at a per-cell spread of 10% on the cpu grid).

**Late training.**  From the late-training runs (:mod:`._sgw23_powerlaws_worker`): per seed,
the share of the final weight change made after the training loss first fell to the level
(``late_share``), and, between two temperatures with the same seed (same w0, same batch
sequence), the test-error difference ``D = err(T_hot) − err(T_cold)`` at the end and at the
two runs' own late-phase starts: the late part ``D_end − D_ℓ`` against the early part
``D_ℓ``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ._sgw23_analysis import curves_figure, seed_difference, usable

#: the quantities fitted jointly in T and P
QUANTITIES = {"weight_change": "‖Δw‖/‖w0‖", "t_star": "t*"}


def _fit_rows(df: pd.DataFrame, col: str, fit_T) -> pd.DataFrame:
    ok = usable(df)
    ok = ok[np.isin(np.round(ok["T"].astype(float), 12), np.round(np.asarray(fit_T, float), 12))]
    y = ok[col].astype(float)
    return ok[np.isfinite(y) & (y > 0)]


def joint_fits(df: pd.DataFrame, col: str, fit_T) -> pd.DataFrame:
    """Per seed: ``c, delta, gamma`` of the joint power law, ``drift`` (the adequacy
    statistic of the module docstring, NaN when the seed has too few cells for the
    quadratic model), ``cells`` and the largest relative residual of the power law.  The
    centring ū, v̄ and the ranges R_u, R_v are those of the fitted grid (every seed)."""
    rows = _fit_rows(df, col, fit_T)
    cols = ["seed", "c", "delta", "gamma", "curv_T", "inter", "drift", "cells", "max_resid"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    lT, lP = (
        np.log(np.sort(np.unique(rows["T"].astype(float)))),
        np.log(np.sort(np.unique(rows["n_train"].astype(float)))),
    )
    ub, vb, Ru, Rv = lT.mean(), lP.mean(), np.ptp(lT), np.ptp(lP)
    out = []
    for sd, g in rows.groupby("seed"):
        u = np.log(g["T"].to_numpy(float)) - ub
        v = np.log(g["n_train"].to_numpy(float)) - vb
        y = np.log(g[col].to_numpy(float))
        nu, nv = np.unique(np.round(u, 12)).size, np.unique(np.round(v, 12)).size
        if nu < 2 or nv < 2:
            continue
        X = np.column_stack([np.ones_like(u), u, v])
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ beta
        extra = [u * v] + ([u * u] if nu >= 3 else []) + ([v * v] if nv >= 3 else [])
        Xq = np.column_stack([X, *extra])
        drift = curv = inter = math.nan
        if len(y) > Xq.shape[1]:  # at least one residual degree of freedom
            q, *_ = np.linalg.lstsq(Xq, y, rcond=None)
            iota = q[3]
            k = 4
            kappa = q[k] if nu >= 3 else 0.0
            k += nu >= 3
            lam = q[k] if nv >= 3 else 0.0
            drifts = (2 * kappa * Ru, iota * Rv, iota * Ru, 2 * lam * Rv)
            drift = float(max(abs(x) for x in drifts))
            curv = float(2 * kappa * Ru) if nu >= 3 else math.nan
            inter = float(iota * max(Ru, Rv))
        out.append(
            {
                "seed": sd, "c": beta[0], "delta": beta[1], "gamma": beta[2], "curv_T": curv,
                "inter": inter, "drift": drift,
                "cells": len(y), "max_resid": float(np.max(np.abs(np.expm1(resid)))),
            }
        )  # fmt: skip
    return pd.DataFrame(out, columns=cols).set_index("seed", drop=False)


def powerlaw_values(df: pd.DataFrame, fit_T) -> dict:
    """Per-seed values of the power-law criteria, by short name: ``delta_<q>``,
    ``gamma_<q>`` (exponents), ``curv_<q>`` and ``inter_<q>`` (the signed exponent drifts
    of the module docstring) for q in :data:`QUANTITIES`, and the fits under ``fits``."""
    vals, fits = {}, {}
    for q in QUANTITIES:
        f = joint_fits(df, q, fit_T)
        fits[q] = f
        vals[f"delta_{q}"] = f["delta"].to_numpy(float)
        vals[f"gamma_{q}"] = f["gamma"].to_numpy(float)
        for col, short in (("curv_T", "curv"), ("inter", "inter")):
            d = f[col].to_numpy(float)
            d = d[np.isfinite(d)]
            vals[f"{short}_{q}"] = d if d.size else f"too few cells or temperatures for {col}"
    vals["fits"] = fits
    return vals


def a_versus_ratio(a_by_seed: pd.Series, fits: pd.DataFrame) -> np.ndarray:
    """Per seed ``a − γ/δ``: T_c's exponent (sgw23-tc's measurement) against the ratio of the
    weight change's joint exponents — where T^δ P^γ reaches a P-independent T → 0 value,
    T_c ∝ P^(−γ/δ)."""
    ratio = (fits["gamma"] / fits["delta"]).astype(float)
    return seed_difference(a_by_seed.astype(float), ratio)


# --------------------------------------------------------------------------- late training


def late_values(late: pd.DataFrame, T_cold: float, T_hot: float) -> dict:
    """Per-seed values of the late-training criteria (module docstring).

    ``share``: ``late_share − ½`` at T_hot (above 0 when more than half of the final weight
    change was made after the loss fell to the level).  ``err``: the late minus the early
    part of the test-error difference, ``(D_end − D_ℓ) − D_ℓ``, signed by the direction of
    the seed-mean D_end (above 0 when more than half of the difference arose late); a string
    saying why when D_end's own 95% interval contains 0 (no difference to apportion).  Also
    the tables behind them."""
    from ._plots import mean_ci

    ok = usable(late)
    ok = ok[np.isfinite(ok["t_late"].astype(float))] if "t_late" in ok else ok.iloc[:0]
    at = lambda T: ok[np.isclose(ok["T"].astype(float), T)].groupby("seed")
    hot, cold = at(T_hot), at(T_cold)
    share_hot = hot["late_share"].mean().astype(float)
    share_cold = cold["late_share"].mean().astype(float)
    d_end = seed_difference(hot["test_err"].mean(), cold["test_err"].mean())
    d_ell = seed_difference(hot["test_err_late"].mean(), cold["test_err_late"].mean())
    m, lo, hi = mean_ci(d_end)
    if d_end.size < 3 or not (lo > 0 or hi < 0):
        err = (
            f"no test-error difference between T = {T_hot:g} and {T_cold:g} to apportion: "
            f"D_end = {m:.3g}, 95% interval [{lo:.3g}, {hi:.3g}] ({d_end.size} seeds)"
        )
    else:
        err = np.sign(m) * ((d_end - d_ell) - d_ell)
    # the late phase is located in a run when its start lies within the run (t_ℓ ≤ t_end)
    inside = ok["t_late"].astype(float) <= ok["time"].astype(float) * (1 + 1e-9)
    located = float(inside.sum()) / len(late) if len(late) else 0.0
    return {
        "share": (share_hot - 0.5).to_numpy(float),
        "err": err,
        "located": located,
        "share_hot": share_hot,
        "share_cold": share_cold,
        "d_end": d_end,
        "d_ell": d_ell,
    }


def shares_by_level(curves: pd.DataFrame, levels, alpha: float) -> pd.DataFrame:
    """From the runs' curves (``train_loss``, ``weight_change`` against time): per run and
    level ℓ (a fraction of L0 = 1/α), the norm reading of the late share,
    ``1 − ‖w(t_ℓ) − w0‖/‖w_f − w0‖`` — how the judged share depends on the stated level."""
    rows = []
    for key, g in curves.groupby("key"):
        L = g[g["name"] == "train_loss"].sort_values("x")
        W = g[g["name"] == "weight_change"].sort_values("x")
        if L.empty or W.empty:
            continue
        loss, wc = L["y"].to_numpy(float), W["y"].to_numpy(float)
        for lev in levels:
            hit = np.nonzero(loss <= lev / alpha)[0]
            share = 1.0 - wc[hit[0]] / wc[-1] if hit.size and wc[-1] > 0 else math.nan
            rows.append({"key": key, "T": float(g["T"].iloc[0]), "seed": int(g["seed"].iloc[0]),
                         "level": lev, "late_norm_share": share})  # fmt: skip
    return pd.DataFrame(rows, columns=["key", "T", "seed", "level", "late_norm_share"])


# --------------------------------------------------------------------------- figures


def powerlaw_figure(df: pd.DataFrame, col: str, fits: pd.DataFrame, fit_T, title: str):
    """``col`` against T per P (:func:`._sgw23_analysis.curves_figure`: each seed a point,
    the seed mean with its t interval) with the joint power law at the seed-mean exponents
    drawn over the fitted temperatures, dashed, one line per P."""
    fig = curves_figure(df, col, hue="n_train", ylabel=QUANTITIES[col], title=title)
    ax = fig.axes[0]
    if len(fits):
        rows = _fit_rows(df, col, fit_T)
        lT = np.log(np.unique(rows["T"].astype(float)))
        lP = np.log(np.unique(rows["n_train"].astype(float)))
        c, d, g = fits["c"].mean(), fits["delta"].mean(), fits["gamma"].mean()
        x = np.geomspace(np.exp(lT.min()), np.exp(lT.max()), 20)
        colors = {ln.get_label().split(" ")[0]: ln.get_color() for ln in ax.get_lines()}
        for P in np.exp(lP):
            y = np.exp(c + d * (np.log(x) - lT.mean()) + g * (np.log(P) - lP.mean()))
            ax.plot(x, y, "--", lw=1, color=colors.get(f"n_train={P:g}", "black"))
        ax.plot([], [], "k--", lw=1, label=f"T^δ P^γ fit: δ = {d:.3g}, γ = {g:.3g} (seed means)")
        ax.legend(fontsize=7)
    return fig


def late_figure(curves: pd.DataFrame, vals: dict, level: float, alpha: float, Ts):
    """Left: ‖w − w0‖ as a fraction of its final value against the training loss (in units
    of L0 = 1/α), one line per late-training run, the level dashed; right: per seed, the
    late share of the final weight change at each T, and the test-error difference between
    the two T at the late-phase start and at the end."""
    from matplotlib.figure import Figure

    from ._plots import log_axis, seeds_mean_ci

    fig = Figure(figsize=(10.5, 4.0))
    ax, bx = fig.subplots(1, 2)
    for i, T in enumerate(Ts):
        sub = curves[np.isclose(curves["T"].astype(float), T)]
        for j, (_, g) in enumerate(sub.groupby("key")):
            L = g[g["name"] == "train_loss"].sort_values("x")["y"].to_numpy(float) * alpha
            W = g[g["name"] == "weight_change"].sort_values("x")["y"].to_numpy(float)
            if L.size and W[-1] > 0:
                keep = L > 0
                ax.plot(L[keep], W[keep] / W[-1], color=f"C{i}", lw=0.8, alpha=0.6,
                        label=f"T = {T:g}" if j == 0 else None)  # fmt: skip
    ax.axvline(level, color="black", ls="--", lw=1, label=f"level ℓ = {level:g} L0")
    log_axis(ax, "x")
    ax.invert_xaxis()
    ax.set_xlabel("training loss / L0 (training runs left to right)")
    ax.set_ylabel("‖w − w0‖ / ‖w_final − w0‖")
    ax.set_title("weight change against training loss", fontsize=10)
    ax.legend(fontsize=7)
    shares = [vals["share_cold"].to_numpy(float), vals["share_hot"].to_numpy(float)]
    seeds_mean_ci(bx, [0, 1], shares, label="late share of ‖Δw‖")
    diffs = [vals["d_ell"], vals["d_end"]]
    seeds_mean_ci(bx, [2, 3], diffs, label="test err(T_hot) − err(T_cold)", marker="s")
    bx.axhline(0.5, color="grey", ls=":", lw=1)
    bx.axhline(0.0, color="grey", lw=0.5)
    bx.set_xticks([0, 1, 2, 3])
    ticks = [f"share\nT={Ts[0]:g}", f"share\nT={Ts[1]:g}", "Δerr at\nloss ≤ ℓ", "Δerr\nat end"]
    bx.set_xticklabels(ticks, fontsize=8)
    bx.set_title("late share of ‖Δw‖ (½ dotted); the T effect on test error", fontsize=10)
    bx.legend(fontsize=7)
    return fig


def exponents_figure(fits: dict, a_by_seed: pd.Series):
    """Per-seed exponents: δ and γ of each quantity, and T_c's a beside γ/δ of ‖Δw‖."""
    from matplotlib.figure import Figure

    from ._plots import seeds_mean_ci

    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.add_subplot()
    labels, vals = [], []
    for q, name in QUANTITIES.items():
        f = fits[q]
        labels += [f"δ {name}", f"γ {name}"]
        vals += [f["delta"].to_numpy(float), f["gamma"].to_numpy(float)]
    wc = fits["weight_change"]
    labels += ["a (T_c)", "γ/δ ‖Δw‖"]
    vals += [a_by_seed.to_numpy(float), (wc["gamma"] / wc["delta"]).to_numpy(float)]
    line = seeds_mean_ci(ax, range(len(labels)), vals, label="per-seed exponent")
    line.set_linestyle("none")  # separate quantities: nothing to connect
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=8, rotation=20)
    ax.set_title("SGW23: joint exponents y ∝ T^δ P^γ, and a against γ/δ", fontsize=10)
    ax.legend(fontsize=7)
    return fig
