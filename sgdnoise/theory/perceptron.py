"""The SGW23 perceptron data law and its boundary statistics (DESIGN.md §4.2).

Inputs ``x ∈ R^d``: the informative coordinate has density

    ρ(x_1) = |x_1|^χ e^{−x_1²/2} / Z_χ,   Z_χ = 2^{(χ+1)/2} Γ((χ+1)/2),   χ > −1,

the other d−1 coordinates are N(0, 1), and the label is ``y = sign(x_1)``.  χ sets how much
data sits near the decision boundary: χ = 0 is a Gaussian, χ > 0 depletes the boundary.

Sampling: ``|x_1| = sqrt(2G)`` with ``G ~ Gamma((χ+1)/2, 1)`` and an independent fair sign
(change of variables G = x²/2, checked symbolically in the tests).

Boundary mass (what sets the last points to be fitted, Sclocchi, Geiger & Wyart 2023):

    P(|x_1| < ε) = γ((χ+1)/2, ε²/2)/Γ((χ+1)/2) = c_χ ε^{1+χ} (1 + O(ε²)),
    c_χ = 2^{(1−χ)/2} / ((1+χ) Γ((χ+1)/2)),

and the first moment of |x_1| inside the band, ``E[|x_1| 1(|x_1| < ε)] = m_χ ε^{2+χ}(1+O(ε²))``
with ``m_χ = (1+χ) c_χ/(2+χ)``.  All are derived by sympy below (integrate, then take the
leading term), never typed in.

Test error of a perceptron with ``Δw = (Δw_1, Δw_⊥)`` on fresh points: ``o ∝ Δw_1 x_1 +
‖Δw_⊥‖ z`` with z ~ N(0,1) independent of x_1, so

    err = E_{x_1}[ Φ̄(Δw_1 |x_1| / ‖Δw_⊥‖) ]   (Φ̄ the Gaussian tail),

evaluated by quadrature in :func:`test_error`.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp
from scipy import integrate, special

from ..errors import ParameterError
from ..validation import finite, in_range, integer, nonnegative, positive

chi = sp.Symbol("chi", real=True)
x1 = sp.Symbol("x_1", positive=True)
epsilon = sp.Symbol("epsilon", positive=True)
_k = sp.Symbol("k", positive=True)  # k = (χ+1)/2 > 0, so sympy knows the integrals converge

#: Unnormalized density of x_1 on x_1 > 0 (even in x_1).
UNNORMALIZED = x1**chi * sp.exp(-(x1**2) / 2)


def _in_k(expr):
    return expr.subs(chi, 2 * _k - 1)


def _back(expr):
    return sp.simplify(expr.subs(_k, (chi + 1) / 2))


#: Z_χ = ∫_R |x|^χ e^{−x²/2} dx.
NORMALIZATION = _back(2 * sp.integrate(_in_k(UNNORMALIZED), (x1, 0, sp.oo)))
#: ρ(x_1) for x_1 > 0 (the law is even).
DENSITY = UNNORMALIZED / NORMALIZATION


def _leading(expr_k, power):
    """Coefficient of ε^power in ``2/Z ∫_0^ε expr dx`` as ε → 0: integrate the leading
    term of the integrand's expansion (e^{−x²/2} = 1 + O(x²)), which sympy does exactly."""
    lead = expr_k.subs(sp.exp(-(x1**2) / 2), 1)
    integral = 2 * sp.integrate(lead, (x1, 0, epsilon)) / _in_k(NORMALIZATION)
    return _back(sp.simplify(integral / epsilon**power))


#: c_χ: the leading coefficient of P(|x_1| < ε) ~ c_χ ε^{1+χ}.
C_CHI = _leading(_in_k(UNNORMALIZED), 2 * _k)
#: m_χ: leading coefficient of E[|x_1| 1(|x_1|<ε)] ~ m_χ ε^{2+χ}.
M_CHI = _leading(_in_k(x1 * UNNORMALIZED), 2 * _k + 1)


@functools.cache
def boundary_mass_expr() -> sp.Expr:
    """Exact ``P(|x_1| < ε)`` as a sympy expression (derived on first call: ~1 s).

    Substituting G = x²/2 turns ``(2/Z)∫_0^ε x^χ e^{−x²/2} dx`` into
    ``∫_0^{ε²/2} G^{k−1} e^{−G} dG / Γ(k)``, k = (χ+1)/2, which sympy integrates to the
    regularized lower incomplete gamma function.
    """
    G = sp.Symbol("G", positive=True)
    jac = sp.diff(sp.sqrt(2 * G), G)  # dx/dG with x = sqrt(2G)
    integrand = _in_k(UNNORMALIZED).subs(x1, sp.sqrt(2 * G)) * jac
    val = 2 * sp.integrate(
        sp.powsimp(sp.expand_power_base(integrand, force=True)), (G, 0, epsilon**2 / 2)
    )
    return _back(sp.simplify(val / _in_k(NORMALIZATION)))


