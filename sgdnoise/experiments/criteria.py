"""The criteria layer: how every claim turns measurements into a verdict (DESIGN.md §10).

A claim declares its criteria as data — :class:`Criterion`: a name, the paper's words it
tests, a kind, the effect size its power is computed at, and what the kind needs (a sign,
a margin, a predicted exponent and tolerance, an acceptance range) — and hands
:func:`evaluate` one array of per-seed values for each.  Each criterion comes back as a
:class:`Judgement` (supported / contradicted / undecided, estimate, interval, power), and
:func:`verdict` is the one rule that turns judgements into the claim's verdict.

The sampling unit is the seed: every estimate is a mean over independent per-seed values
(a seed-paired difference, a per-seed slope, a per-seed correlation), and every interval is
a Student-t interval on those values (scipy.stats.t).  There is no bootstrap over seeds
here: with ≤ 5 seeds a percentile bootstrap of the mean is the range of a handful of values
(coverage ≈ 50% with 2 seeds, measured in issue 13), and with more seeds the t interval on
per-seed values is what the calibration tests hold to its level.  No interval is made from
fewer than :data:`MIN_UNITS` seeds: such a criterion is undecided.

Kinds and their tests, at per-criterion level α (one-sided where the paper gives a sign):

* ``direction`` — the paper predicts the sign of an effect.  One-sided t test of the mean
  of per-seed values (seed-paired differences where the design pairs; Welch's t for two
  unpaired arms).  Supported when the (1 − 2α) interval lies on the paper's side of 0,
  contradicted when it lies on the other side.  Power: statsmodels' one-sided t-test power
  at the stated effect (the spread: see :func:`_power_se`).
* ``equivalence`` — the paper says two things are the same.  Two one-sided tests against a
  margin the claim states and justifies (statsmodels ``ttost_paired``/``ttost_ind``):
  supported when the (1 − 2α) interval lies inside (−margin, margin), contradicted when it
  lies wholly outside it (the difference exceeds the margin beyond the spread), undecided
  otherwise.  Never "not significantly different".  Power: probability that TOST passes
  when the true difference is 0 (central-t approximation).
* ``exponent`` — a fitted power law matches a predicted exponent within a stated numeric
  tolerance > 0 (per-seed exponents).  Supported when the prediction lies within ``tolerance``
  of the (1 − α) interval, contradicted when it lies farther; no exact float containment.
  Power: probability of contradicting when the true exponent is ``effect`` away from the
  prediction.
* ``existence`` — "sometimes", "not consistently": per-cell values; supported when some
  cell shows the effect beyond its spread (one-sided t at α/k over k cells, Bonferroni),
  contradicted when every cell shows the opposite (each at α: an intersection-union test),
  undecided otherwise.  Power: when exactly one cell carries the effect, the mean over
  cells of that cell's power at α/k.
* ``machinery`` — a smoke or plumbing check: a number and the range it must fall in
  (stated, with a tolerance, never an exact float).  Supported inside, contradicted
  outside; power is not applicable (``None``).

A criterion whose power at the stated effect is below :data:`MIN_POWER` is "undecided by
design at this scale" whatever its interval says, so an underpowered grid never yields
agree or disagree.

Several criteria in one claim: :func:`evaluate` runs each at α/k, k the number of
statistical (non-machinery) criteria — Bonferroni — so the chance that a claim whose
statements are all true is called "disagree" is ≤ α (0.05) overall, and the chance that
a claim with a false statement is called "agree" is ≤ α/k for that statement.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy import stats as _st

from ..errors import ParameterError
from ..validation import choice, in_range

KINDS = ("direction", "equivalence", "exponent", "existence", "machinery")
DECISIONS = ("supported", "contradicted", "undecided")
VERDICTS = ("agree", "disagree", "inconclusive")
ALPHA = 0.05
MIN_POWER = 0.5
MIN_UNITS = 3


@dataclass(frozen=True)
class Unpaired:
    """Two independent arms (different seeds), compared by Welch's t: estimate = mean(a) −
    mean(b)."""

    a: tuple
    b: tuple

    def __init__(self, a, b):
        object.__setattr__(self, "a", tuple(float(v) for v in np.ravel(a)))
        object.__setattr__(self, "b", tuple(float(v) for v in np.ravel(b)))


@dataclass(frozen=True)
class Criterion:
    """One criterion, declared before any data is seen.

    ``paper_says``: the paper's words (or ours, with ``derived=True``, for a prediction we
    derived that the paper does not print).  ``effect``: the effect size the power is
    computed at (in the estimate's units; for ``exponent`` a deviation from the prediction)
    and ``effect_reason`` why that size (the paper's, or one the claim justifies).
    ``sign``: +1 when the paper predicts a positive estimate, −1 a negative one
    (direction, existence).  ``margin``/``margin_reason``: equivalence.  ``prediction``,
    ``tolerance``: exponent.  ``low``/``high``: the accepted range of a machinery check.
    """

    name: str
    paper_says: str
    kind: str
    effect: float | None = None
    effect_reason: str = ""
    sign: int = 1
    margin: float | None = None
    margin_reason: str = ""
    prediction: float | None = None
    tolerance: float = 0.0
    low: float = -math.inf
    high: float = math.inf
    derived: bool = False
    unit: str = "seed"

    def __post_init__(self):
        choice("kind", self.kind, KINDS)
        if self.sign not in (1, -1):
            raise ParameterError("sign", self.sign, "must be +1 or -1")
        if self.kind in ("direction", "existence", "exponent"):
            if self.effect is None or not (self.effect > 0 and math.isfinite(self.effect)):
                raise ParameterError(
                    "effect", self.effect, f"a {self.kind} criterion needs a finite effect > 0"
                )
        if self.kind == "equivalence" and (
            self.margin is None or not (self.margin > 0 and math.isfinite(self.margin))
        ):
            raise ParameterError("margin", self.margin, "an equivalence needs a finite margin > 0")
        if self.kind == "exponent":
            if self.prediction is None or not math.isfinite(self.prediction):
                raise ParameterError("prediction", self.prediction, "an exponent needs one")
            if not (0 < self.tolerance < self.effect):
                raise ParameterError(
                    "tolerance",
                    self.tolerance,
                    f"must be > 0 (no exact float containment) and below effect={self.effect}",
                )
        if self.kind == "machinery" and not self.low <= self.high:
            raise ParameterError("low, high", (self.low, self.high), "need low <= high")

    def with_(self, **changes) -> Criterion:
        """A copy with some fields changed (e.g. a margin measured on the same grid)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Judgement:
    """A criterion's outcome.  ``estimate``/``ci_low``/``ci_high``: the mean over units and
    its interval (NaN when it cannot be formed); ``power`` at ``effect`` (None for
    machinery); ``level``: the per-criterion α used; ``n``: units (seeds) behind it."""

    name: str
    paper_says: str
    kind: str
    estimate: float
    ci_low: float
    ci_high: float
    decision: str
    power: float | None
    effect: float | None = None
    level: float = ALPHA
    n: int = 0
    derived: bool = False
    note: str = ""
    cells: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = asdict(self)
        for k in ("estimate", "ci_low", "ci_high", "power", "effect"):
            v = d[k]
            d[k] = None if v is None or not math.isfinite(v) else float(v)
        d["cells"] = {str(k): v for k, v in self.cells.items()}
        return d


# -- the tests of each kind -------------------------------------------------------------


def _values(name: str, data) -> np.ndarray:
    x = np.asarray(data, dtype=float).ravel()
    if not np.all(np.isfinite(x)):
        raise ParameterError(f"data[{name!r}]", x.tolist(), "per-seed values must be finite")
    return x


def _t_summary(data, name: str):
    """(estimate, standard error, degrees of freedom, n) of the mean of per-unit values, or
    of mean(a) − mean(b) by Welch for :class:`Unpaired`."""
    if isinstance(data, Unpaired):
        a, b = _values(name, data.a), _values(name, data.b)
        n = min(a.size, b.size)
        if n < 2:
            return float(a.mean() - b.mean()) if n else math.nan, math.nan, math.nan, n
        va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
        se = math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)) if se > 0 else 1e9
        return float(a.mean() - b.mean()), se, df, n
    x = _values(name, data)
    n = x.size
    if n < 2:
        return (float(x.mean()) if n else math.nan), math.nan, math.nan, n
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(n)), n - 1, n


