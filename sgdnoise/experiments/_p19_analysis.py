"""Analysis of the P19 width grid (Park, Sohl-Dickstein, Le & Smith, ICML 2019): per-seed
optima, their normalized noise scale, the largest stable rate, B_max, the per-seed slopes
the criteria of `p19-width` and `p19-bmax` take, the figures and the table.

Per family, width k and seed s (the sampling unit):

* **optimum** (η*, B*): the grid point with the best late test accuracy of seed s at width
  k (:func:`sgdnoise.sweeps.analysis.per_seed_optimum`; diverged runs never win);
* **ḡ_opt = ε* N/B*** with ε* the NTK-equivalent rate: ε = η for the NTK
  parameterization, ε = η n/σ_w² for the standard one, n = :func:`reference_fan_in`
  (:func:`sgdnoise.theory.conventions.normalized_noise_scale`); constant factors of the
  convention drop out of a slope in log k;
* **edge**: the optimum has the largest or the smallest η/B (∝ ḡ at fixed k) among seed
  s's non-diverged points at width k — the best ḡ may lie beyond the grid (or beyond the
  stable rates), so ḡ_opt is only a bound there and a slope through it is *censored*;
* **ε_max**: the largest grid rate (NTK-equivalent) below the smallest rate at which a
  run of seed s at width k diverged, at any batch; *censored* (a lower bound) when none
  did;
* **B_max = ε_max N/ḡ_opt** (:func:`~sgdnoise.theory.conventions.
  batch_from_normalized_noise_scale`): the largest batch at which ḡ_opt is reachable with
  a stable rate.

A per-seed slope of log y on log k (:func:`sgdnoise.experiments.criteria.per_seed_slopes`)
uses the seeds that have an optimum at every width of the family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._p19_grid import SIGMA_W2, Family, reference_fan_in
from .criteria import per_seed_slopes

SCORE = "test_acc_late"


def ntk_rate(f: Family, lr: float, width: int) -> float:
    """The NTK-equivalent rate ε of grid rate ``lr`` (ε = η n/σ_w² for standard)."""
    from ..theory.conventions import ntk_lr_from_standard

    if f.parameterization == "ntk":
        return float(lr)
    return ntk_lr_from_standard(lr, reference_fan_in(f.arch, width), SIGMA_W2)


def gbar(f: Family, lr: float, batch: float, width: int, n_train: int) -> float:
    """P19's normalized noise scale ḡ = εN/B of a grid point."""
    from ..theory.conventions import normalized_noise_scale

    return normalized_noise_scale(
        lr, n_train, batch, parameterization=f.parameterization,
        width=reference_fan_in(f.arch, width), sigma_w2=SIGMA_W2,
    )  # fmt: skip


def rate_tolerance(f: Family) -> float:
    """The resolution of a slope of log ḡ_opt on log k on this grid: an optimum is located
    to within half the largest log-step of the rate grid, and an error that size at one
    end of the width span moves the slope by (½ max Δlog η)/log(k_max/k_min)."""
    step = float(np.max(np.diff(np.log(np.sort(f.lrs)))))
    return 0.5 * step / math.log(max(f.widths) / min(f.widths))


@dataclass
class FamilyAnalysis:
    """One family's analysis.  ``per``: one row per (width, seed) with the per-seed optimum
    (lr, batch, score), ``g_opt``, ``edge``, ``eps_max``, ``eps_censored``, ``B_max``.
    ``opt``: the seed-mean optimum per width (for the heat maps).  ``cells``: one row per
    (width, η, B) with the seed-mean score."""

    family: Family
    per: pd.DataFrame
    opt: pd.DataFrame
    cells: pd.DataFrame
    seeds: tuple
    n_train: int

    @property
    def name(self) -> str:
        return self.family.name

    @property
    def missing(self) -> int:
        """(width, seed) pairs without an optimum (every run of them diverged)."""
        return len(self.family.widths) * len(self.seeds) - len(self.per)

    def complete_seeds(self) -> pd.DataFrame:
        """``per`` restricted to the seeds with an optimum at every width."""
        n = len(self.family.widths)
        full = self.per.groupby("seed")["width"].nunique()
        return self.per[self.per["seed"].isin(full[full == n].index)]

    def slopes(self, column: str) -> np.ndarray:
        """Per-seed slopes of log ``column`` on log k, over the seeds with a finite value
        at every width (a slope over fewer widths would measure another span)."""
        p = self.complete_seeds()
        bad = p.loc[~np.isfinite(p[column].astype(float)), "seed"]
        p = p[~p["seed"].isin(bad)]
        return per_seed_slopes(p["width"], p[column], p["seed"])

    def where(self, flag: str) -> list[tuple[int, int]]:
        """(width, seed) pairs whose ``flag`` is set: ``"edge"`` (the optimum on the grid's
        η/B edge) or ``"eps_censored"`` (nothing diverged)."""
        return [(int(r.width), int(r.seed)) for r in self.per.itertuples() if getattr(r, flag)]

    def censoring(self, flag: str) -> str | None:
        """Why a slope through ḡ_opt (``"edge"``) or ε_max (``"eps_censored"``) is
        censored, or None."""
        pairs = self.where(flag)
        if not pairs:
            return None
        why = {"edge": "optimum on the grid's η/B edge (ḡ_opt a bound)"}.get(
            flag, "nothing diverged (ε_max a lower bound)"
        )
        return f"censored: {why} at " + ", ".join(f"k={k} seed {s}" for k, s in pairs)

    def gain(self) -> np.ndarray:
        """Per-seed gain of the best late test accuracy from the smallest to the largest
        width (seeds with an optimum at both)."""
        p = self.per.pivot(index="seed", columns="width", values=SCORE)
        lo, hi = min(self.family.widths), max(self.family.widths)
        if lo not in p or hi not in p:
            return np.array([])
        d = (p[hi] - p[lo]).dropna()
        return d.to_numpy(dtype=float)

    def accuracy_range(self) -> pd.Series:
        """Per width: best − worst seed-mean late accuracy over the non-diverged points
        (how much the (η, B) grid moves the score)."""
        ok = self.cells[np.isfinite(self.cells[SCORE])]
        return ok.groupby("width")[SCORE].agg(lambda v: v.max() - v.min())