_c_chi = sp.lambdify(chi, C_CHI, modules="scipy")
_m_chi = sp.lambdify(chi, M_CHI, modules="scipy")
_norm = sp.lambdify(chi, NORMALIZATION, modules="scipy")


def check_chi(value) -> float:
    """χ must be a finite real > −1 (the density is not normalizable otherwise)."""
    return in_range("chi", value, -1.0, None, low_open=True)


def normalization(chi_: float) -> float:
    """``Z_χ = 2^{(χ+1)/2} Γ((χ+1)/2)``."""
    return float(_norm(check_chi(chi_)))


def density(x, chi_: float):
    """ρ(x_1) on the real line (vectorized)."""
    c = check_chi(chi_)
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        return np.abs(x) ** c * np.exp(-(x**2) / 2) / normalization(c)


def boundary_mass(eps, chi_: float):
    """Exact ``P(|x_1| < ε)`` = regularized lower incomplete gamma ``P((χ+1)/2, ε²/2)``."""
    c = check_chi(chi_)
    eps = np.asarray(eps, dtype=float)
    if np.any(eps < 0) or not np.all(np.isfinite(eps)):
        raise ParameterError("eps", eps.tolist(), "must be finite and >= 0")
    return special.gammainc((c + 1) / 2, eps**2 / 2)


def boundary_coefficient(chi_: float) -> float:
    """``c_χ`` with ``P(|x_1| < ε) ≈ c_χ ε^{1+χ}`` as ε → 0."""
    return float(_c_chi(check_chi(chi_)))


def band_moment_coefficient(chi_: float) -> float:
    """``m_χ`` with ``E[|x_1| 1(|x_1|<ε)] ≈ m_χ ε^{2+χ}`` as ε → 0."""
    return float(_m_chi(check_chi(chi_)))


def sample_x1(n: int, chi_: float, rng: np.random.Generator) -> np.ndarray:
    """n draws of x_1: ``s·sqrt(2G)``, ``G ~ Gamma((χ+1)/2, 1)``, s a fair sign."""
    c = check_chi(chi_)
    n = integer("n", n, minimum=0)
    g = rng.gamma((c + 1) / 2, 1.0, size=n)
    s = rng.integers(0, 2, size=n) * 2 - 1
    return s * np.sqrt(2 * g)


def sample_inputs(n: int, d: int, chi_: float, rng: np.random.Generator):
    """``(X, y)``: n points of the perceptron task in d dimensions, label ``y = sign(x_1)``.

    x_1 is drawn with :func:`sample_x1`; the other d−1 coordinates are N(0,1).  A draw of
    exactly x_1 = 0 (probability 0) is given the label +1.
    """
    n = integer("n", n, minimum=0)
    d = integer("d", d, minimum=2)
    X = rng.standard_normal((n, d))
    X[:, 0] = sample_x1(n, chi_, rng)
    y = np.where(X[:, 0] >= 0, 1.0, -1.0)
    return X, y


def test_error(dw1: float, dw_perp: float, chi_: float) -> float:
    """Generalization error ``E[Φ̄(Δw_1 |x_1| / ‖Δw_⊥‖)]`` of the predictor sign(Δw·x).

    Exact for the data law above (x_⊥ Gaussian, independent of x_1).  ``‖Δw_⊥‖ = 0`` gives
    0 when Δw_1 > 0, 1 when Δw_1 < 0 and 1/2 when Δw = 0 (ties counted as half an error).
    """
    c = check_chi(chi_)
    dw1 = finite("dw1", dw1)
    dw_perp = nonnegative("dw_perp", dw_perp)
    if dw_perp == 0.0:
        return 0.5 if dw1 == 0.0 else (0.0 if dw1 > 0 else 1.0)
    a = dw1 / dw_perp
    z = normalization(c)
    # ρ on x>0 is doubled (even law); Φ̄(a x) = erfc(a x/√2)/2.
    f = lambda x: 2 * x**c * np.exp(-(x**2) / 2) / z * 0.5 * special.erfc(a * x / np.sqrt(2))
    # Split at 1/|a| where the tail factor turns over so quad resolves small-error cases.
    cut = min(1.0 / max(abs(a), 1e-300), 50.0)
    v1, _ = integrate.quad(f, 0, cut, limit=200)
    v2, _ = integrate.quad(f, cut, np.inf, limit=200)
    return float(v1 + v2)


def band_halfwidth(n_points: float, chi_: float) -> float:
    """ε with ``n_points · c_χ ε^{1+χ} = 1``: the width of the boundary band that holds one
    of n_points training points (the scale of the last points to be fitted)."""
    c = check_chi(chi_)
    n = positive("n_points", n_points)
    return float((1.0 / (n * boundary_coefficient(c))) ** (1.0 / (1.0 + c)))
