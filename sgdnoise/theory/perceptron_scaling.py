"""Scaling laws of SGD on the SGW23 perceptron, derived by sympy from the scaling argument.

Setting (DESIGN.md §4.2; Sclocchi, Geiger & Wyart, ICML 2023): data law of
:mod:`sgdnoise.theory.perceptron`, model ``o = Δw·x/sqrt(d)``, hinge with margin 1/α
(:mod:`sgdnoise.theory.hinge`), SGD at temperature ``T = η/B``, time ``t = η × steps``,
stop when every one of the P training points is fitted.  Signal ``W_1 = Δw_1``, noise
``W_⊥ = ‖Δw_⊥‖``.  Per unit time, SGD moves Δw by the mean gradient
``(1/sqrt(d)) E[y x 1(unfitted)]`` and diffuses with covariance rate ``(T/d) f`` per
coordinate (f the fraction of unfitted points; each draw of an unfitted point kicks Δw
by ``T y x/sqrt(d)``).

The argument, as equations (each a line below, solved by sympy):

1. **Band.** Late in training only points with ``|x_1| < ε`` can be unfitted.  Noise-dominated
   regime (T ≫ 1/α): the kick T overshoots the margin, so the margin is irrelevant and a point
   is unfitted when its noise term ``W_⊥ z`` beats its signal ``W_1|x_1|``: ``ε = W_⊥/W_1``.
   Gradient-descent regime (T ≪ 1/α): the margin decides, ``W_1 ε/sqrt(d) = 1/α``.
2. **End of training.** The band holds less than one of the P points:
   ``P c_χ ε^{1+χ} = 1`` (``c_χ`` from :mod:`~sgdnoise.theory.perceptron`).
3. **Noise.** Noise regime: the unfitted points are those whose noise term pushes the wrong
   way, so the mean gradient pulls Δw_⊥ back with constant force ``F = κ f/sqrt(d)`` (κ = O(1))
   while it diffuses with ``D = T f/(2d)`` per coordinate; the radial density
   ``r^{d−2} e^{−F r/D}`` peaks at ``W_⊥ = (d−2)D/F``: f cancels, so W_⊥ does not depend on P.
   GD regime: the band edge shifts with the noise term, a linear restoring force
   ``k = (1+χ) α f/d`` (derivative of the band mass), an Ornstein–Uhlenbeck balance
   ``W_⊥² = (d−1) D/k``.
4. **Time.** The signal grows by the band points: ``dW_1/dt = (1/sqrt(d)) m_χ ε^{2+χ}/2``
   (half the band is unfitted); ``t*`` is the time to reach the final W_1.
5. **Relative change.** ``‖Δw‖/‖w_0‖ ≈ W_1/sqrt(d)``; ``T_c`` is the T where it is 1.

Constants of order one (κ, the factor 1/2) are kept as symbols or numbers; only exponents
are claimed.  Exponents are ``lim var·∂log(q)/∂var``; the limit matters only for d, where
(d−2)/sqrt(d) → sqrt(d).  Results (derived here, tested, and reproduced by simulation in
the ``sgw23-perceptron`` claim):

* noise regime: ``W_⊥ ∝ T d^{1/2} P^0``, ``W_1 ∝ T d^{1/2} P^{1/(1+χ)}``,
  ``t* ∝ T d P^{(3+χ)/(1+χ)}``, ``T_c ∝ P^{−1/(1+χ)} d^0``;
* GD regime: ``W_1 ∝ α^{−1} d^{1/2} P^{1/(1+χ)} T^0``,
  ``t* ∝ α^{−1} d P^{(3+χ)/(1+χ)} T^0``; no T_c (the change is T-independent; α_c ∝ P^{1/(1+χ)}).
  Only the SGD-noise part of W_⊥ follows from the argument (``dw_perp_sgd ∝ (T d/α)^{1/2}``);
  as T → 0 it vanishes and W_⊥ is left with a quenched, T-independent part built by
  gradient flow on the finite sample (memorizing the band points), which the argument does
  not determine, so ``dw_perp`` is reported as undetermined (None) in this regime.  The
  simulations confirm it: at αT = 0.1 and 0.03 ‖Δw_⊥‖ is the same to a few percent;
* crossover at ``T_× ∝ 1/α`` (P^0 d^0), where both regimes' formulas meet.
"""

