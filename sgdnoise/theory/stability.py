"""Stability of gradient descent on a quadratic and the edge of stability (KCL23; Cohen et al.
2021).

**Derived here.**  On ``L(x) = ½ λ x²`` (one eigen-direction of any quadratic with Hessian
eigenvalue λ > 0) GD gives ``x_{k+1} = (1 − ηλ) x_k``: the iterates shrink iff
``|1 − ηλ| < 1``, i.e. ``0 < η < 2/λ``, and grow geometrically past it.  A quadratic with
Hessian H is stable iff every direction is, i.e. ``η < 2/λmax(H)``; at ``η = 2/λmax`` the top
direction oscillates with constant amplitude.

Edge of stability: full-batch GD on a network first sharpens (λmax grows) until λmax reaches
the threshold ``2/η`` of the local quadratic model, then hovers there — the prediction
``λmax → 2/η`` of Cohen et al. (2021), which KCL23 tie to generalization.
"""

from __future__ import annotations

import sympy as sp

from ..validation import finite, positive
from .symbolic import numeric

eta, lam = sp.symbols("eta lambda", positive=True)

#: Per-step multiplier of GD on ½ λ x²: x_{k+1} = (1 − ηλ) x_k.
GD_MULTIPLIER = 1 - eta * lam


def derive_critical_lr() -> sp.Expr:
    """Largest stable rate: the positive root of ``1 − ηλ = −1`` (the other edge,
    ``1 − ηλ = 1``, is η = 0)."""
    roots = sp.solve(sp.Eq(GD_MULTIPLIER, -1), eta)
    (root,) = [r for r in roots if r.is_positive]
    return sp.simplify(root)


#: η_c = 2/λ: GD diverges past it.
CRITICAL_LR = 2 / lam
#: The sharpness GD at rate η settles at on the edge of stability: λmax → 2/η.
EOS_SHARPNESS = sp.solve(sp.Eq(eta, CRITICAL_LR), lam)[0]

_multiplier = numeric(GD_MULTIPLIER, (eta, lam))
_critical = numeric(CRITICAL_LR, (lam,))
_eos = numeric(EOS_SHARPNESS, (eta,))


def gd_multiplier(lr: float, curvature: float) -> float:
    """``1 − ηλ``: one GD step's factor along a direction of curvature λ (any real λ)."""
    return float(_multiplier(positive("lr", lr), finite("curvature", curvature)))


def critical_lr(lambda_max: float) -> float:
    """``2/λmax``: GD on a quadratic with top curvature λmax diverges for larger η."""
    return float(_critical(positive("lambda_max", lambda_max)))


def eos_sharpness(lr: float) -> float:
    """``2/η``: the λmax full-batch GD at rate η drives the network to (edge of stability)."""
    return float(_eos(positive("lr", lr)))


def is_stable(lr: float, lambda_max: float) -> bool:
    """Whether GD at rate η converges on a quadratic with top curvature λmax (η < 2/λmax)."""
    return abs(gd_multiplier(lr, lambda_max)) < 1.0