def _eps_max(f: Family, runs: pd.DataFrame, width: int) -> tuple[float, bool]:
    """(ε_max, censored) of one seed at one width (module docstring)."""
    lrs = np.sort(np.asarray(f.lrs, dtype=float))
    div = runs.loc[runs["status"] == "diverged", "lr"]
    if not len(div):
        return ntk_rate(f, float(lrs.max()), width), True
    stable = lrs[lrs < float(div.min())]
    return (ntk_rate(f, float(stable.max()), width) if len(stable) else math.nan), False


def analyse_family(df: pd.DataFrame, f: Family, n_train: int) -> FamilyAnalysis:
    """Optima, ḡ_opt, edges, ε_max and B_max per (width, seed) of one family's runs."""
    from ..sweeps.analysis import optimum, per_seed_optimum
    from ..theory.conventions import batch_from_normalized_noise_scale

    df = df.copy()
    df[SCORE] = df[SCORE].astype(float)
    seeds = tuple(sorted(int(s) for s in df["seed"].unique()))
    per = per_seed_optimum(df, SCORE, ["lr", "batch"], by=["width"])
    g, edge, e_max, cens, bmax = [], [], [], [], []
    for r in per.itertuples():
        mine = df[(df["width"] == r.width) & (df["seed"] == r.seed)]
        ok = mine[np.isfinite(mine[SCORE])]
        q, ratios = r.lr / r.batch, ok["lr"] / ok["batch"]
        top, bottom = (np.isclose(q, v, rtol=1e-9, atol=0) for v in (ratios.max(), ratios.min()))
        edge.append(bool(top or bottom))
        g.append(gbar(f, r.lr, r.batch, int(r.width), n_train))
        em, c = _eps_max(f, mine, int(r.width))
        e_max.append(em)
        cens.append(c)
        bmax.append(
            batch_from_normalized_noise_scale(g[-1], em, n_train) if np.isfinite(em) else math.nan
        )
    per = per.assign(g_opt=g, edge=edge, eps_max=e_max, eps_censored=cens)
    per = per.assign(B_max=bmax).sort_values(["width", "seed"]).reset_index(drop=True)
    opt = optimum(df, SCORE, ["lr", "batch"], by=["width"])
    if opt.empty:  # every run of the family diverged: a result, reported as such
        opt = pd.DataFrame(columns=["width", "lr", "batch", SCORE])
    cells = df.groupby(["width", "lr", "batch"], as_index=False)[SCORE].mean()
    return FamilyAnalysis(f, per, opt.sort_values("width"), cells, seeds, n_train)


def analyse(df: pd.DataFrame, settings, n_train) -> list[FamilyAnalysis]:
    """Every family of the settings, from the grid's frame; ``n_train``: N, one for every
    family or a mapping family name → N (families may train on their own subsets)."""
    n_of = n_train if isinstance(n_train, dict) else {f.name: n_train for f in settings.families}
    return [
        analyse_family(df[df["sweep"] == f"p19-{f.name}"], f, n_of[f.name])
        for f in settings.families
    ]


