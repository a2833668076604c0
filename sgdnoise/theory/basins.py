"""Minima, saddles and Laplace weights of basins (BG21).

For the stationary law ``p ∝ exp(−Φ)`` (:mod:`.density`), Laplace's method around each
minimum θ_i of Φ gives the basin weight

    w_i ∝ exp(−Φ(θ_i)) (2π)^{d/2} det(∇²Φ(θ_i))^{−1/2},

asymptotically exact as T → 0 with relative error O(T).  With constant isotropic noise,
Φ = L/D and ``∇²Φ = H/D``, so at equal depth the basin with the smaller curvature determinant
(the *wide* minimum) carries more weight — the entropic preference for flat minima that
grows with T = η/B.  For 1-D state-dependent noise, Φ = ln D + ∫L'/D and
``Φ' = (D' + L')/D`` is explicit, so its minima and curvature are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp
from scipy.optimize import brentq, minimize, root

from ..errors import ParameterError
from .potentials import Potential


@dataclass(frozen=True)
class CriticalPoint:
    location: np.ndarray
    value: float
    hessian: np.ndarray

    @property
    def index(self) -> int:
        """Number of negative Hessian eigenvalues (0 minimum, 1 saddle)."""
        return int(np.sum(np.linalg.eigvalsh(self.hessian) < 0))


@cache
def _derivatives(pot: Potential):
    L, _ = pot.substituted()
    grad = [sp.diff(L, c) for c in pot.coords]
    hess = [[sp.diff(g, c) for c in pot.coords] for g in grad]
    f = sp.lambdify(pot.coords, L, "numpy")
    g = sp.lambdify(pot.coords, grad, "numpy")
    h = sp.lambdify(pot.coords, hess, "numpy")
    return f, g, h


def _point(pot, z) -> CriticalPoint:
    f, _, h = _derivatives(pot)
    z = np.asarray(z, dtype=float)
    return CriticalPoint(z, float(f(*z)), np.array(h(*z), dtype=float).reshape(pot.dim, pot.dim))


def minima(pot: Potential) -> list[CriticalPoint]:
    """Local minima of L inside the domain, sorted along the first coordinate.

    1-D: roots of L' (exact for polynomials).  N-D: BFGS from a grid of starts, deduplicated.
    Raises :class:`ParameterError` when the domain holds no minimum."""
    f, g, _ = _derivatives(pot)
    box = np.array(pot.domain, dtype=float)
    found: list[CriticalPoint] = []
    if pot.dim == 1:
        from .density import critical_points_1d

        for r in critical_points_1d(pot):
            cp = _point(pot, [r])
            if cp.index == 0 and cp.hessian[0, 0] > 0:
                found.append(cp)
    else:
        axes = [np.linspace(lo, hi, 9)[1:-1] for lo, hi in box]
        starts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, pot.dim)
        for s in starts:
            res = minimize(
                lambda z: f(*z),
                s,
                jac=lambda z: np.array(g(*z), float),
                method="BFGS",
                options={"gtol": 1e-12},
            )
            z = res.x
            if np.any(z <= box[:, 0]) or np.any(z >= box[:, 1]):
                continue
            if any(np.linalg.norm(z - m.location) < 1e-5 for m in found):
                continue
            cp = _point(pot, z)
            if cp.index == 0 and np.all(np.linalg.eigvalsh(cp.hessian) > 0):
                found.append(cp)
    if not found:
        raise ParameterError("potential", pot.name, "has no minimum inside its domain")
    return sorted(found, key=lambda c: tuple(c.location))


def saddle_between(pot: Potential, a: CriticalPoint, b: CriticalPoint) -> CriticalPoint:
    """The index-1 critical point between two minima (1-D: the maximum between them;
    N-D: Newton from the highest point of the straight segment)."""
    f, g, h = _derivatives(pot)
    if pot.dim == 1:
        lo, hi = sorted([a.location[0], b.location[0]])
        z = brentq(lambda t: g(t)[0], lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))
        return _point(pot, [z])
    s = np.linspace(0, 1, 401)[:, None]
    seg = a.location + s * (b.location - a.location)
    top = seg[np.argmax([f(*z) for z in seg])]
    res = root(lambda z: np.array(g(*z), float), top, jac=lambda z: np.array(h(*z), float))
    cp = _point(pot, res.x)
    if not res.success or cp.index != 1:
        raise ParameterError("potential", pot.name, "no index-1 saddle found between minima")
    return cp


@cache
def _phi_derivs_1d(pot: Potential):
    """First four θ-derivatives of Φ at (θ, T) for 1-D Itô noise, from the explicit
    ``Φ' = (D' + L')/D`` with ``D = TΣ/2`` (no integral needed)."""
    L, (S,) = pot.substituted()
    (t,) = pot.coords
    T = sp.Symbol("T", positive=True)
    D = T * S / 2
    d1 = (sp.diff(D, t) + sp.diff(L, t)) / D
    ders = [d1, sp.diff(d1, t), sp.diff(d1, t, 2), sp.diff(d1, t, 3)]
    return tuple(sp.lambdify((t, T), d, "numpy") for d in ders)


def laplace_log_weights(
    pot: Potential, T: float, order: int = 0
) -> tuple[list[CriticalPoint], np.ndarray]:
    """Minima and normalized log Laplace weights ``log w_i`` of their basins at temperature T.

    ``order=1`` (1-D only) adds the next term of Laplace's expansion,
    ``∫e^{−Φ} ≈ e^{−Φ₀} sqrt(2π/Φ₂) [1 + 5Φ₃²/(24Φ₂³) − Φ₄/(8Φ₂²)]``, an O(T) correction;
    the difference between orders 0 and 1 estimates the leading order's own error."""
    from .density import StationaryDensity, critical_points_1d

    if order not in (0, 1):
        raise ParameterError("order", order, "must be 0 or 1")
    if order == 1 and pot.dim != 1:
        raise ParameterError("order", order, "the first-order correction is implemented in 1-D")
    mins = minima(pot)
    dens = StationaryDensity(pot, T)
    logw = []
    for m in mins:
        if pot.dim == 1:
            dphi, d2phi, d3phi, d4phi = _phi_derivs_1d(pot)
            z = m.location[0]
            if not pot.constant_noise:
                # Φ's minimum sits O(T) from L's; bracket it well inside L's basin.
                others = [c for c in critical_points_1d(pot) if abs(c - z) > 1e-9]
                h = 0.4 * min(abs(c - z) for c in others) if others else 0.5
                z = brentq(dphi, z - h, z + h, args=(T,))
            phi0 = float(dens.phi(np.array([z]))[0])
            f2 = float(d2phi(z, T))
            lw = -phi0 + 0.5 * np.log(2 * np.pi / f2)
            if order == 1:
                f3, f4 = float(d3phi(z, T)), float(d4phi(z, T))
                lw += np.log1p(5 * f3**2 / (24 * f2**3) - f4 / (8 * f2**2))
        else:
            D = float(dens._D_scalar(*[np.zeros(1)] * pot.dim)[0])
            phi0 = float(dens.phi(*[np.array([v]) for v in m.location])[0])
            logdet = np.linalg.slogdet(m.hessian / D)[1]
            lw = -phi0 + 0.5 * pot.dim * np.log(2 * np.pi) - 0.5 * logdet
        logw.append(lw)
    logw = np.array(logw)
    return mins, logw - np.logaddexp.reduce(logw)
