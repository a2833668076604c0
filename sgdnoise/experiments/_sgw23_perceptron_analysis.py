"""Criteria of claim ``sgw23-perceptron``: the SGW23 perceptron's scaling laws judged on
per-seed exponents (DESIGN.md §4.2, §10; Sclocchi, Geiger & Wyart, ICML 2023, §5).

Noise regime (T ≫ 1/α), exponents from :mod:`sgdnoise.theory.perceptron_scaling`:
‖Δw_⊥‖ ∝ T√d P⁰; Δw₁/‖Δw_⊥‖ ∝ P^{1/(1+χ)}; T_c ∝ P^{−1/(1+χ)} (‖Δw‖/‖w₀‖ ≈ Δw₁/√d ∝
T P^{1/(1+χ)} reaching 1); t* ∝ T d P^b with b = (3+χ)/(1+χ) **derived** by our argument
(the drift dΔw₁/dt ∝ ε^{2+χ} integrated to the end of training; the paper prints no b).
For T ≪ 1/α, Δw₁ does not depend on T.

The sampling unit is the seed (one training set and one SGD noise stream, run at every P
and T).  A seed's exponent is the mean over the cells of the other axes (temperature; or
χ and P) of log–log slopes (:func:`~sgdnoise.experiments.criteria.per_seed_slopes`), so a
run missing from one cell does not tilt it.  Capped runs (no t*, no end-of-training
weights) are left out of every fit.

P-exponents: tolerance 0.1, the systematic drift we allow over the 1.5 decades of P the
grid spans (the finite-d drift of ‖Δw_⊥‖ at d = 16 is of that size); power at the gap to
the prediction at the nearest χ of {0, 1, 3} (the paper's point is that the exponents
depend on χ: a test that cannot tell χ from its neighbour cannot support it), and for
‖Δw_⊥‖ (0 at every χ) at 1/(1+χ), noise that tracks the signal.  T-exponents: tolerance
0.05 (O(1/(αT)) corrections, ≈ 1% at αT ≥ 100); effect 0.5, half-way between T¹ and T⁰.
"""

from __future__ import annotations

import functools

import numpy as np

from .criteria import Criterion, evaluate, per_seed_slopes

NOISE_AT = 100.0  # αT at and above which a run counts as noise-dominated
GD_AT = 0.1  # αT at and below which a run counts as gradient descent
CHI_FAMILY = (0.0, 1.0, 3.0)  # the χ of the paper's family, for the χ-resolution effect
P_TOL = 0.1
T_TOL = 0.05
T_EFFECT = 0.5
#: smoke (machinery) ranges for the mean per-seed exponent at χ = 0, P = 2^7…2^10, d = 16:
#: ‖Δw_⊥‖/(T√d) drifts like P^{−0.1…−0.2} at these sizes (finite d: each kick T is not
#: small against ‖Δw_⊥‖ ≈ 0.3 T√d), so ±0.3 around 0 still refuses a simulator whose
#: noise grows with the signal (exponent ≈ 1) or diffusively (≳ 0.5); the ratio's ±0.3
#: around 1 refuses the χ = 1 or χ = 3 exponents (0.5, 0.25); the T-exponent is exact as
#: αT → ∞ up to a few percent at αT ∈ {100, 1000}, so ±0.1.
SMOKE_RANGES = {
    "smoke_perp_P": (-0.3, 0.3, "‖Δw_⊥‖ ∼ T√d, independent of P (χ = 0; exponent of P)"),
    "smoke_ratio_P": (0.7, 1.3, "Δw₁/‖Δw_⊥‖ ∼ P^{1/(1+χ)} (χ = 0; exponent of P)"),
    "smoke_dw1_T": (0.9, 1.1, "Δw₁ ∝ T for T ≫ 1/α (exponent of T)"),
    "smoke_runs_done": (0.99, 1.0, "every run fits its training set (fraction done)"),
}


@functools.cache
def predictions(chi: float) -> dict[str, float]:
    """The noise-regime exponents at χ from the sympy scaling argument."""
    from ..theory.perceptron_scaling import exponent

    def e(q, v):
        return exponent("noise", q, v, chi)

    return {
        "perp_P": e("dw_perp", "P"),
        "ratio_P": e("dw1", "P") - e("dw_perp", "P"),
        "tstar_P": e("t_star", "P"),
        "tc_P": e("T_c", "P"),
        "perp_d": e("dw_perp", "d"),
        "tstar_d": e("t_star", "d"),
    }