def fan_in_gap(settings, input_shape=(3, 8, 8)) -> float:
    """Largest relative gap between :func:`reference_fan_in` and the fan-in of the first
    hidden-to-hidden layer of the model the grid builds, over every family and width."""
    from ..nets import make_model, scaled_layers

    worst = 0.0
    for f in settings.families:
        for w in f.widths:
            net = make_model(
                f.arch, input_shape=input_shape, num_outputs=10, width=w, depth=settings.depth,
                parameterization=f.parameterization, batch_norm=f.batch_norm, seed=0,
                device="cpu",
            )  # fmt: skip
            n = list(scaled_layers(net).values())[1].fan_in
            worst = max(worst, abs(reference_fan_in(f.arch, w) - n) / n)
    return worst


# --------------------------------------------------------------------------- figures


def heatmaps(ctx, df, fams: list[FamilyAnalysis]) -> None:
    """Late accuracy over (η, B) per family and width, the seed-mean optimum marked."""
    from ..sweeps.plots import phase_diagram

    for a in fams:
        sub = df[df["sweep"] == f"p19-{a.name}"]
        for w in a.family.widths:
            row = a.opt[a.opt["width"] == w]
            fig = phase_diagram(
                sub[sub["width"] == w], "lr", "batch", SCORE,
                title=f"{a.name}, width {w}: late test accuracy",
                mark=(row["lr"].to_numpy(), row["batch"].to_numpy()) if len(row) else None,
                mark_label="optimum (seed mean)" if len(row) else None,
            )  # fmt: skip
            ctx.savefig(fig, f"p19_heatmap_{a.name}_w{w}")


def _per_width(a: FamilyAnalysis, column: str) -> list[np.ndarray]:
    return [a.per.loc[a.per["width"] == w, column].to_numpy(dtype=float) for w in a.family.widths]


def _widths(fams) -> list[int]:
    return sorted({w for a in fams for w in a.family.widths})


def gbar_figure(ctx, fams: list[FamilyAnalysis]) -> None:
    """ḡ_opt per seed (points, × on the grid's edge) and its seed mean ± t interval vs k,
    with P19's ḡ_opt ∝ k through each family's geometric mean."""
    from matplotlib.figure import Figure

    from ._plots import log_axis, seeds_mean_ci, theory_line

    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot()
    for i, a in enumerate(fams):
        if a.per.empty:
            continue
        ks = list(a.family.widths)
        line = seeds_mean_ci(ax, ks, _per_width(a, "g_opt"), label=a.name)
        e = a.per[a.per["edge"]]
        if len(e):
            ax.scatter(e["width"], e["g_opt"], marker="x", s=40, color=line.get_color(),
                       label=f"{a.name}: optimum on the grid's edge (a bound)")  # fmt: skip
        mid = math.exp(np.mean(np.log(a.per["width"])))
        level = math.exp(np.mean(np.log(a.per["g_opt"])))
        kk = np.geomspace(min(ks), max(ks), 20)
        theory_line(ax, kk, level * kk / mid, label="P19: ḡ_opt ∝ k" if i == 0 else "_nolegend_",
                    color=line.get_color(), lw=1)  # fmt: skip
    log_axis(ax, "x", ticks=_widths(fams))
    log_axis(ax, "y")
    ax.set_xlabel("width k")
    ax.set_ylabel("optimal normalized noise scale ḡ = εN/B")
    ax.set_title("P19: ḡ_opt vs width (points: seeds)")
    ax.legend(fontsize=7)
    ctx.savefig(fig, "p19_gbar_vs_width")


def rate_curves_figure(ctx, fams: list[FamilyAnalysis], df: pd.DataFrame) -> None:
    """For each family trained at one batch size (the BN ResNet): late test accuracy vs
    the rate per width (per-seed points, seed mean ± t interval) with each seed's optimum
    (×) — the curves whose peaks the ḡ_opt slope compares (``p19_rates_<family>.png``)."""
    from matplotlib.figure import Figure

    from ._plots import log_axis, seeds_mean_ci

    for a in fams:
        sub = df[df["sweep"] == f"p19-{a.name}"]
        if sub["batch"].nunique() != 1 or a.per.empty:
            continue
        fig = Figure(figsize=(6.0, 4.2))
        ax = fig.add_subplot()
        lrs = sorted(float(v) for v in a.family.lrs)
        for w in a.family.widths:
            mine = sub[sub["width"] == w]
            vals = [mine.loc[np.isclose(mine["lr"], r), SCORE].astype(float).dropna() for r in lrs]
            keep = [i for i, v in enumerate(vals) if len(v)]
            line = seeds_mean_ci(
                ax, [lrs[i] for i in keep], [vals[i].to_numpy() for i in keep], label=f"k = {w}"
            )
            best = a.per[a.per["width"] == w]
            ax.scatter(best["lr"], best[SCORE], marker="x", s=45, color=line.get_color(),
                       label=f"k = {w}: per-seed optimum")  # fmt: skip
        log_axis(ax, "x", ticks=lrs)
        rate = "ε (NTK)" if a.family.parameterization == "ntk" else "η (standard)"
        ax.set_xlabel(f"learning rate {rate}, B = {int(sub['batch'].iloc[0])}")
        ax.set_ylabel("late test accuracy")
        ax.set_title(f"{a.name}: accuracy vs rate per width")
        ax.legend(fontsize=7)
        ctx.savefig(fig, f"p19_rates_{a.name}")