def _interval(m, se, df, alpha_two_sided):
    if not math.isfinite(se):
        return math.nan, math.nan
    h = _st.t.ppf(1 - alpha_two_sided / 2, df) * se
    return m - h, m + h


def _power_se(se, df):
    """The standard error the power is computed with: the measured one scaled to a
    median-unbiased estimate of the true one, se·sqrt(df/χ²₀.₅(df)).  Power is monotone in
    the standard error, so the reported power is then a median-unbiased estimate of the true
    power (below it as often as above).  The plain plug-in overstates it with few seeds:
    0.66 against a true 0.53 at 3 seeds (measured in tests/experiments/test_criteria.py)."""
    return se * math.sqrt(df / _st.chi2.ppf(0.5, df))


def _nct_sf(x, df, nc) -> float:
    """scipy's noncentral-t tail, which returns NaN far out in the tail (a noncentrality
    of hundreds, i.e. a tiny measured spread); there the tail is 0 or 1 to many digits."""
    v = float(_st.nct.sf(x, df, nc))
    return v if math.isfinite(v) else float(nc > x)


def _one_sided_power(effect, se, df, alpha):
    """P(the one-sided level-α t test rejects) when the true mean is ``effect`` > 0 and the
    standard error is ``se``: the noncentral t tail (what statsmodels' TTestPower computes;
    written on (se, df) so that Welch's two-arm case uses the same line)."""
    if se == 0:
        return 1.0
    return _nct_sf(_st.t.ppf(1 - alpha, df), df, effect / _power_se(se, df))