def _p_exponent(name, law, chi, says, derived=False) -> Criterion:
    pred = predictions(chi)[law]
    if law == "perp_P":
        effect = 1 / (1 + chi)
        why = "noise that tracks the signal (‖Δw_⊥‖ ∝ Δw₁) would give 1/(1+χ)"
    else:  # the distance to the prediction at the nearest other χ of the family
        effect = min(abs(predictions(c)[law] - pred) for c in CHI_FAMILY if c != chi)
        why = "the gap to the prediction at the nearest χ of {0, 1, 3}: the exponent must tell χ"
    return Criterion(
        name, says, "exponent", effect=effect, effect_reason=why, prediction=pred,
        tolerance=P_TOL, derived=derived,
    )  # fmt: skip


def declare(s) -> list[Criterion]:
    """The claim's criteria at settings ``s`` (declared before any data is seen)."""
    if s.machinery:
        return [
            Criterion(k, says, "machinery", low=lo, high=hi)
            for k, (lo, hi, says) in SMOKE_RANGES.items()
        ]
    out = []
    for chi in s.chis:
        c = f"chi{chi:g}"
        out += [
            _p_exponent(f"perp_P_{c}", "perp_P", chi,
                        f"‖Δw_⊥‖ ∼ T√d, independent of P, for T ≫ 1/α (χ = {chi:g})"),
            _p_exponent(f"ratio_P_{c}", "ratio_P", chi,
                        f"Δw₁/‖Δw_⊥‖ ∼ P^{{1/(1+χ)}}: the signal must outgrow the noise "
                        f"as P grows (χ = {chi:g})"),
            _p_exponent(f"tstar_P_{c}", "tstar_P", chi,
                        f"t* ∝ T d P^{{(3+χ)/(1+χ)}} for T ≫ 1/α (χ = {chi:g})", derived=True),
            _p_exponent(f"tc_P_{c}", "tc_P", chi,
                        f"T_c ∼ P^{{−1/(1+χ)}}: the temperature where SGD noise starts to "
                        f"change the trained weights is a power law of P (χ = {chi:g})"),
        ]  # fmt: skip
    t = dict(kind="exponent", effect=T_EFFECT, tolerance=T_TOL,
             effect_reason="half-way between T¹ (noise) and T⁰ (gradient descent)")  # fmt: skip
    out += [
        Criterion("perp_T", "‖Δw_⊥‖ ∼ T√d for T ≫ 1/α (exponent of T)", prediction=1.0, **t),
        Criterion("dw1_T", "due to SGD noise the net must develop a stronger signal: "
                  "Δw₁ ∝ T for T ≫ 1/α", prediction=1.0, **t),
        Criterion("tstar_T", "… leading to a longer training time: t* ∝ T for T ≫ 1/α",
                  prediction=1.0, derived=True, **t),
    ]  # fmt: skip
    if s.cross_aT:
        out.append(
            Criterion("gd_dw1_T", "below T_c SGD noise does not affect the trained model: "
                      "Δw₁ independent of T for T ≪ 1/α", prediction=0.0, **t)
        )  # fmt: skip
    out += [
        Criterion(
            "signal_grows_P", "a stronger signal is also required when the training set P "
            "increases (mean over χ of the P-exponent of Δw₁)", "direction", effect=0.25,
            effect_reason="the smallest exponent 1/(1+χ) on χ ∈ {0, 1, 3}",
        ),
        Criterion(
            "tstar_grows_P", "a longer training time is also required when P increases "
            "(mean over χ of the P-exponent of t*)", "direction", effect=0.75,
            effect_reason="half the smallest derived b = (3+χ)/(1+χ) on χ ∈ {0, 1, 3}",
        ),
    ]  # fmt: skip
    if len(s.ds) > 1:
        for chi in s.chis:
            c, p = f"chi{chi:g}", predictions(chi)
            out += [
                Criterion(f"perp_d_{c}", f"‖Δw_⊥‖ ∼ T√d (exponent of d, χ = {chi:g})",
                          "exponent", effect=0.25, prediction=p["perp_d"], tolerance=P_TOL,
                          effect_reason="half the predicted d-exponent 1/2"),
                Criterion(f"tstar_d_{c}", f"t* ∝ T d P^b (exponent of d, χ = {chi:g})",
                          "exponent", effect=0.5, prediction=p["tstar_d"], tolerance=P_TOL,
                          effect_reason="half the predicted d-exponent 1", derived=True),
            ]  # fmt: skip
    return out


