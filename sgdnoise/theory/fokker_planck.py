"""Stationary Fokker–Planck densities of SGD seen as Langevin dynamics (BG21, DESIGN.md §3).

With time t = kη, SGD is approximated by the Itô SDE ``dθ = −∇L dt + sqrt(2D(θ)) dW`` with
``D = (T/2) Σ`` and T = η/B.  Its density obeys ``∂_t p = −∇·J`` with probability flux

    J = −(∇L) p − ∇·(D p).

* 1-D, any D(θ) > 0: J = 0 gives ``(D p)' = −L' p`` hence
  ``p ∝ (1/D) exp(−∫^θ L'(s)/D(s) ds)``.
* N-D gradient system with isotropic constant D: ``p ∝ exp(−L/D)``; with D = Tσ²/2 this is
  ``exp(−2L/(Tσ²))``.

The functions below build these densities symbolically and compute the flux of a candidate
density, so a test (and the notebook) can check that sympy simplifies it to exactly zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from ..errors import ParameterError


def stationary_density_1d(L: sp.Expr, D: sp.Expr, theta: sp.Symbol, ref=0) -> sp.Expr:
    """Unnormalized ``(1/D) exp(−∫_ref^θ L'/D)``.

    The integral is done symbolically when sympy finds a closed form and is otherwise left
    as an unevaluated ``Integral`` (still exact; its θ-derivative is the integrand)."""
    if theta not in L.free_symbols | D.free_symbols and not L.free_symbols:
        raise ParameterError("L", L, f"must depend on {theta}")
    s = sp.Dummy("s", real=True)
    integrand = (sp.diff(L, theta) / D).xreplace({theta: s})
    if theta in D.free_symbols:
        integral = sp.integrate(integrand, (s, ref, theta))
    else:  # constant D: the closed form (L(θ) − L(ref))/D, without asking integrate
        integral = (L - L.xreplace({theta: ref})) / D
    return sp.exp(-integral) / D


def flux_1d(p: sp.Expr, L: sp.Expr, D: sp.Expr, theta: sp.Symbol) -> sp.Expr:
    """Probability flux ``J = −L' p − (D p)'`` of density p (Itô convention)."""
    return -sp.diff(L, theta) * p - sp.diff(D * p, theta)


def stationary_density_nd(L: sp.Expr, D: sp.Expr, coords: Sequence[sp.Symbol]) -> sp.Expr:
    """Unnormalized ``exp(−L/D)`` for a gradient system with isotropic constant D."""
    if set(coords) & D.free_symbols:
        raise ParameterError(
            "D", D, "must be constant in the coordinates (isotropic constant noise) for N-D"
        )
    return sp.exp(-L / D)


def flux_nd(p: sp.Expr, L: sp.Expr, D: sp.Expr, coords: Sequence[sp.Symbol]) -> list[sp.Expr]:
    """Components ``J_i = −∂_i L p − ∂_i (D p)`` for isotropic D."""
    return [-sp.diff(L, c) * p - sp.diff(D * p, c) for c in coords]


def is_stationary_1d(p: sp.Expr, L: sp.Expr, D: sp.Expr, theta: sp.Symbol) -> bool:
    """True when the flux of p simplifies to exactly zero."""
    return sp.simplify(flux_1d(p, L, D, theta) / p) == 0


def is_stationary_nd(p: sp.Expr, L: sp.Expr, D: sp.Expr, coords: Sequence[sp.Symbol]) -> bool:
    return all(sp.simplify(j / p) == 0 for j in flux_nd(p, L, D, coords))