from __future__ import annotations

import functools

import sympy as sp

from .perceptron import C_CHI, M_CHI, chi

P, T, d, alpha, t = sp.symbols("P T d alpha t", positive=True)
W1, Wp, eps, f, r, kappa = sp.symbols("W_1 W_perp epsilon f r kappa", positive=True)
#: s = 1 + χ > 0, used while solving so that sympy knows the powers are well defined.
s = sp.Symbol("s", positive=True)

REGIMES = ("noise", "gd", "crossover")
QUANTITIES = ("dw1", "dw_perp", "dw_perp_sgd", "t_star", "T_c", "T_x")
VARIABLES = ("P", "T", "d", "alpha")
_VARS = {"P": P, "T": T, "d": d, "alpha": alpha}

_c = C_CHI.subs(chi, s - 1)
_m = M_CHI.subs(chi, s - 1)


def _only(solutions):
    sols = [sp.simplify(x) for x in solutions]
    if len(sols) != 1:
        raise RuntimeError(f"expected one positive solution, got {sols}")
    return sols[0]


def _solve(eq, var):
    return _only(sp.solve(eq, var))


def _time_to(w1_final, band):
    """t* = ∫_0^{W_1*} dW_1 / (dW_1/dt) with dW_1/dt = m_χ ε^{1+s}/(2 sqrt(d))."""
    drift = _m * band ** (s + 1) / (2 * sp.sqrt(d))
    integrand = sp.powsimp(sp.expand_power_base(1 / drift, force=True), force=True)
    # s > 0 so the power s+1 of W_1 integrates without a Piecewise for s = −2
    return sp.powsimp(sp.integrate(integrand, (W1, 0, w1_final), conds="none"), force=True)


@functools.cache
def derive() -> dict[str, dict[str, sp.Expr | None]]:
    """Solve the scaling equations of each regime; returns ``{regime: {quantity: expr}}``
    with expressions in P, T, d, α, κ and χ (None where a quantity has no solution)."""
    out: dict[str, dict[str, sp.Expr | None]] = {}

    # --- noise-dominated regime -------------------------------------------------------
    D = T * f / (2 * d)
    F = kappa * f / sp.sqrt(d)
    log_radial = (d - 2) * sp.log(r) - F * r / D
    wp = _solve(sp.Eq(sp.diff(log_radial, r), 0), r)
    band = Wp / W1
    e_end = _solve(sp.Eq(P * _c * eps**s, 1), eps)
    w1 = _solve(sp.Eq(band.subs(Wp, wp), e_end), W1)
    tstar = _time_to(w1, band.subs(Wp, wp))
    tc = _solve(sp.Eq(w1 / sp.sqrt(d), 1), T)
    out["noise"] = {"dw1": w1, "dw_perp": wp, "t_star": tstar, "T_c": tc}

    # --- gradient-descent regime ------------------------------------------------------
    band_gd = sp.sqrt(d) / (alpha * W1)
    w1_gd = _solve(sp.Eq(band_gd, e_end), W1)
    k_ou = s * alpha * f / d
    wp_gd = sp.sqrt((d - 1) * D / k_ou)
    tstar_gd = _time_to(w1_gd, band_gd)
    tc_sols = sp.solve(sp.Eq(w1_gd / sp.sqrt(d), 1), T)  # T does not appear: no solution
    out["gd"] = {
        "dw1": w1_gd,
        # the SGD-noise part only; the total also holds a quenched, T-independent part
        # (finite-sample gradient flow) that the argument does not fix: see the docstring
        "dw_perp": None,
        "dw_perp_sgd": sp.simplify(wp_gd),
        "t_star": tstar_gd,
        "T_c": _only(tc_sols) if tc_sols else None,
    }

    # --- crossover: the T where the noise band equals the margin band ------------------
    tx = _solve(sp.Eq(w1, w1_gd), T)
    out["crossover"] = {"T_x": tx}
    # sanity: at T = T_x both regimes give the same t* (the formulas meet)
    gap = sp.simplify(sp.log(tstar.subs(T, tx)) - sp.log(tstar_gd))
    if gap != 0:
        raise RuntimeError(f"noise and GD t* do not meet at the crossover: {gap}")
    return {
        reg: {q: (None if e is None else sp.simplify(e.subs(s, 1 + chi))) for q, e in qs.items()}
        for reg, qs in out.items()
    }