# -- measurements ---------------------------------------------------------------------


def with_observables(df):
    """The done runs with the normalized observables as columns: ``T`` = αT/α,
    ``perp`` = ‖Δw_⊥‖/(T√d), ``ratio`` = Δw₁/‖Δw_⊥‖,
    ``tstar`` = t*/(T d), ``tc`` = T√d/Δw₁ (the T where Δw₁/√d = 1 if Δw₁ ∝ T)."""
    d = df[df["status"] == "done"].copy()
    d["T"] = d["aT"] / d["alpha"]
    sq = np.sqrt(d["d"].astype(float))
    d["perp"] = d["dw_perp"] / (d["T"] * sq)
    d["ratio"] = d["dw1"] / d["dw_perp"]
    d["tstar"] = d["t_star"] / (d["T"] * d["d"])
    d["tc"] = d["T"] * sq / d["dw1"]
    return d


def seed_slopes(df, x: str, y: str, within=()) -> np.ndarray:
    """Per-seed log–log exponent of ``y`` on ``x``: for each seed the mean of the
    least-squares slopes within each cell of the ``within`` columns
    (:func:`~sgdnoise.experiments.criteria.per_seed_slopes` with the cells as its groups)."""
    out = []
    for _, g in df.groupby("seed"):
        cells = g.groupby(list(within)).ngroup().to_numpy() if within else np.zeros(len(g))
        s = per_seed_slopes(g[x].to_numpy(float), g[y].to_numpy(float), cells)
        if s.size:
            out.append(float(s.mean()))
    return np.asarray(out)


def measure(df, s) -> dict:
    """Per-seed values for every criterion of :func:`declare` (a string where there are
    none, which the layer reports as undecided with that reason)."""
    obs = with_observables(df)
    d0 = min(s.ds)
    base = obs[obs["d"] == d0]
    noise = base[base["aT"] >= NOISE_AT]
    if s.machinery:
        z = noise[noise["chi"] == 0.0]
        m = {
            "smoke_perp_P": seed_slopes(z, "P", "perp", ["aT"]),
            "smoke_ratio_P": seed_slopes(z, "P", "ratio", ["aT"]),
            "smoke_dw1_T": seed_slopes(z, "aT", "dw1", ["P"]),
        }
        m = {k: [float(v.mean())] if v.size else "no runs" for k, v in m.items()}
        m["smoke_runs_done"] = [float((df["status"] == "done").mean()) if len(df) else 0.0]
        return m
    m = {}
    for chi in s.chis:
        z, c = noise[noise["chi"] == chi], f"chi{chi:g}"
        for law, col in (("perp_P", "perp"), ("ratio_P", "ratio"), ("tstar_P", "tstar"),
                         ("tc_P", "tc")):  # fmt: skip
            m[f"{law}_{c}"] = seed_slopes(z, "P", col, ["aT"])
        z = obs[(obs["chi"] == chi) & (obs["P"] == max(s.P_grid(chi))) & (obs["aT"] == NOISE_AT)]
        m[f"perp_d_{c}"], m[f"tstar_d_{c}"] = (
            seed_slopes(z, "d", y) for y in ("dw_perp", "t_star")
        )
    for name, y in (("perp_T", "dw_perp"), ("dw1_T", "dw1"), ("tstar_T", "t_star")):
        m[name] = seed_slopes(noise, "aT", y, ["chi", "P"])
    m["gd_dw1_T"] = seed_slopes(base[base["aT"] <= GD_AT], "aT", "dw1", ["chi", "P"])
    m["signal_grows_P"] = seed_slopes(noise, "P", "dw1", ["chi", "aT"])
    m["tstar_grows_P"] = seed_slopes(noise, "P", "t_star", ["chi", "aT"])
    return {k: v if v.size else "no runs to fit" for k, v in m.items()}


def judge(df, s):
    """The criteria of :func:`declare` judged on the runs ``df`` (criteria.evaluate)."""
    return evaluate(declare(s), measure(df, s))


def status_counts(df) -> dict[str, int]:
    return {k: int((df["status"] == k).sum()) for k in ("done", "capped", "diverged", "failed")}