def _undecided_for_units(c: Criterion, est, n, alpha, note=None) -> Judgement:
    return Judgement(
        c.name, c.paper_says, c.kind, est, math.nan, math.nan, "undecided", 0.0,
        c.effect, alpha, n, c.derived,
        note or f"undecided: {n} {c.unit}s, an interval needs at least {MIN_UNITS}",
    )  # fmt: skip


def _effect_text(c: Criterion) -> str:
    if c.kind == "equivalence":
        return f"a true difference 0 (margin ±{c.margin:g})"
    return f"effect {c.effect:g}"


def _finish(c: Criterion, est, lo, hi, decision, power, alpha, n, note="", cells=None):
    if power is not None and not math.isfinite(power):
        power = 0.0  # a power that cannot be computed is no power: the gate holds it
    if power is not None and power < MIN_POWER and decision != "undecided":
        note = (
            f"undecided by design at this scale: power {power:.2f} < {MIN_POWER} at "
            f"{_effect_text(c)}; the interval alone says {decision}"
        )
        decision = "undecided"
    elif power is not None and power < MIN_POWER:
        note = note or f"undecided by design at this scale: power {power:.2f} < {MIN_POWER}"
    return Judgement(
        c.name, c.paper_says, c.kind, est, lo, hi, decision, power, c.effect, alpha, n,
        c.derived, note, cells or {},
    )  # fmt: skip


def _direction(c: Criterion, data, alpha) -> Judgement:
    m, se, df, n = _t_summary(data, c.name)
    if n < MIN_UNITS:
        return _undecided_for_units(c, m, n, alpha)
    lo, hi = _interval(m, se, df, 2 * alpha)  # one-sided α on each side
    s_lo, s_hi = (lo, hi) if c.sign > 0 else (-hi, -lo)
    decision = "supported" if s_lo > 0 else "contradicted" if s_hi < 0 else "undecided"
    power = _one_sided_power(c.effect, se, df, alpha)
    return _finish(c, m, lo, hi, decision, power, alpha, n)


def _equivalence(c: Criterion, data, alpha) -> Judgement:
    from statsmodels.stats.weightstats import ttost_ind, ttost_paired

    m, se, df, n = _t_summary(data, c.name)
    if n < MIN_UNITS:
        return _undecided_for_units(c, m, n, alpha)
    if isinstance(data, Unpaired):
        p, *_ = ttost_ind(np.array(data.a), np.array(data.b), -c.margin, c.margin, usevar="unequal")
    else:
        x = _values(c.name, data)
        p, *_ = ttost_paired(x, np.zeros_like(x), -c.margin, c.margin)
    lo, hi = _interval(m, se, df, 2 * alpha)
    if se == 0:
        decision = "supported" if abs(m) < c.margin else "contradicted"
    elif p < alpha:
        decision = "supported"
    elif lo >= c.margin or hi <= -c.margin:
        decision = "contradicted"
    else:
        decision = "undecided"
    # TOST power at a true difference of 0: both one-sided tests reject
    tc = _st.t.ppf(1 - alpha, df)
    ps = _power_se(se, df)
    power = 1.0 if se == 0 else max(0.0, 2 * float(_st.t.cdf(c.margin / ps - tc, df)) - 1)
    return _finish(c, m, lo, hi, decision, power, alpha, n, note=f"margin ±{c.margin:g}")


