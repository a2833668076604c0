"""Synthetic loss landscapes with two minima, defined once, symbolically (DESIGN.md §4.1).

A :class:`Potential` is a loss ``L(θ; p)`` (sympy, in coordinates θ and parameters p) plus the
diagonal of the per-sample gradient covariance ``Σ(θ; p)``, with numeric parameter values
and a bounded box ``domain`` in which numerics integrate and minima are sought.  The
simulators compile exactly these expressions (:mod:`sgdnoise.simulate.codegen`); nothing
re-types them.

Families
--------
``two_minima_1d``: the degree-6 polynomial fixed by Hermite conditions — value, zero slope
and curvature at a *wide* minimum (m_w, E_w, k_w) and a *narrow* one (m_n, E_n, k_n), plus
its value E_b at the midpoint — so depth difference and curvatures are tuned independently
(Bradley & Gomez-Uribe 2021 use a wide and a narrow minimum to show that temperature
favours the wide one).  A polynomial keeps each gradient evaluation a few multiply–adds, so
the Langevin kernel is bound by the random-number generator, not by the loss.
Noise ``Σ(θ) = σ² (1 + κ (θ − m_w)²)``: κ = 0 is the constant-noise case; κ > 0 gives
state-dependent diffusion that grows away from the wide minimum.

``two_minima_2d``: ``L(x, y) = L₁(x) + ½ κ(x) y²`` with L₁ the 1-D family and a transverse
stiffness ``κ(x) = k̄ + δ x' + |δ| x'²`` (x' the coordinate rescaled so that the minima sit
at ∓1) that equals k_yw at the wide and k_yn at the narrow minimum and stays positive
everywhere; isotropic constant noise σ².
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache

import numpy as np
import sympy as sp

from ..errors import ParameterError
from ..validation import finite, nonnegative, positive
from .symbolic import numeric


@dataclass(frozen=True)
class Potential:
    """``L(θ; p)`` and diag ``Σ(θ; p)``, symbolic, with numeric parameter values."""

    name: str
    coords: tuple[sp.Symbol, ...]
    params: tuple[sp.Symbol, ...]
    loss: sp.Expr
    noise_cov: tuple[sp.Expr, ...]
    values: tuple[float, ...]
    domain: tuple[tuple[float, float], ...]
    #: a hyperplane ``n·θ = c`` that separates the two basins (through the saddle)
    split_normal: tuple[float, ...] = field(default=())
    split_offset: float = 0.0

    @property
    def dim(self) -> int:
        return len(self.coords)

    @property
    def param_vector(self) -> np.ndarray:
        return np.asarray(self.values, dtype=float)

    @property
    def constant_noise(self) -> bool:
        _, noise = self.substituted()
        return all(not (s.free_symbols & set(self.coords)) for s in noise)

    def with_values(self, **kw: float) -> Potential:
        """A copy with some parameters changed (by symbol name)."""
        names = [str(p) for p in self.params]
        vals = list(self.values)
        for k, v in kw.items():
            if k not in names:
                raise ParameterError(k, v, f"is not a parameter of {self.name}: {names}")
            vals[names.index(k)] = finite(k, v)
        return replace(self, values=tuple(vals))

    def substituted(self) -> tuple[sp.Expr, tuple[sp.Expr, ...]]:
        """Loss and noise with the numeric parameter values substituted."""
        return _substitute(self.loss, self.noise_cov, self.params, self.values)

    # numeric views (numpy-broadcasting; coordinates as separate arguments)
    def loss_fn(self):
        return _numeric_cached(self.loss, self.coords + self.params)

    def grad_fns(self):
        return [
            _numeric_cached(sp.diff(self.loss, c), self.coords + self.params) for c in self.coords
        ]

    def noise_fns(self):
        return [_numeric_cached(s, self.coords + self.params) for s in self.noise_cov]

    def loss_at(self, *theta):
        return self.loss_fn()(*theta, *self.values)

    def noise_at(self, *theta):
        return [
            np.broadcast_to(f(*theta, *self.values), np.shape(theta[0])) for f in self.noise_fns()
        ]


@cache
def _substitute(loss, noise_cov, params, values):
    sub = dict(zip(params, values, strict=True))
    return (
        sp.sympify(loss.xreplace(sub)),
        tuple(sp.sympify(s.xreplace(sub)) for s in noise_cov),
    )


@cache
def _numeric_cached(expr, args):
    return numeric(expr, args)


# --------------------------------------------------------------------------------------
theta, x, y = sp.symbols("theta x y", real=True)
m_w, m_n, k_w, k_n, E_w, E_n, E_b, SIGMA2, KAPPA = sp.symbols(
    "m_w m_n k_w k_n E_w E_n E_b sigma2 kappa", real=True
)
k_yw, k_yn = sp.symbols("k_yw k_yn", positive=True)


@cache
def hermite_two_minima(var: sp.Symbol = theta) -> sp.Expr:
    """The degree-6 polynomial with L(m_w)=E_w, L'(m_w)=0, L''(m_w)=k_w, the same at m_n,
    and L((m_w+m_n)/2) = E_b, solved symbolically (7 linear conditions, 7 coefficients)."""
    c = sp.symbols("c0:7")
    L = sum(ci * var**i for i, ci in enumerate(c))
    dL, d2L = sp.diff(L, var), sp.diff(L, var, 2)
    mid = (m_w + m_n) / 2
    eqs = [
        L.subs(var, m_w) - E_w,
        dL.subs(var, m_w),
        d2L.subs(var, m_w) - k_w,
        L.subs(var, m_n) - E_n,
        dL.subs(var, m_n),
        d2L.subs(var, m_n) - k_n,
        L.subs(var, mid) - E_b,
    ]
    sol = sp.solve(eqs, c, dict=True)[0]
    return sp.expand(L.xreplace(sol))


def _check_two_minima_1d(expr, var, vals, domain):
    poly = sp.Poly(expr.xreplace(vals), var)
    lead = float(poly.LC())
    if not lead > 0:
        raise ParameterError(
            "barrier",
            float(vals[E_b]),
            "makes the sextic non-confining (leading coefficient <= 0) for these minima; "
            "lower the barrier or raise the curvatures",
        )
    crit = np.roots([float(a) for a in poly.diff(var).all_coeffs()])
    real = np.sort(crit[np.abs(crit.imag) < 1e-9].real)
    if real.size != 3:
        raise ParameterError(
            "barrier",
            float(vals[E_b]),
            f"these settings give {real.size} critical points, not two minima and a barrier",
        )
    lo, hi = domain
    if not (lo < real[0] and real[-1] < hi):
        raise ParameterError("domain", domain, "must contain both minima")
    return real


def two_minima_1d(
    *,
    m_wide: float = -1.0,
    m_narrow: float = 1.0,
    k_wide: float = 1.0,
    k_narrow: float = 8.0,
    depth_wide: float = 0.0,
    depth_narrow: float = -0.05,
    barrier: float = 0.3,
    sigma2: float = 1.0,
    kappa: float = 0.0,
    domain: tuple[float, float] | None = None,
) -> Potential:
    """1-D two-minima loss (see module doc).  ``depth_*`` are the loss values at the minima,
    ``barrier`` the value at their midpoint; raises if the settings do not give exactly two
    minima inside ``domain`` (default: the minima's span widened by 1.5 on each side)."""
    mw, mn = finite("m_wide", m_wide), finite("m_narrow", m_narrow)
    if mw == mn:
        raise ParameterError("m_narrow", m_narrow, "must differ from m_wide")
    vals = {
        m_w: mw,
        m_n: mn,
        k_w: positive("k_wide", k_wide),
        k_n: positive("k_narrow", k_narrow),
        E_w: finite("depth_wide", depth_wide),
        E_n: finite("depth_narrow", depth_narrow),
        E_b: finite("barrier", barrier),
        SIGMA2: positive("sigma2", sigma2),
        KAPPA: nonnegative("kappa", kappa),
    }
    span = abs(mn - mw)
    dom = (min(mw, mn) - 0.75 * span, max(mw, mn) + 0.75 * span) if domain is None else domain
    if len(dom) != 2 or not dom[0] < dom[1]:
        raise ParameterError("domain", domain, "must be (low, high) with low < high")
    L = hermite_two_minima(theta)
    crit = _check_two_minima_1d(L, theta, vals, dom)
    params = (m_w, m_n, k_w, k_n, E_w, E_n, E_b, SIGMA2, KAPPA)
    noise = SIGMA2 * (1 + KAPPA * (theta - m_w) ** 2)
    return Potential(
        name="two_minima_1d",
        coords=(theta,),
        params=params,
        loss=L,
        noise_cov=(noise,),
        values=tuple(float(vals[p]) for p in params),
        domain=(tuple(float(d) for d in dom),),
        split_normal=(1.0,),
        split_offset=float(crit[1]),
    )


def two_minima_2d(
    *,
    k_y_wide: float = 1.0,
    k_y_narrow: float = 4.0,
    sigma2: float = 1.0,
    domain: tuple[tuple[float, float], tuple[float, float]] | None = None,
    **kw_1d,
) -> Potential:
    """2-D two-minima loss ``L₁(x) + ½ κ(x) y²`` (see module doc); ``kw_1d`` as in
    :func:`two_minima_1d` (its ``kappa`` must stay 0: noise here is isotropic)."""
    if kw_1d.get("kappa", 0.0) != 0.0:
        raise ParameterError("kappa", kw_1d["kappa"], "must be 0 for the 2-D family")
    base = two_minima_1d(sigma2=sigma2, **kw_1d)
    kyw, kyn = positive("k_y_wide", k_y_wide), positive("k_y_narrow", k_y_narrow)
    sub = dict(zip(base.params, base.values, strict=True))
    # x' maps m_w → −1, m_n → +1, so κ(m_w) = k_yw and κ(m_n) = k_yn exactly.
    xp = (2 * x - (m_w + m_n)) / (m_n - m_w)
    delta = (k_yn - k_yw) / 2
    kbar = (k_yn + k_yw) / 2 - sp.Abs(delta)
    stiff = kbar + delta * xp + sp.Abs(delta) * xp**2
    L = base.loss.xreplace({theta: x}) + stiff * y**2 / 2
    params = (*base.params[:-1], k_yw, k_yn)
    values = (*base.values[:-1], kyw, kyn)
    s2 = SIGMA2
    ylim = 6.0 * np.sqrt(max(1.0, float(sub[s2])) / min(kyw, kyn, 0.625 * (kyw + kyn) / 2))
    dom = (base.domain[0], (-ylim, ylim)) if domain is None else domain
    return Potential(
        name="two_minima_2d",
        coords=(x, y),
        params=params,
        loss=L,
        noise_cov=(s2, s2),
        values=tuple(float(v) for v in values),
        domain=tuple(tuple(float(a) for a in d) for d in dom),
        split_normal=(1.0, 0.0),
        split_offset=base.split_offset,
    )