def exponent_of(expr: sp.Expr | None, var: sp.Symbol) -> sp.Expr | None:
    """``lim_{var→∞} var ∂log(expr)/∂var`` (exact power for P, T, α; leading order in d)."""
    if expr is None:
        return None
    e = sp.simplify(var * sp.diff(sp.log(expr), var))
    if e.has(var):
        e = sp.limit(e, var, sp.oo)
    return sp.simplify(e)


@functools.cache
def exponents() -> dict[str, dict[str, dict[str, sp.Expr | None]]]:
    """``{regime: {quantity: {variable: exponent(χ)}}}`` for regimes noise / gd / crossover.

    Quantities: ``dw1`` (Δw_1), ``dw_perp`` (‖Δw_⊥‖), ``t_star`` (η × steps), ``T_c``
    (temperature where the relative weight change is 1) and, for the crossover, ``T_x``.
    """
    res = derive()
    return {
        reg: {q: {v: exponent_of(e, _VARS[v]) for v in VARIABLES} for q, e in qs.items()}
        for reg, qs in res.items()
    }


def exponent(regime: str, quantity: str, variable: str, chi_value: float) -> float | None:
    """A single exponent as a float at χ = chi_value (None when the quantity does not exist)."""
    from ..validation import choice
    from .perceptron import check_chi

    choice("regime", regime, REGIMES)
    choice("variable", variable, VARIABLES)
    table_ = exponents()[regime]
    choice("quantity", quantity, tuple(table_))
    c = check_chi(chi_value)
    e = table_[quantity][variable]
    return None if e is None else float(e.subs(chi, c))


def _rows(chi_value=None):
    rows = []
    for reg, qs in exponents().items():
        for q, ev in qs.items():
            cells = []
            for v in VARIABLES:
                e = ev[v]
                if e is not None and chi_value is not None:
                    e = sp.nsimplify(e.subs(chi, chi_value))
                cells.append(e)
            rows.append((reg, q, cells))
    return rows


def table(chi_value=None) -> str:
    """Markdown table of the exponents (symbolic in χ, or at a given χ)."""
    head = "| regime | quantity | " + " | ".join(VARIABLES) + " |"
    lines = [head, "| --- | --- | " + " | ".join("---" for _ in VARIABLES) + " |"]
    for reg, q, cells in _rows(chi_value):
        txt = ["—" if c is None else str(c) for c in cells]
        lines.append(f"| {reg} | {q} | " + " | ".join(txt) + " |")
    return "\n".join(lines)


def latex_table(chi_value=None) -> str:
    """The same table as a LaTeX tabular."""
    names = {
        "dw1": r"\Delta w_1",
        "dw_perp": r"\|\Delta w_\perp\|",
        "dw_perp_sgd": r"\|\Delta w_\perp\|_{\rm SGD}",
        "t_star": "t^*",
        "T_c": "T_c",
        "T_x": r"T_\times",
    }
    cols = {"P": "P", "T": "T", "d": "d", "alpha": r"\alpha"}
    lines = [
        r"\begin{tabular}{ll" + "c" * len(VARIABLES) + "}",
        "regime & quantity & " + " & ".join(f"${cols[v]}$" for v in VARIABLES) + r" \\",
        r"\hline",
    ]
    for reg, q, cells in _rows(chi_value):
        txt = ["--" if c is None else f"${sp.latex(c)}$" for c in cells]
        lines.append(f"{reg} & ${names[q]}$ & " + " & ".join(txt) + r" \\")
    lines.append(r"\end{tabular}")
    return "\n".join(lines)