def _exponent(c: Criterion, data, alpha) -> Judgement:
    m, se, df, n = _t_summary(data, c.name)
    if n < MIN_UNITS:
        return _undecided_for_units(c, m, n, alpha)
    lo, hi = _interval(m, se, df, alpha)
    tol, pred = c.tolerance, c.prediction
    inside = lo - tol <= pred <= hi + tol
    decision = "supported" if inside else "contradicted"
    if se == 0:
        power = 1.0
    else:  # P(|mean − pred| > tol + t·se) when the truth is pred + effect (or − effect)
        tc = _st.t.ppf(1 - alpha / 2, df)
        ps = _power_se(se, df)
        far = _nct_sf(tc, df, (c.effect - tol) / ps)  # beyond the side of the truth
        near = 1 - _nct_sf(-tc, df, (c.effect + tol) / ps)  # beyond the other side
        power = far + near
    note = f"prediction {pred:g} ± tolerance {tol:g}"
    return _finish(c, m, lo, hi, decision, min(power, 1.0), alpha, n, note=note)


def _existence(c: Criterion, data: dict, alpha) -> Judgement:
    if not isinstance(data, dict) or not data:
        raise ParameterError(f"data[{c.name!r}]", type(data).__name__, "existence needs cells")
    k = len(data)
    rows = {}
    for label, vals in data.items():
        m, se, df, n = _t_summary(vals, c.name)
        rows[label] = (m, se, df, n)
    ok = {lab: r for lab, r in rows.items() if r[3] >= MIN_UNITS}
    if not ok:
        n = max(r[3] for r in rows.values())
        return _undecided_for_units(c, math.nan, n, alpha)
    cells, shows, opposite, powers = {}, [], [], []
    for lab, (m, se, df, n) in ok.items():
        lo_k, hi_k = _interval(m, se, df, 2 * alpha / k)  # one-sided α/k: Bonferroni
        lo_1, hi_1 = _interval(m, se, df, 2 * alpha)  # one-sided α: for the IUT
        s = c.sign
        if (lo_k if s > 0 else -hi_k) > 0:
            shows.append(lab)
        if (hi_1 if s > 0 else -lo_1) < 0:
            opposite.append(lab)
        powers.append(_one_sided_power(c.effect, se, df, alpha / k))
        cells[lab] = {"estimate": m, "ci_low": lo_k, "ci_high": hi_k, "n": n}
    best = max(ok, key=lambda lab: c.sign * ok[lab][0])
    m = ok[best][0]
    lo, hi = cells[best]["ci_low"], cells[best]["ci_high"]
    if shows:
        decision, note = "supported", f"shown in {', '.join(map(str, shows))}"
    elif len(opposite) == k:
        decision, note = "contradicted", "every cell shows the opposite beyond its spread"
    else:
        decision, note = "undecided", ""
    n_min = min(r[3] for r in ok.values())
    # power when exactly one cell, any of them, carries the effect: the mean cell power
    power = float(np.mean(powers))
    return _finish(c, m, lo, hi, decision, power, alpha, n_min, note=note, cells=cells)


def _machinery(c: Criterion, data, alpha) -> Judgement:
    v = float(np.asarray(data, dtype=float).ravel()[0]) if np.size(data) else math.nan
    decision = "supported" if math.isfinite(v) and c.low <= v <= c.high else "contradicted"
    return Judgement(
        c.name, c.paper_says, c.kind, v, c.low, c.high, decision, None, None, alpha, 1,
        c.derived, f"accepted range [{c.low:g}, {c.high:g}]",
    )  # fmt: skip


_KIND_TESTS = {
    "direction": _direction,
    "equivalence": _equivalence,
    "exponent": _exponent,
    "existence": _existence,
    "machinery": _machinery,
}


