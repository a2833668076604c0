"""Figures of claim ``sgw23-perceptron`` (one style: :mod:`._plots` — log axes labelled at
the grid's values, each seed a point, the seed mean with its t interval, theory dashed and
labelled, "(derived)" for b)."""

from __future__ import annotations

import numpy as np

from . import _plots
from ._sgw23_perceptron_analysis import NOISE_AT, predictions, with_observables

_COLORS = {0.0: "C0", 1.0: "C1", 3.0: "C2"}


def _per_seed(df, x: str, col: str):
    """Grid values of ``x`` and, for each, the per-seed values of ``col`` (geometric mean
    over the seed's runs at that x, e.g. over the noise temperatures)."""
    g = np.exp(np.log(df[col]).groupby([df[x], df["seed"]]).mean())
    xs = sorted(df[x].unique())
    return xs, [g.loc[v].to_numpy(float) for v in xs]


def _y_ticks(ax):
    """1–2–5 values inside the drawn y range (a log axis spanning less than a decade has
    no power of ten to label)."""
    lo, hi = ax.get_ylim()
    decades = range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
    marks = (1,) if len(decades) > 4 else (1, 2, 5)  # wide ranges: powers of ten only
    ticks = [m * 10.0**e for e in decades for m in marks if lo <= m * 10.0**e <= hi]
    _plots.log_axis(ax, "y", ticks=ticks if len(ticks) > 2 else np.geomspace(lo, hi, 4).round(2))


def _theory(ax, xs, vals, slope, color, label, derived=False):
    """The predicted power law through the geometric centre of the seed means."""
    x = np.asarray(xs, float)
    m = np.array([np.mean(v) for v in vals])
    x0, y0 = np.exp(np.log(x).mean()), np.exp(np.log(m).mean())
    _plots.theory_line(ax, x, y0 * (x / x0) ** slope, label=label, derived=derived, color=color)


def noise_regime(ctx, df, s) -> None:
    """‖Δw_⊥‖/(T√d), Δw₁/‖Δw_⊥‖, t*/(Td) and T_c against P in the noise regime."""
    from matplotlib.figure import Figure

    obs = with_observables(df)
    obs = obs[(obs["aT"] >= NOISE_AT) & (obs["d"] == min(s.ds))]
    panels = [
        ("perp", "‖Δw_⊥‖ / (T√d)", "perp_P", "P^0", False),
        ("ratio", "Δw₁ / ‖Δw_⊥‖", "ratio_P", "P^{1/(1+χ)}", False),
        ("tstar", "t* / (T d)", "tstar_P", "P^{(3+χ)/(1+χ)}", True),
        ("tc", "T_c = T√d / Δw₁", "tc_P", "P^{−1/(1+χ)}", False),
    ]
    fig = Figure(figsize=(18, 4.6))
    fig.subplots_adjust(wspace=0.32)
    ticks = sorted(obs["P"].unique())
    for k, (col, ylabel, law, form, derived) in enumerate(panels):
        ax = fig.add_subplot(1, 4, k + 1)
        for chi in s.chis:
            z = obs[obs["chi"] == chi]
            if z.empty:
                continue
            xs, vals = _per_seed(z, "P", col)
            c = _COLORS.get(chi)
            _plots.seeds_mean_ci(ax, xs, vals, label=f"χ = {chi:g}", color=c)
            slope = predictions(chi)[law]
            _theory(ax, xs, vals, slope, c, f"theory {form}: slope {slope:.3g}", derived)
        _plots.log_axis(ax, "x", ticks=ticks)
        ax.set_yscale("log")
        _y_ticks(ax)
        ax.tick_params(axis="x", labelrotation=45)
        ax.set_xlabel("P (training-set size)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=6)
    fig.suptitle(
        f"noise regime (αT ∈ {', '.join(f'{v:g}' for v in s.noise_aT)}), d = {min(s.ds)}: "
        "seeds (points), "
        "seed mean ± 95% t interval, theory (dashed)"
    )
    ctx.savefig(fig, "noise_regime_vs_P")


def crossover(ctx, df, s) -> None:
    """αΔw₁/√d against αT at one P per χ: the T-independent plateau of gradient descent
    (T ≪ 1/α) meets the noise line Δw₁ ∝ T (T ≫ 1/α)."""
    from matplotlib.figure import Figure

    obs = with_observables(df)
    fig = Figure(figsize=(6, 4.6))
    ax = fig.add_subplot(1, 1, 1)
    for chi in s.chis:
        z = obs[(obs["chi"] == chi) & (obs["P"] == s.P_cross(chi)) & (obs["d"] == min(s.ds))]
        if z["aT"].nunique() < 2:
            continue
        z = z.assign(y=z["alpha"] * z["dw1"] / np.sqrt(z["d"].astype(float)))
        xs, vals = _per_seed(z, "aT", "y")
        _plots.seeds_mean_ci(ax, xs, vals, label=f"χ = {chi:g}, P = {s.P_cross(chi)}",
                             color=_COLORS.get(chi))  # fmt: skip
    ax.axvline(1.0, color="k", ls=":", lw=1, label="αT = 1")
    _plots.log_axis(ax, "x", ticks=sorted(obs["aT"].unique()))
    ax.set_yscale("log")
    _y_ticks(ax)
    ax.set_xlabel("αT")
    ax.set_ylabel("α Δw₁ / √d")
    ax.set_title("gradient-descent plateau (T⁰) → noise line (T¹)")
    ax.legend(fontsize=7)
    ctx.savefig(fig, "crossover")
