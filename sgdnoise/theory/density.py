"""Numeric stationary densities, normalized in log space (BG21).

``p(θ) = exp(−Φ(θ)) / Z`` with the *effective potential* Φ of :mod:`.fokker_planck`:

* constant noise (any dimension, isotropic): ``Φ = (L − L_min)/D``, ``D = Tσ²/2``;
* 1-D state-dependent noise (Itô): ``Φ = ln D(θ) + ∫_{θ_0}^{θ} L'(s)/D(s) ds``.

Integrals use composite Gauss–Legendre panels on a grid that is refined around every
critical point of L at the scale ``sqrt(D/|L''|)`` of the local Gaussian, so the same code is
accurate from T = 1e-4 (mass in a width ~1e-2) to T = 10 (mass spread over the whole box).
Everything is summed as log-sum-exp, so nothing overflows or underflows.  Mass outside the
box ``potential.domain`` is neglected; the default boxes put it below 1e-12 for T ≤ 10
because the sextic confinement grows like θ⁶.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
from scipy.special import logsumexp

from ..errors import ParameterError
from ..validation import positive
from .potentials import Potential

_GL_X, _GL_W = np.polynomial.legendre.leggauss(10)
T_RANGE = (1e-6, 1e3)


@cache
def critical_points_1d(pot: Potential) -> np.ndarray:
    """Real critical points of a 1-D potential inside its domain (sorted, distinct).

    Polynomials: roots of L' (a root of multiplicity m spreads numerically by ~ε^{1/m}, so
    near-real roots are kept and clusters merged); otherwise sign changes of L' on a fine
    grid, polished by brentq."""
    import sympy as sp

    L, _ = pot.substituted()
    (var,) = pot.coords
    lo, hi = pot.domain[0]
    dL = sp.diff(L, var)
    if L.is_polynomial(var) and dL != 0:
        coeffs = [float(c) for c in sp.Poly(dL, var).all_coeffs()]
        r = np.roots(coeffs) if len(coeffs) > 1 else np.zeros(0, complex)
        tol = 1e-5 * (1 + np.abs(r))
        r = np.sort(r[np.abs(r.imag) < tol].real)
        if r.size:  # merge the numerical spread of multiple roots
            groups = np.split(r, np.flatnonzero(np.diff(r) > 1e-4 * (1 + np.abs(r[1:]))) + 1)
            r = np.array([g.mean() for g in groups])
    else:  # sign changes of L' on a fine grid, polished by brentq
        from scipy.optimize import brentq

        f = pot.grad_fns()[0]
        g = np.linspace(lo, hi, 20001)
        with np.errstate(all="ignore"):
            v = np.broadcast_to(np.asarray(f(g, *pot.values), dtype=float), g.shape)
        idx = np.flatnonzero(np.sign(v[:-1]) * np.sign(v[1:]) < 0)
        r = np.array([brentq(lambda t: f(t, *pot.values), g[i], g[i + 1]) for i in idx])
        exact = g[1:-1][v[1:-1] == 0]
        r = np.unique(np.concatenate([r, exact]))
    return r[(r > lo) & (r < hi)]


def isotropic_diffusion(pot: Potential, T: float) -> float:
    """``D = Tσ²/2`` of an N-D potential with constant isotropic noise Σ = σ² I, the case
    whose stationary law is exactly ``exp(−L/D)``; ParameterError otherwise."""
    T = positive("T", T)
    _, noise = pot.substituted()
    if any(s.free_symbols & set(pot.coords) for s in noise):
        raise ParameterError(
            "potential", pot.name, "N-D needs isotropic constant noise (a gradient system)"
        )
    vals = np.array([float(s) for s in noise])
    if not np.allclose(vals, vals[0], rtol=1e-12, atol=0):
        raise ParameterError(
            "potential",
            pot.name,
            f"N-D needs isotropic noise Σ = σ²I, got diagonal {vals}: with anisotropic Σ the "
            "stationary law is not exp(−L/D)",
        )
    return 0.5 * T * float(vals[0])


def _axis_nodes(lo, hi, centres, widths, n_uniform, n_local, extra=()):
    nodes = [np.linspace(lo, hi, n_uniform)]
    for c, w in zip(centres, widths, strict=True):
        nodes.append(np.clip(c + w * np.linspace(-12, 12, n_local), lo, hi))
    nodes.append(np.asarray(extra, dtype=float))
    out = np.unique(np.concatenate(nodes))
    return out[(out >= lo) & (out <= hi)]


def _panel_points(nodes):
    a, b = nodes[:-1, None], nodes[1:, None]
    pts = (a + b) / 2 + (b - a) / 2 * _GL_X
    logw = np.log((b - a) / 2 * _GL_W)
    return pts, logw


@dataclass
class StationaryDensity:
    """The stationary law of ``dθ = −∇L dt + sqrt(T Σ(θ)) dW`` on ``potential.domain``."""

    potential: Potential
    T: float
    n_uniform: int = 401
    n_local: int = 241

    def __post_init__(self):
        self.T = positive("T", self.T)
        if not T_RANGE[0] <= self.T <= T_RANGE[1]:
            raise ParameterError("T", self.T, f"must lie in [{T_RANGE[0]:g}, {T_RANGE[1]:g}]")
        pot = self.potential
        if not isinstance(pot, Potential):
            raise ParameterError("potential", type(pot).__name__, "must be a theory Potential")
        if pot.dim > 2:
            raise ParameterError("potential", pot.name, "numeric densities support 1-D and 2-D")
        if pot.dim > 1:
            isotropic_diffusion(pot, self.T)
        from .potential_checks import check_potential

        check_potential(pot, "potential")
        if pot.dim > 1:
            # 10-point Gauss–Legendre panels 0.6 local widths wide are exact to round-off
            self.n_uniform, self.n_local = min(self.n_uniform, 101), min(self.n_local, 41)

    # -- geometry -------------------------------------------------------------------------
    @cached_property
    def _basins(self):
        from .basins import basins

        return basins(self.potential)

    @cached_property
    def _critical(self) -> list:
        """Critical points of L the grid is refined around: in 1-D all of them, in 2-D the
        minima and the saddles between adjacent basins."""
        from .basins import _point

        pot = self.potential
        if pot.dim == 1:
            return [_point(pot, [c]) for c in critical_points_1d(pot)]
        b = self._basins
        return list(b.minima) + list(b.saddles.values())

    @property
    def _critical_x(self) -> np.ndarray:
        return np.array([c.location[0] for c in self._critical])

    def _D_scalar(self, *theta):
        return 0.5 * self.T * np.asarray(self.potential.noise_at(*theta)[0], dtype=float)

    def _axis_grid(self, axis: int) -> np.ndarray:
        """Nodes along one axis: uniform, plus a dense patch of half-width 12·sqrt(D/|H_aa|)
        at each critical point's coordinate (per distinct coordinate, the widest patch),
        plus the basin edges (1-D) so that basin masses are exact panel sums."""
        pot = self.potential
        lo, hi = pot.domain[axis]
        crit = self._critical
        loc = np.array([c.location[axis] for c in crit])
        curv = np.array([abs(c.hessian[axis, axis]) for c in crit])
        D = np.array([self._D_scalar(*c.location)[()] for c in crit]).reshape(-1)
        widths = np.sqrt(D / np.maximum(curv, 1e-12))
        if loc.size:  # one patch per distinct coordinate, the widest
            key = np.round(loc, 9)
            uniq = np.unique(key)
            centres = np.array([loc[key == u][0] for u in uniq])
            widths = np.array([widths[key == u].max() for u in uniq])
        else:
            centres = loc
        extra = list(self._basins.edges[1:-1]) if pot.dim == 1 else []
        return _axis_nodes(lo, hi, centres, widths, self.n_uniform, self.n_local, extra)

    @cached_property
    def nodes(self) -> list[np.ndarray]:
        return [self._axis_grid(a) for a in range(self.potential.dim)]

    # -- effective potential ----------------------------------------------------------------
    @cached_property
    def _L_min(self) -> float:
        return float(min(m.value for m in self._basins.minima))

    @cached_property
    def _cum_1d(self):
        """Cumulative ∫ L'/D at the 1-D nodes (state-dependent noise only)."""
        nodes = self.nodes[0]
        pts, logw = _panel_points(nodes)
        integrand = self._dpsi(pts)
        panel = np.sum(np.exp(logw) * integrand, axis=1)
        return np.concatenate([[0.0], np.cumsum(panel)])

    def _dpsi(self, th):
        return self.potential.grad_fns()[0](th, *self.potential.values) / self._D_scalar(th)

    def phi(self, *theta) -> np.ndarray:
        """Effective potential Φ (up to a constant) at points given coordinate-wise."""
        theta = [np.asarray(t, dtype=float) for t in theta]
        pot = self.potential
        if pot.constant_noise:
            D = float(np.reshape(self._D_scalar(*[np.zeros(1)] * pot.dim), -1)[0])
            return (pot.loss_at(*theta) - self._L_min) / D
        (th,) = theta
        nodes = self.nodes[0]
        i = np.clip(np.searchsorted(nodes, th, side="right") - 1, 0, nodes.size - 2)
        a = nodes[i]
        half = (th - a) / 2
        pts = a[..., None] + half[..., None] * (_GL_X + 1)
        part = np.sum(_GL_W * self._dpsi(pts), axis=-1) * half
        return np.log(self._D_scalar(th)) + self._cum_1d[i] + part

    # -- normalization ------------------------------------------------------------------------
    @cached_property
    def _quadrature(self):
        """(log-weight + (−Φ)) at every quadrature point, shaped per panel and axis."""
        per_axis = [_panel_points(n) for n in self.nodes]
        if self.potential.dim == 1:
            ((pts, logw),) = per_axis
            return pts, logw - self.phi(pts)
        (px, wx), (py, wy) = per_axis
        X, Y = px.reshape(-1)[:, None], py.reshape(-1)[None, :]
        lw = wx.reshape(-1)[:, None] + wy.reshape(-1)[None, :]
        return (X, Y), lw - self.phi(X, Y)

    @cached_property
    def log_normalizer(self) -> float:
        """log Z with p = exp(−Φ)/Z (Φ as returned by :meth:`phi`)."""
        return float(logsumexp(self._quadrature[1]))

    def logpdf(self, *theta) -> np.ndarray:
        return -self.phi(*theta) - self.log_normalizer

    def pdf(self, *theta) -> np.ndarray:
        return np.exp(self.logpdf(*theta))

    def marginal_cdf(self, values, axis: int = 0) -> np.ndarray:
        """P(θ_axis ≤ v) for each v: exact panel sums below v plus a partial panel."""
        v = np.asarray(values, dtype=float)
        if self.potential.dim == 1:
            return self._cdf_1d(v)
        (X, Y), lq = self._quadrature
        coord = X[:, 0] if axis == 0 else Y[0, :]
        lmarg = logsumexp(lq, axis=1 - axis)
        order = np.argsort(coord)
        w = np.exp(lmarg[order] - self.log_normalizer)
        cum = np.cumsum(w) - w / 2  # each quadrature point carries its weight at its centre
        return np.interp(v, coord[order], cum, left=0.0, right=1.0)

    @cached_property
    def _log_cum_panels(self) -> np.ndarray:
        """log of the mass of all panels strictly left of node i, for i = 0..n-1."""
        panel = logsumexp(self._quadrature[1], axis=1)
        return np.concatenate([[-np.inf], np.logaddexp.accumulate(panel)])

    def _log_mass_left(self, v: np.ndarray) -> np.ndarray:
        """log ∫_{lo}^{v} e^{−Φ} (unnormalized): panels left of v plus a partial panel."""
        nodes = self.nodes[0]
        t = np.clip(v, nodes[0], nodes[-1])
        i = np.clip(np.searchsorted(nodes, t, side="right") - 1, 0, nodes.size - 2)
        a = nodes[i]
        half = (t - a) / 2
        pts = a[..., None] + half[..., None] * (_GL_X + 1)
        with np.errstate(divide="ignore"):
            part = logsumexp(np.log(half[..., None] * _GL_W) - self.phi(pts), axis=-1)
        return np.logaddexp(self._log_cum_panels[i], part)

    def _log_mass_right(self, v: np.ndarray) -> np.ndarray:
        """log ∫_{v}^{hi} e^{−Φ} (unnormalized), summed from the right so that a tiny tail
        is not lost to the cancellation 1 − CDF."""
        nodes = self.nodes[0]
        t = np.clip(v, nodes[0], nodes[-1])
        i = np.clip(np.searchsorted(nodes, t, side="left"), 1, nodes.size - 1)
        b = nodes[i]
        half = (b - t) / 2
        pts = t[..., None] + half[..., None] * (_GL_X + 1)
        with np.errstate(divide="ignore"):
            part = logsumexp(np.log(half[..., None] * _GL_W) - self.phi(pts), axis=-1)
        panel = logsumexp(self._quadrature[1], axis=1)
        right = np.concatenate([np.logaddexp.accumulate(panel[::-1])[::-1], [-np.inf]])
        return np.logaddexp(right[i], part)

    def _cdf_1d(self, v: np.ndarray) -> np.ndarray:
        total = self._log_mass_left(v)
        return np.clip(np.exp(total - self.log_normalizer), 0.0, 1.0)

    def log_basin_masses(self) -> np.ndarray:
        """log P(basin i) for every basin i (:mod:`.basins`: 1-D intervals between the maxima
        that separate consecutive minima; 2-D gradient-flow basins), without cancellation.

        1-D: the basin edges are panel edges, so each mass is an exact panel sum.  2-D: a
        panel cell whose four corners flow to the same minimum is given to it whole; every
        quadrature point of a mixed cell (the separatrix passes through it) is assigned by
        its own flow."""
        pot = self.potential
        b = self._basins
        if pot.dim == 1:
            nodes = self.nodes[0]
            panel = logsumexp(self._quadrature[1], axis=1)
            cut = [0, *(int(np.searchsorted(nodes, e)) for e in b.edges[1:-1]), panel.size]
            out = [logsumexp(panel[i:j]) if j > i else -np.inf for i, j in zip(cut[:-1], cut[1:])]
            return np.array(out) - self.log_normalizer
        return self._log_masses_2d()

    def _log_masses_2d(self) -> np.ndarray:
        b = self._basins
        (X, Y), lq = self._quadrature
        if len(b) == 1:
            return np.zeros(1)
        corner = b.assign_grid(*self.nodes)
        c4 = np.stack([corner[:-1, :-1], corner[1:, :-1], corner[:-1, 1:], corner[1:, 1:]])
        pure = np.all(c4 == c4[0], axis=0)
        k = _GL_X.size
        cell_lab = np.repeat(np.repeat(c4[0], k, axis=0), k, axis=1)  # per quadrature point
        mixed = ~np.repeat(np.repeat(pure, k, axis=0), k, axis=1)
        if mixed.any():
            xs = np.broadcast_to(X, lq.shape)[mixed]
            ys = np.broadcast_to(Y, lq.shape)[mixed]
            cell_lab[mixed] = b.assign(np.stack([xs, ys], 1))
        top = float(np.max(lq))
        w = np.bincount(cell_lab.ravel(), weights=np.exp(lq - top).ravel(), minlength=len(b))
        out = np.log(np.maximum(w, 1e-300)) + top
        for i in np.flatnonzero(w < 1e-200):  # underflowed in linear space: redo in log space
            sel = cell_lab == i
            out[i] = logsumexp(lq[sel]) if sel.any() else -np.inf
        return out - self.log_normalizer

    def basin_masses(self) -> np.ndarray:
        """Probability of each basin, in basin order (see :meth:`log_basin_masses`)."""
        return np.exp(self.log_basin_masses())

    def log_split_masses(self) -> np.ndarray:
        """log P of each side of the potential's split hyperplane, [n·θ < c, n·θ ≥ c] — the
        sides the simulators count occupation with (for two basins in 1-D: the basins)."""
        pot = self.potential
        if pot.dim == 1:
            nodes = self.nodes[0]
            i = int(np.argmin(np.abs(nodes - pot.split_offset)))
            panel = logsumexp(self._quadrature[1], axis=1)
            sides = [logsumexp(panel[:i]), logsumexp(panel[i:])]
        else:
            (X, Y), lq = self._quadrature
            n = np.asarray(pot.split_normal)
            low = (n[0] * X + n[1] * Y) < pot.split_offset
            sides = [logsumexp(np.where(low, lq, -np.inf)), logsumexp(np.where(low, -np.inf, lq))]
        return np.array(sides) - self.log_normalizer

    def split_masses(self) -> np.ndarray:
        return np.exp(self.log_split_masses())