def judge(criterion: Criterion, data, *, alpha: float = ALPHA) -> Judgement:
    """One criterion on its data at level ``alpha`` (see the module docstring per kind)."""
    alpha = in_range("alpha", alpha, 0, 0.5, low_open=True, high_open=True)
    return _KIND_TESTS[criterion.kind](criterion, data, alpha)


def evaluate(criteria, data: dict, *, alpha: float = ALPHA) -> list[Judgement]:
    """Judge every criterion on ``data[criterion.name]`` with Bonferroni's α/k, k the number
    of statistical (non-machinery) criteria (module docstring).  A criterion missing from
    ``data`` is undecided with the reason given (``data[name] = None`` or a string)."""
    criteria = list(criteria)
    names = [c.name for c in criteria]
    if len(set(names)) != len(names):
        raise ParameterError("criteria", names, "names must be unique")
    k = max(1, sum(c.kind != "machinery" for c in criteria))
    out = []
    for c in criteria:
        d = data.get(c.name)
        if d is None or isinstance(d, str):
            why = d or "no measurement"
            out.append(_undecided_for_units(c, math.nan, 0, alpha / k, note=f"undecided: {why}"))
        else:
            out.append(judge(c, d, alpha=alpha / k if c.kind != "machinery" else alpha))
    return out


def verdict(judgements) -> str:
    """The one rule (DESIGN.md §10): any criterion contradicted → "disagree"; every
    criterion supported → "agree"; otherwise "inconclusive".  No criteria → "inconclusive"."""
    decisions = [j.decision for j in judgements]
    if "contradicted" in decisions:
        return "disagree"
    if decisions and all(d == "supported" for d in decisions):
        return "agree"
    return "inconclusive"


def counts(judgements) -> dict[str, int]:
    """How many criteria ended in each decision."""
    c = dict.fromkeys(DECISIONS, 0)
    for j in judgements:
        c[j.decision] += 1
    return c


def _fmt(v) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:.4g}"


def criteria_table(judgements) -> str:
    """The markdown table every report shows."""
    rows = [
        "| criterion | the paper says | kind | estimate | interval | power | decision | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for j in judgements:
        says = j.paper_says + (" *(derived)*" if j.derived else "")
        interval = "—" if not math.isfinite(j.ci_low) else f"[{_fmt(j.ci_low)}, {_fmt(j.ci_high)}]"
        power = "n/a" if j.power is None else f"{j.power:.2f}"
        rows.append(
            f"| {j.name} | {says} | {j.kind} | {_fmt(j.estimate)} | {interval} | {power} | "
            f"**{j.decision}** | {j.note} |"
        )
    return "\n".join(rows)


def per_seed(df, value: str, *, by: str = "seed"):
    """Per-seed values of column ``value`` (mean over the rows sharing a seed), as the
    sampling units the criteria take."""
    return df.groupby(by)[value].mean().to_numpy(dtype=float)


def paired(df, value: str, axis: str, high, low, *, seed: str = "seed") -> np.ndarray:
    """Seed-paired differences ``value(axis=high) − value(axis=low)`` over the seeds
    present in both arms (a seed missing from either arm is dropped, not imputed)."""
    a = df[df[axis] == high].groupby(seed)[value].mean()
    b = df[df[axis] == low].groupby(seed)[value].mean()
    common = a.index.intersection(b.index)
    return (a[common] - b[common]).to_numpy(dtype=float)


def per_seed_slopes(x, y, seeds, *, log: bool = True) -> np.ndarray:
    """One least-squares slope of y on x per seed (log–log when ``log``): the per-seed
    exponents an ``exponent`` criterion takes.  A seed with fewer than two distinct x
    values has no slope and is dropped."""
    x, y, seeds = (np.asarray(v).ravel() for v in (x, y, seeds))
    out = []
    for s in np.unique(seeds):
        m = seeds == s
        xs, ys = x[m].astype(float), y[m].astype(float)
        if log:
            keep = (xs > 0) & (ys > 0)
            xs, ys = np.log(xs[keep]), np.log(ys[keep])
        if np.unique(xs).size >= 2:
            out.append(_st.linregress(xs, ys).slope)
    return np.asarray(out, dtype=float)
