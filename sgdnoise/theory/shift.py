"""Expected test loss under a train→test shift: shift-curvature and temperature (BG21).

Quadratic basin (derived symbolically by :func:`quadratic_test_loss`)
--------------------------------------------------------------------
Let θ* be a training minimum, x = θ − θ*, and near it the test loss
``L_test(θ) = L*_test + ½ (x − s)ᵀ H_t (x − s)`` — its minimum sits at θ* + s (the *shift*)
with curvature H_t.  If SGD's stationary law has mean offset ``E x = b`` and covariance
``C`` (so ``E x xᵀ = C + b bᵀ``), then exactly

    E L_test = L*_test + ½ sᵀH_t s + ½ tr(H_t C) − sᵀH_t b + ½ bᵀH_t b,

i.e. minimum value + **shift-curvature** ½sᵀHs + **parameter covariance** ½tr(HC) + the two
**bias** terms.  A real basin is not quadratic: in 1-D the test loss's cubic term
⅙L₃ᵗ(x − s)³ adds, for Gaussian x, ``⅙L₃ᵗ E(x − s)³ = ⅙L₃ᵗ(3bC + b³ − 3s(C + b²) + 3s²b − s³)``
(:func:`cubic_test_loss_term`), whose −½L₃ᵗsC part cancels the bias term −H s b at O(sT)
(b below is −L₃C/(2h)); :func:`basin_test_loss` keeps it as the ``anharmonic`` term so the
sum is consistent to O(T) and O(s³).  For the OU law C solves HC + CH = TΣ (:mod:`.ou`),
so the covariance term grows linearly in T; with Σ = H, C = (T/2)I and it is (T/4) tr H_t.

Mean offset (derived symbolically by :func:`mean_offset_1d`)
-----------------------------------------------------------
In 1-D with Itô diffusion D = (T/2)Σ(θ), the stationary density is
``p ∝ exp(−Φ)``, ``Φ' = (D' + L')/D`` (:mod:`.fokker_planck`).  Expanding around θ* with
L' = h x + ½L₃x² + …, Σ = Σ₀ + Σ₁x + …, x = √T y, to first order in √T gives

    b = E[θ − θ*] = −T L₃ Σ₀ / (4h²) + O(T²):

an asymmetric (cubic) basin shifts the law towards its flatter side.  The noise gradient
Σ₁ cancels at this order: the 1/D prefactor pulls towards low noise exactly as much as the
weaker confinement ∫L'/D pushes towards high noise.  Bias terms are therefore O(T·s) and
O(T²).

Two minima
----------
The stationary law is a mixture of its basins; the per-basin second-order terms are
combined with the basin weights (Laplace weights of :mod:`.basins`, or exact basin masses
of :mod:`.density`): ``E L_test ≈ Σ_i w_i(T) E_i L_test``.  Temperature moves weight to the
wide minimum, whose shift-curvature ½ sᵀHs is smaller: BG21's mechanism by which larger
η/B can lower the test loss under shift, traded against the growing ½ tr(HC).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from ..errors import ParameterError
from ..validation import choice, positive
from .symbolic import numeric

T_ = sp.Symbol("T", positive=True)
WEIGHTS = ("exact", "laplace")


def _sym_matrix(name: str, d: int) -> sp.Matrix:
    entries = {}
    for i in range(d):
        for j in range(i, d):
            entries[(i, j)] = entries[(j, i)] = sp.Symbol(f"{name}_{i}{j}", real=True)
    return sp.Matrix(d, d, lambda i, j: entries[(i, j)])


@cache
def quadratic_test_loss(d: int) -> dict:
    """Symbolic derivation for a quadratic basin in dimension d (1 or 2).

    Returns a dict with the symbols (``L_star``, ``H``, ``C``, ``s``, ``b``), ``expectation``
    — E L_test computed by expanding the quadratic in x and replacing each monomial by its
    moment (E x_i = b_i, E x_i x_j = C_ij + b_i b_j) — and the named ``terms`` of the
    decomposition, whose sum equals ``expectation`` (checked in the tests)."""
    if d not in (1, 2):
        raise ParameterError("d", d, "must be 1 or 2 (numeric functions cover any d)")
    L_star = sp.Symbol("L_star", real=True)
    H, C = _sym_matrix("H", d), _sym_matrix("C", d)
    s = sp.Matrix(sp.symbols(f"s0:{d}", real=True))
    b = sp.Matrix(sp.symbols(f"b0:{d}", real=True))
    x = sp.Matrix(sp.symbols(f"x0:{d}", real=True))
    loss = L_star + ((x - s).T * H * (x - s))[0, 0] / 2
    poly = sp.Poly(sp.expand(loss), *x)
    expectation = 0
    for mono, coeff in poly.terms():
        idx = [i for i, k in enumerate(mono) for _ in range(k)]
        if len(idx) == 0:
            moment = 1
        elif len(idx) == 1:
            moment = b[idx[0]]
        else:
            i, j = idx
            moment = C[i, j] + b[i] * b[j]
        expectation += coeff * moment
    terms = {
        "minimum": L_star,
        "shift_curvature": (s.T * H * s)[0, 0] / 2,
        "covariance": (H * C).trace() / 2,
        "bias": -(s.T * H * b)[0, 0] + (b.T * H * b)[0, 0] / 2,
    }
    return {
        "L_star": L_star,
        "H": H,
        "C": C,
        "s": s,
        "b": b,
        "expectation": sp.expand(expectation),
        "terms": terms,
    }


@cache
def cubic_test_loss_term() -> tuple[sp.Expr, tuple[sp.Symbol, ...]]:
    """``E[⅙ L₃ᵗ (x − s)³]`` for x ~ N(b, C) (1-D): the anharmonic correction.

    Returns (expression, (L3t, s, b, C))."""
    L3t, s, b = sp.symbols("L3t s b", real=True)
    C = sp.Symbol("C", positive=True)
    z = sp.Dummy("z")
    poly = sp.Poly(sp.expand((b + sp.sqrt(C) * z - s) ** 3), z)
    gauss = {0: 1, 1: 0, 2: 1, 3: 0}
    expr = sum(coeff * gauss[k] for (k,), coeff in poly.terms())
    return sp.expand(L3t * expr / 6), (L3t, s, b, C)


@cache
def _numeric_cubic():
    e, args = cubic_test_loss_term()
    return numeric(e, args)


@cache
def mean_offset_1d() -> tuple[sp.Expr, tuple[sp.Symbol, ...]]:
    """O(T) mean offset b of the 1-D stationary law from the minimum (module doc).

    Derived here: Φ' = (D' + L')/D with D = TΣ/2, L' = h x + L₃x²/2, Σ = Σ₀ + Σ₁x; put
    x = ε y, T = ε²; Φ = Φ₀ + ε Φ₁ + O(ε²) with Φ₀ = h y²/Σ₀; then
    E y = −ε Cov₀(y, Φ₁) under the Gaussian p₀ ∝ exp(−Φ₀), and b = ε E y.
    Returns (b, (h, L3, S0, S1, T))."""
    h, S0 = sp.symbols("h Sigma0", positive=True)
    L3, S1 = sp.symbols("L3 Sigma1", real=True)
    eps, y, z = sp.symbols("epsilon y z", real=True)
    x = eps * z
    dL = h * x + L3 * x**2 / 2
    Sig = S0 + S1 * x
    D = eps**2 * Sig / 2
    dphi = (sp.diff(D, z) / eps + dL) / D  # Φ'(x); d/dx = (1/ε) d/dz
    integrand = sp.series(dphi * eps, eps, 0, 2).removeO()  # Φ'(εz)·ε, to O(ε)
    phi = sp.expand(sp.integrate(sp.expand(integrand), (z, 0, y)))
    phi0 = phi.coeff(eps, 0)
    phi1 = phi.coeff(eps, 1)
    var0 = sp.simplify(1 / (2 * phi0.coeff(y, 2)))  # Φ₀ = y²/(2 var0)
    m2, m4 = var0, 3 * var0**2
    # Cov₀(y, Φ₁) for Φ₁ = a y³ + c y (+ even powers, which have zero covariance with y)
    p1 = sp.Poly(sp.expand(phi1), y)
    cov = p1.coeff_monomial(y**3) * m4 + p1.coeff_monomial(y) * m2
    b = sp.simplify(-(eps**2) * cov).xreplace({eps: sp.sqrt(T_)})
    return sp.simplify(b), (h, L3, S0, S1, T_)


@cache
def _numeric_quadratic():
    """E L_test for any dimension in matrix form (the sum of the derived terms, which the
    tests show equals the derived expectation), as one numpy function."""

    def f(L_star, H, C, s, b):
        Hs = H @ s
        return (
            L_star + 0.5 * s @ Hs + 0.5 * np.trace(H @ C) - b @ Hs + 0.5 * b @ (H @ b),
            {
                "minimum": L_star,
                "shift_curvature": 0.5 * s @ Hs,
                "covariance": 0.5 * np.trace(H @ C),
                "bias": -b @ Hs + 0.5 * b @ (H @ b),
            },
        )

    return f


def expected_test_loss_quadratic(L_star: float, H, C, shift, bias=None) -> tuple[float, dict]:
    """Numeric ``E L_test`` of a quadratic basin and its terms (``minimum``,
    ``shift_curvature``, ``covariance``, ``bias``); any dimension."""
    H = np.atleast_2d(np.asarray(H, dtype=float))
    C = np.atleast_2d(np.asarray(C, dtype=float))
    s = np.atleast_1d(np.asarray(shift, dtype=float))
    d = H.shape[0]
    if not np.all(np.isfinite(s)) or s.shape != (d,):
        raise ParameterError("shift", shift, f"must be {d} finite numbers")
    b = np.zeros(d) if bias is None else np.atleast_1d(np.asarray(bias, dtype=float))
    if not np.all(np.isfinite(b)) or b.shape != (d,):
        raise ParameterError("bias", bias, f"must be {d} finite numbers")
    for name, M in (("H", H), ("C", C)):
        if M.shape != (d, d) or not np.all(np.isfinite(M)):
            raise ParameterError(name, M.tolist(), f"must be finite, shape ({d}, {d})")
    total, terms = _numeric_quadratic()(float(L_star), H, C, s, b)
    return float(total), {k: float(v) for k, v in terms.items()}


@cache
def _numeric_offset():
    b, args = mean_offset_1d()
    return numeric(b, args)


def mean_offset(h: float, L3: float, sigma0: float, sigma1: float, T: float) -> float:
    """Numeric O(T) mean offset from :func:`mean_offset_1d`."""
    return float(
        _numeric_offset()(
            positive("h", h), L3, positive("sigma0", sigma0), sigma1, positive("T", T)
        )
    )


@dataclass(frozen=True)
class BasinTestLoss:
    """Per-basin second-order terms (arrays over the minima) and their weighted total:
    ``shift`` s_i, mean ``offset`` b_i, OU variance C_i, the named loss ``terms``."""

    T: float
    minima: np.ndarray
    weights: np.ndarray
    test_minima: np.ndarray
    shift: np.ndarray
    offset: np.ndarray
    covariance: np.ndarray
    terms: dict
    per_basin: np.ndarray
    total: float


def _poly_derivs(coeffs, x, k):
    P = np.polynomial.polynomial
    c = np.asarray(coeffs, float)
    return [P.polyval(x, P.polyder(c, m) if m else c) for m in range(k + 1)]


def basin_test_loss(train, test, T: float, *, weights: str = "exact") -> BasinTestLoss:
    """Second-order E L_test for a 1-D two-minima finite-sample loss (module doc).

    ``train``/``test``: :class:`~sgdnoise.theory.finite_sample.FiniteSampleLoss`.  For each
    training minimum θ*_i: h_i = L_N''(θ*_i), Σ_i = Σ_N(θ*_i), C_i = TΣ_i/(2h_i) (OU),
    b_i the O(T) offset; the test loss's own minimum nearest θ*_i gives s_i, L*_test and
    H_t.  ``weights``: ``"exact"`` basin masses of the FP density or ``"laplace"``."""
    from .basins import laplace_log_weights, minima
    from .density import StationaryDensity
    from .ou import ou_covariance

    T = positive("T", T)
    choice("weights", weights, WEIGHTS)
    pot = train.potential
    mins = minima(pot)
    if len(mins) != 2:
        raise ParameterError("train", pot.name, "must have exactly two minima")
    if weights == "exact":
        w = StationaryDensity(pot, T).basin_masses()
    else:
        w = np.exp(laplace_log_weights(pot, T)[1])
    P = np.polynomial.polynomial
    crit = P.polyroots(P.polyder(test.loss_coeffs))
    crit = np.sort(crit[np.abs(crit.imag) < 1e-9].real)
    rows = []
    for m in mins:
        z = float(m.location[0])
        _, _, h, L3 = _poly_derivs(train.loss_coeffs, z, 3)
        S0, S1 = _poly_derivs(train.noise_coeffs, z, 1)
        C = float(ou_covariance(h, S0, T)[0, 0])
        b = mean_offset(h, L3, S0, S1, T)
        cand = [c for c in crit if _poly_derivs(test.loss_coeffs, c, 2)[2] > 0]
        zt = min(cand, key=lambda c: abs(c - z))
        Lt, _, Ht, L3t = _poly_derivs(test.loss_coeffs, zt, 3)
        total, terms = expected_test_loss_quadratic(Lt, Ht, C, zt - z, b)
        terms["anharmonic"] = float(_numeric_cubic()(L3t, zt - z, b, C))
        total += terms["anharmonic"]
        rows.append((z, zt, zt - z, b, C, total, terms))
    per = np.array([r[5] for r in rows])
    keys = rows[0][6].keys()
    return BasinTestLoss(
        T=T,
        minima=np.array([r[0] for r in rows]),
        weights=np.asarray(w, float),
        test_minima=np.array([r[1] for r in rows]),
        shift=np.array([r[2] for r in rows]),
        offset=np.array([r[3] for r in rows]),
        covariance=np.array([r[4] for r in rows]),
        terms={k: np.array([r[6][k] for r in rows]) for k in keys},
        per_basin=per,
        total=float(np.dot(w, per)),
    )


def exact_expected_test_loss(train, test, T: float) -> float:
    """``∫ p_T(θ) L_test(θ) dθ`` with the exact state-dependent FP density of the training
    loss (Gauss–Legendre panels on the density's refined grid, log-space weights)."""
    from .density import StationaryDensity, _panel_points

    dens = StationaryDensity(train.potential, positive("T", T))
    pts, logw = _panel_points(dens.nodes[0])
    w = np.exp(logw + dens.logpdf(pts))
    return float(np.sum(w * test.loss(pts)) / np.sum(w))