def accuracy_figure(ctx, fams: list[FamilyAnalysis]) -> None:
    """Best late test accuracy per seed and its seed mean ± t interval vs k."""
    from matplotlib.figure import Figure

    from ._plots import log_axis, seeds_mean_ci

    fig = Figure(figsize=(5.8, 4.0))
    ax = fig.add_subplot()
    for a in fams:
        if not a.per.empty:
            seeds_mean_ci(ax, list(a.family.widths), _per_width(a, SCORE), label=a.name)
    log_axis(ax, "x", ticks=_widths(fams))
    ax.set_xlabel("width k")
    ax.set_ylabel("best late test accuracy (per seed)")
    ax.set_title("P19: accuracy at the optimum vs width")
    ax.legend(fontsize=7)
    ctx.savefig(fig, "p19_accuracy_vs_width")


def bmax_figure(ctx, fams: list[FamilyAnalysis]) -> None:
    """ε_max and B_max per seed vs k (△: a lower bound, nothing diverged)."""
    from matplotlib.figure import Figure

    from ._plots import log_axis, seeds_mean_ci

    fig = Figure(figsize=(10.0, 4.0))
    ax0, ax1 = fig.subplots(1, 2)
    for a in fams:
        p = a.per[np.isfinite(a.per["eps_max"])]
        if p.empty:
            continue
        ks = [w for w in a.family.widths if (p["width"] == w).any()]
        cols = [p.loc[p["width"] == w] for w in ks]
        line = seeds_mean_ci(ax0, ks, [c["eps_max"].to_numpy() for c in cols], label=a.name)
        seeds_mean_ci(ax1, ks, [c["B_max"].to_numpy() for c in cols], label=a.name,
                      color=line.get_color())  # fmt: skip
        c = p[p["eps_censored"]]
        if len(c):
            ax0.scatter(c["width"], c["eps_max"], marker="^", s=60, facecolors="none",
                        edgecolors=line.get_color(), label=f"{a.name}: lower bound")  # fmt: skip
    for ax in (ax0, ax1):
        log_axis(ax, "x", ticks=_widths(fams))
        log_axis(ax, "y")
        ax.set_xlabel("width k")
        ax.legend(fontsize=7)
    ax0.set_ylabel("largest stable NTK-equivalent rate ε_max")
    ax0.set_title("ε_max per seed")
    ax1.set_ylabel("B_max = ε_max N / ḡ_opt")
    ax1.set_title("B_max per seed")
    ctx.savefig(fig, "p19_bmax_vs_width")


# --------------------------------------------------------------------------- tables


def _range(v) -> str:
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return "—"
    return f"{v.min():.3g}" if v.min() == v.max() else f"{v.min():.3g}–{v.max():.3g}"


def optima_table(fams: list[FamilyAnalysis]) -> str:
    """One row per family and width: the per-seed optima and what follows from them."""
    rows = [
        "| family | k | seeds | η* (per seed) | B* (per seed) | best late test acc (mean ± sd) "
        "| ḡ_opt (per seed) | on edge | ε_max (per seed) | ε_max a lower bound "
        "| B_max (per seed) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for a in fams:
        for w in a.family.widths:
            p = a.per[a.per["width"] == w]
            if p.empty:
                rows.append(f"| {a.name} | {w} | 0 | every run diverged | | | | | | | |")
                continue
            acc = p[SCORE].to_numpy(dtype=float)
            sd = f"{acc.std(ddof=1):.3f}" if acc.size > 1 else "—"
            rows.append(
                f"| {a.name} | {w} | {len(p)} | {_range(p['lr'])} | {_range(p['batch'])} | "
                f"{acc.mean():.3f} ± {sd} | {_range(p['g_opt'])} | {int(p['edge'].sum())} | "
                f"{_range(p['eps_max'])} | {int(p['eps_censored'].sum())} | {_range(p['B_max'])} |"
            )
    return "\n".join(rows)


def n_line(n_train) -> str:
    """N as the report states it: one number, or one per family."""
    if not isinstance(n_train, dict):
        return str(n_train)
    if len(set(n_train.values())) == 1:
        return str(next(iter(n_train.values())))
    return ", ".join(f"{v} ({k})" for k, v in n_train.items())


def slopes_line(a: FamilyAnalysis, column: str) -> str:
    s = a.slopes(column)
    return ", ".join(f"{v:.2f}" for v in s) if s.size else "none"
