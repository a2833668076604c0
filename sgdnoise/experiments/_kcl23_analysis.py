"""What the `kcl23-*` network claims do with their grid: the sampling units their criteria
take, the machinery checks of smoke, the tables and the figure.

Kaur, Cohen & Lipton (2023); DESIGN.md §4.5 and §10.  The unit is the seed: a seed is one
initialization and one SGD batch order, shared by every grid point (the trainer seeds both
from it), so the comparisons are seed-paired.  KCL23's λmax effects are multiplicative
(λmax ∝ 1/η at the edge of stability), so λmax is compared on the log scale: the unit is
the per-seed log ratio log λmax(arm) − log λmax(reference).  Accuracy is compared in
absolute accuracy (fractions of the test set).  Only runs that reached the 99% training
accuracy target (status ``done``) are KCL23's measurement point; capped and diverged runs
are left out, so a seed missing an arm is dropped from that comparison (criteria report
their ``n``).  Nothing here imports torch.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as _st

from .criteria import Criterion, evaluate, paired

#: Lanczos vs power iteration: the power method stops at 1e-5 relative change per step; 2%
#: allows its slow convergence when λ2/λ1 is close to 1 within its iteration cap while still
#: catching a wrong eigenvalue (off by the gap between eigenvalues, tens of percent here).
POWER_REL_TOL = 0.02
#: One point of test accuracy: the accuracy effects KCL23's findings turn on (a benefit of a
#: larger η or of SAM, its vanishing at large B, a loss from excessive dropout, BN's gain)
#: measured 0.3–1.1 points on the cpu grids (docs/network_claims_kcl23_ui25.md); smaller
#: than that is not a generalization benefit anyone would act on.
ACC_EFFECT = 0.01
ACC_EFFECT_REASON = (
    "one point of test accuracy: the size of the accuracy effects these grids measured at "
    "cpu (0.3–1.1 points)"
)
#: A 25% change of λmax (log ratio 0.22): the smallest change we would read as "lowers
#: λmax"; on the cpu grids the interventions moved λmax by factors of about 1.4 (SAM at
#: B = 32) to 8 (η ×5 at B = 500), docs/network_claims_kcl23_ui25.md.
LAMBDA_EFFECT = math.log(1.25)
LAMBDA_EFFECT_REASON = "a 25% change of λmax (log ratio 0.22), the smallest we call 'lowers'"


def measured(df):
    """The runs at KCL23's measurement point (status ``done``: reached 99% training
    accuracy, did not diverge) with ``log_lambda`` = log λmax added."""
    ok = df[df["status"] == "done"].copy()
    lam = ok["lambda_max"].to_numpy(float) if len(ok) else np.array([])
    ok["log_lambda"] = np.log(np.where(lam > 0, lam, np.nan))
    return ok


# --------------------------------------------------------------------------- smoke machinery


def machinery(df) -> tuple[list[Criterion], dict]:
    """Smoke's machinery criteria and their data: every grid run reached the target with a
    finite positive λmax, and (where the power iteration ran) Lanczos agrees with it within
    :data:`POWER_REL_TOL`.  Returns ``(criteria, data)`` for :func:`criteria.evaluate`."""
    done = df[df["status"] == "done"]
    lam = done["lambda_max"].to_numpy(float) if len(done) else np.array([])
    good = int(np.sum(np.isfinite(lam) & (lam > 0)))
    crits = [
        Criterion(
            "runs-at-target",
            "KCL23 measure λmax at the first epoch with ≥ 99% training accuracy: grid runs "
            "that missed it, diverged or gave no finite positive λmax",
            "machinery", low=0, high=0,
        ),
        Criterion(
            "lanczos-vs-power",
            "λmax by Lanczos on exact Hessian-vector products; the power iteration (the "
            "baseline method) gives the same eigenvalue: largest relative difference",
            "machinery", low=0.0, high=POWER_REL_TOL,
        ),
    ]  # fmt: skip
    data = {"runs-at-target": [len(df) - good]}
    if "lambda_max_power" in done and done["lambda_max_power"].notna().any():
        both = done.dropna(subset=["lambda_max_power"])
        rel = np.abs(both["lambda_max_power"] - both["lambda_max"]) / both["lambda_max"]
        data["lanczos-vs-power"] = [float(rel.max())]
    else:
        data["lanczos-vs-power"] = "the power iteration did not run"
    return crits, data


def judge(df, crits: list[Criterion], data: dict, smoke: bool):
    """:func:`criteria.evaluate` on a claim's criteria, preceded at smoke by the machinery
    criteria of :func:`machinery` (one Bonferroni family: the machinery ones take no α)."""
    if smoke:
        mcrits, mdata = machinery(df)
        crits, data = mcrits + crits, {**data, **mdata}
    return evaluate(crits, data)


# --------------------------------------------------------------------------- sampling units


def paired_by(ok, value: str, axis: str, low, high, by: str, by_values) -> dict:
    """Per value of ``by`` (every one of ``by_values``, empty when no run is there): the
    per-seed differences ``value(axis=high) − value(axis=low)``."""
    out = {}
    for b in by_values:
        sub = ok[ok[by] == b]
        out[b] = paired(sub, value, axis, high, low) if len(sub) else np.array([])
    return out


def fade(ok, value: str, axis: str, low, high, b_small, b_large) -> np.ndarray:
    """Per seed: the gain of moving ``axis`` low → high at batch ``b_small`` minus the same
    gain at ``b_large``, [v(high) − v(low)]_{b_small} − [v(high) − v(low)]_{b_large} (seeds
    with all four runs only).  Positive: the benefit fades at large batch."""
    cells = [(b_small, high), (b_small, low), (b_large, high), (b_large, low)]
    sub = ok[ok[axis].isin([low, high]) & ok["batch"].isin([b_small, b_large])]
    if sub.empty:
        return np.array([])
    piv = sub.pivot_table(index="seed", columns=["batch", axis], values=value)
    if any(c not in piv.columns for c in cells):
        return np.array([])
    piv = piv[cells].dropna()
    return ((piv[cells[0]] - piv[cells[1]]) - (piv[cells[2]] - piv[cells[3]])).to_numpy(float)


def per_seed_spearman(ok, x: str, y: str) -> np.ndarray:
    """Per seed: Spearman's rank correlation of ``y`` with ``x`` over that seed's runs
    (scipy.stats.spearmanr); a seed with fewer than 3 distinct x or a constant y has none."""
    out = []
    for _, sub in ok.groupby("seed"):
        if sub[x].nunique() >= 3 and sub[y].nunique() >= 2:
            out.append(_st.spearmanr(sub[x], sub[y]).statistic)
    return np.asarray(out, dtype=float)


def mean_interval(values) -> tuple[float, float, float]:
    """(mean, low, high) with the 95% Student-t interval of :func:`._plots.mean_ci`; no
    interval (NaN) from fewer than 3 values."""
    from ._plots import mean_ci

    m, lo, hi = mean_ci(values)
    return (m, lo, hi) if np.size(values) >= 3 else (m, math.nan, math.nan)


def headline(ok) -> tuple[dict[str, float], str]:
    """KCL23's headline question on a claim's runs, reported (not judged): does λmax predict
    test accuracy?  Per seed, Spearman ρ(λmax, test accuracy) over that seed's grid points;
    the seed mean with its t interval (a consistent predictor would lie below 0)."""
    rho = per_seed_spearman(ok, "lambda_max", "test_accuracy")
    m, lo, hi = mean_interval(rho)
    metrics = {"spearman_lambda_acc": m, "spearman_ci_low": lo, "spearman_ci_high": hi}
    verdict = "λmax predicted accuracy here" if hi < 0 else "λmax did not predict accuracy here"
    return metrics, (
        f"Spearman ρ(λmax, test acc) per seed over its grid points: mean {m:.2f} "
        f"[{lo:.2f}, {hi:.2f}] over {rho.size} seeds ({verdict}; reported, not judged)."
    )


def every_b_and_fade(df, crits, axis: str, low, high, batches, scale: str, label: str):
    """The analysis `kcl23-lr` and `kcl23-sam` share: moving ``axis`` low → high lowers λmax
    at every batch size (``lambda-lower-B{b}``: per-seed log ratios) and its accuracy
    benefit fades at the largest B (``benefit-fades``: :func:`fade`).  ``label`` names the
    move in the report.  Returns (judgements, metrics, details, summary)."""
    smoke = scale == "smoke"
    ok = measured(df)
    b_lo, b_hi = min(batches), max(batches)
    lam = paired_by(ok, "log_lambda", axis, low, high, "batch", batches)
    acc = paired_by(ok, "test_accuracy", axis, low, high, "batch", batches)
    f = fade(ok, "test_accuracy", axis, low, high, b_lo, b_hi)
    data = {f"lambda-lower-B{b}": lam[b] for b in batches} | {"benefit-fades": f}
    judged = judge(df, crits, data, smoke)
    metrics = {f"dloglambda_B{b}": mean_interval(lam[b])[0] for b in batches}
    metrics |= {f"dacc_B{b}": mean_interval(acc[b])[0] for b in batches}
    metrics["acc_benefit_fade"] = mean_interval(f)[0]
    head, head_text = headline(ok)
    metrics |= head
    details = (
        summary_table(df, ["batch", axis])
        + "\n\n"
        + per_b_table(lam, acc, f"log λmax ratio, {label}", f"Δ test acc, {label}")
        + f"\n\nFade of the accuracy gain, Δacc(B={b_lo}) − Δacc(B={b_hi}): "
        + effect_cell(f, "+.4f")
        + (" (reported, not judged at smoke)." if smoke else ".")
        + f"  {head_text}"
    )
    ratios = ", ".join(f"B={b}: ×{math.exp(metrics[f'dloglambda_B{b}']):.2f}" for b in batches)
    gains = ", ".join(f"B={b}: {metrics[f'dacc_B{b}']:+.4f}" for b in batches)
    summary = f"{label} changed λmax by {ratios} and test accuracy by {gains} (seed means)."
    return judged, metrics, details, summary


# --------------------------------------------------------------------------- report


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def summary_table(df, by: list[str]) -> str:
    """Markdown: per grid point, runs at the target of all runs, and the seed mean ± sd of
    λmax, test accuracy and epochs over the runs at the target."""
    rows = [
        "| " + " | ".join(by) + " | at target / runs | λmax (mean ± sd) | test acc (mean ± sd)"
        " | epochs |",
        "| " + " | ".join("---" for _ in by) + " | --- | --- | --- | --- |",
    ]
    for key, sub in df.groupby(by):
        key = key if isinstance(key, tuple) else (key,)
        ok = sub[sub["status"] == "done"]
        lam, acc = ok["lambda_max"], ok["test_accuracy"]
        sd = lambda s: s.std(ddof=1) if len(s) > 1 else math.nan  # noqa: E731
        cells = (
            f"{lam.mean():.4g} ± {sd(lam):.2g} | {acc.mean():.4f} ± {sd(acc):.3f} | "
            f"{ok['epochs'].mean():.1f}"
            if len(ok)
            else "— | — | —"
        )
        rows.append(f"| {' | '.join(_fmt(k) for k in key)} | {len(ok)} / {len(sub)} | {cells} |")
    return "\n".join(rows)


def effect_cell(values, fmt: str = "+.3f") -> str:
    """'mean [95% t interval] (n seeds)' of per-seed values, for the report tables."""
    m, lo, hi = mean_interval(values)
    if not np.size(values):
        return "no seed pair"
    if not math.isfinite(lo):
        return f"{m:{fmt}} ({np.size(values)} seeds: no interval)"
    return f"{m:{fmt}} [{lo:{fmt}}, {hi:{fmt}}] ({np.size(values)} seeds)"


def per_b_table(lam: dict, acc: dict, lam_head: str, acc_head: str) -> str:
    """Markdown: per batch size, the seed-paired log-λmax and accuracy effects."""
    rows = [f"| B | {lam_head} | {acc_head} |", "| --- | --- | --- |"]
    rows += [f"| {b} | {effect_cell(lam[b])} | {effect_cell(acc[b], '+.4f')} |" for b in lam]
    return "Seed-paired effects (mean [95% t interval]):\n\n" + "\n".join(rows)


def figure(ok, x: str, series: str | None, title: str, *, xlog: bool = True):
    """Three panels: λmax (log axis) and test accuracy against the grid axis ``x``, one line
    per value of ``series`` (each seed a point, the seed mean with its 95% t interval), and
    KCL23's λmax-vs-accuracy scatter of every run at the target."""
    from matplotlib.figure import Figure

    from ._plots import log_axis, seeds_mean_ci

    fig = Figure(figsize=(11.5, 3.6))
    a_lam, a_acc, a_sc = fig.subplots(1, 3)
    groups = [(None, ok)] if series is None else list(ok.groupby(series))
    xs_all = sorted(ok[x].unique())
    for i, (v, sub) in enumerate(groups):
        label = "per seed" if v is None else f"{series}={_fmt(v)}"
        xs = sorted(sub[x].unique())
        for ax, col in ((a_lam, "lambda_max"), (a_acc, "test_accuracy")):
            vals = [sub[sub[x] == xv][col].to_numpy(float) for xv in xs]
            seeds_mean_ci(ax, xs, vals, label=label, color=f"C{i}")
        a_sc.scatter(sub["lambda_max"], sub["test_accuracy"], s=12, color=f"C{i}", label=label)
    lam = ok["lambda_max"].to_numpy(float)
    lam_ticks = _nice_ticks(lam) if lam.size else None
    if xlog and len(xs_all) > 1:
        for ax in (a_lam, a_acc):
            log_axis(ax, "x", ticks=xs_all)
    log_axis(a_lam, "y", ticks=lam_ticks)
    log_axis(a_sc, "x", ticks=lam_ticks)
    for ax in (a_lam, a_acc):
        ax.set_xlabel(x)
    a_lam.set_ylabel("λmax at 99% train accuracy")
    a_acc.set_ylabel("test accuracy")
    a_sc.set_xlabel("λmax at 99% train accuracy")
    a_sc.set_ylabel("test accuracy")
    a_lam.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _nice_ticks(values) -> list[float]:
    """1–2–5 × 10^k values spanning ``values`` (labels for a log axis over less than a
    decade, where a power of ten may not fall inside)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size:
        return [1.0]
    lo, hi = v.min(), v.max()
    ticks = [
        m * 10.0**k
        for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
        for m in (1, 2, 5)
    ]
    inside = [t for t in ticks if lo / 1.5 <= t <= hi * 1.5]
    return inside or [float(f"{math.sqrt(lo * hi):.2g}")]
