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
    """Real critical points of a 1-D potential inside its domain (sorted)."""
    import sympy as sp

    L, _ = pot.substituted()
    (var,) = pot.coords
    lo, hi = pot.domain[0]
    dL = sp.diff(L, var)
    if L.is_polynomial(var):
        r = np.roots([float(c) for c in sp.Poly(dL, var).all_coeffs()])
        r = np.sort(r[np.abs(r.imag) < 1e-9].real)
    else:  # sign changes of L' on a fine grid, polished by brentq
        from scipy.optimize import brentq

        f = pot.grad_fns()[0]
        g = np.linspace(lo, hi, 20001)
        v = f(g, *pot.values)
        idx = np.flatnonzero(np.sign(v[:-1]) * np.sign(v[1:]) < 0)
        r = np.array([brentq(lambda t: f(t, *pot.values), g[i], g[i + 1]) for i in idx])
    return r[(r > lo) & (r < hi)]


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
        if pot.dim > 1 and not pot.constant_noise:
            raise ParameterError(
                "potential", pot.name, "N-D needs isotropic constant noise (a gradient system)"
            )
        if pot.dim > 2:
            raise ParameterError("potential", pot.name, "numeric densities support 1-D and 2-D")
        if pot.dim > 1:
            self.n_uniform, self.n_local = min(self.n_uniform, 161), min(self.n_local, 81)

    # -- geometry -------------------------------------------------------------------------
    @cached_property
    def _critical_x(self) -> np.ndarray:
        """Critical points of L along the first axis (for 2-D: of L(x, 0), where the
        families here keep their minima and saddle)."""
        from .potentials import Potential as _P

        pot = self.potential
        if pot.dim == 1:
            return critical_points_1d(pot)
        L, _ = pot.substituted()
        sec = L.xreplace({c: 0 for c in pot.coords[1:]})
        one_d = _P("section", pot.coords[:1], (), sec, (pot.noise_cov[0],), (), pot.domain[:1])
        return critical_points_1d(one_d)

    def _D_scalar(self, *theta):
        return 0.5 * self.T * np.asarray(self.potential.noise_at(*theta)[0], dtype=float)

    def _axis_grid(self, axis: int) -> np.ndarray:
        pot = self.potential
        lo, hi = pot.domain[axis]
        if axis == 0:
            xc = self._critical_x
            centres = xc
            curv = np.abs(self._hessian_diag(xc, 0))
            D = self._D_scalar(*([xc] + [np.zeros_like(xc)] * (pot.dim - 1)))
            extra = [pot.split_offset] if pot.split_normal and pot.split_normal[0] else []
        else:
            xc = self._critical_x
            centres = np.zeros(1)
            curv = np.array([np.min(np.abs(self._hessian_diag(xc, axis)))])
            D = np.array([self._D_scalar(*([xc[:1]] + [np.zeros(1)] * (pot.dim - 1)))[0]])
            extra = []
        widths = np.sqrt(D / np.maximum(curv, 1e-12))
        return _axis_nodes(lo, hi, centres, widths, self.n_uniform, self.n_local, extra)

    def _hessian_diag(self, xc, axis):
        import sympy as sp

        pot = self.potential
        f = pot.substituted()[0]
        c = pot.coords[axis]
        h = sp.lambdify(pot.coords, sp.diff(f, c, 2), "numpy")
        z = [np.asarray(xc, float)] + [np.zeros_like(xc, dtype=float)] * (pot.dim - 1)
        return np.broadcast_to(h(*z), np.shape(xc)).astype(float)

    @cached_property
    def nodes(self) -> list[np.ndarray]:
        return [self._axis_grid(a) for a in range(self.potential.dim)]

    # -- effective potential ----------------------------------------------------------------
    @cached_property
    def _L_min(self) -> float:
        pot = self.potential
        xc = self._critical_x
        z = [xc] + [np.zeros_like(xc)] * (pot.dim - 1)
        return float(np.min(pot.loss_at(*z)))

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
            D = float(self._D_scalar(*[np.zeros(1)] * pot.dim)[0])
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

    def _cdf_1d(self, v: np.ndarray) -> np.ndarray:
        nodes = self.nodes[0]
        t = np.clip(v, nodes[0], nodes[-1])
        i = np.clip(np.searchsorted(nodes, t, side="right") - 1, 0, nodes.size - 2)
        a = nodes[i]
        half = (t - a) / 2
        pts = a[..., None] + half[..., None] * (_GL_X + 1)
        with np.errstate(divide="ignore"):
            part = logsumexp(np.log(half[..., None] * _GL_W) - self.phi(pts), axis=-1)
        total = np.logaddexp(self._log_cum_panels[i], part)
        return np.clip(np.exp(total - self.log_normalizer), 0.0, 1.0)

    def log_basin_masses(self) -> np.ndarray:
        """log P of each side of the split hyperplane, [n·θ < c, n·θ ≥ c], without
        cancellation (the split is a panel edge, so each side is an exact panel sum)."""
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

    def basin_masses(self) -> np.ndarray:
        """Probability of each side of the potential's split hyperplane: [n·θ < c, n·θ ≥ c]."""
        return np.exp(self.log_basin_masses())
