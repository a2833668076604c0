"""The hinge loss with margin 1/α of the α-trick (SGW23, DESIGN.md §4.2) — its one definition.

Per point, with centred output ``o = f(w, x) − f(w0, x)`` and label ``y = ±1``,

    ℓ(o, y) = (1/α) · max(0, 1 − α y o).

A point is *fitted* when ``α y o ≥ 1`` (its loss and gradient vanish there; at the kink we
take the zero subgradient, so "fitted" and "zero gradient" are the same set, which is the
stopping rule of SGW23: stop when every training point has ``α y o ≥ 1``).  Below the
margin the loss is linear with slope ``∂ℓ/∂o = −y``, independent of α: α only sets where
the margin lies, not how hard the loss pulls.

For the perceptron ``o = (w − w0)·x / sqrt(d)`` the (sub)gradient in w is
``∂ℓ/∂o · x/sqrt(d)``; :func:`loss_in_weights` builds that composition symbolically for a
concrete d so that simulators and torch losses can be tested against sympy's own derivative.

Public API: the sympy expressions :data:`HINGE` (the Piecewise form; :data:`HINGE_MAX` is the
``Max`` form, identical) and :data:`DHINGE_DO`, the symbols :data:`o`, :data:`y`,
:data:`alpha`, and their numeric versions :func:`hinge_loss`, :func:`hinge_dloss_do`,
:func:`fitted`.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import ParameterError
from ..validation import positive
from .symbolic import numeric

o, y = sp.symbols("o y", real=True)
alpha = sp.Symbol("alpha", positive=True)

#: The fitted condition α y o ≥ 1 (zero loss, zero subgradient).
FITTED = sp.Ge(alpha * y * o, 1)
#: ℓ = (1/α) max(0, 1 − α y o), written with Max.
HINGE_MAX = sp.Max(0, 1 - alpha * y * o) / alpha
#: The same loss as a Piecewise whose branches are the fitted / unfitted sets.
HINGE = sp.Piecewise((0, FITTED), ((1 - alpha * y * o) / alpha, True))
#: ∂ℓ/∂o: 0 on fitted points, −y below the margin (derived by sympy, not typed in).
DHINGE_DO = sp.piecewise_fold(sp.diff(HINGE, o))

_loss = numeric(HINGE, (o, y, alpha))
_dloss = numeric(DHINGE_DO, (o, y, alpha))


def _check(o_, y_, alpha_):
    alpha_ = positive("alpha", alpha_)
    o_ = np.asarray(o_, dtype=float)
    y_ = np.asarray(y_, dtype=float)
    if not np.all(np.isin(y_, (-1.0, 1.0))):
        raise ParameterError("y", y_.tolist(), "labels must be +1 or -1")
    if not np.all(np.isfinite(o_)):
        raise ParameterError("o", "non-finite", "outputs must be finite")
    return o_, y_, alpha_


def hinge_loss(o_, y_, alpha_):
    """``(1/α) max(0, 1 − α y o)`` elementwise (numeric form of :data:`HINGE`)."""
    o_, y_, a = _check(o_, y_, alpha_)
    return np.asarray(_loss(o_, y_, a) + 0.0 * (o_ + y_), dtype=float)


def hinge_dloss_do(o_, y_, alpha_):
    """``∂ℓ/∂o`` elementwise: ``−y`` where ``α y o < 1``, else 0 (numeric :data:`DHINGE_DO`)."""
    o_, y_, a = _check(o_, y_, alpha_)
    return np.asarray(_dloss(o_, y_, a) + 0.0 * (o_ + y_), dtype=float)


def fitted(o_, y_, alpha_):
    """Boolean mask of fitted points, ``α y o ≥ 1``."""
    o_, y_, a = _check(o_, y_, alpha_)
    return a * y_ * o_ >= 1.0


def loss_in_weights(d: int):
    """The perceptron loss ``ℓ(w·x/sqrt(d), y)`` as a sympy expression in explicit symbols.

    Returns ``(expr, w_symbols, x_symbols)`` for ``d`` coordinates; differentiate ``expr``
    with respect to ``w_symbols`` to get the SGD (sub)gradient from sympy itself.
    """
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ParameterError("d", d, "must be an integer >= 1")
    ws = sp.symbols(f"w0:{d}", real=True)
    xs = sp.symbols(f"x0:{d}", real=True)
    out = sum(wi * xi for wi, xi in zip(ws, xs)) / sp.sqrt(d)
    return HINGE.subs(o, out), ws, xs


def gradient_in_weights(d: int):
    """``∇_w ℓ`` for the perceptron as a numeric function ``g(w, x, y, alpha) -> (d,)``.

    Built by differentiating :func:`loss_in_weights` with sympy (chain rule done by sympy,
    not by hand), so it is an independent check of any hand-vectorized update.
    """
    expr, ws, xs = loss_in_weights(d)
    grads = [sp.piecewise_fold(sp.diff(expr, wi)) for wi in ws]
    f = sp.lambdify((ws, xs, y, alpha), grads, modules="numpy")

    def g(w, x, y_, alpha_):
        return np.asarray(f(list(w), list(x), float(y_), float(alpha_)), dtype=float)

    return g
