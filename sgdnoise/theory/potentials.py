"""Loss landscapes defined once, symbolically (DESIGN.md §4.1): your own, and two-minima
families.

``potential(loss, coords=, domain=, params=, noise=)`` builds a validated potential from any
sympy expression (see its docstring; the checks live in :mod:`.potential_checks`).

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

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from numbers import Real

import numpy as np
import sympy as sp

from ..errors import ParameterError
from ..validation import finite, nonnegative, positive
from .symbolic import numeric


@dataclass(frozen=True)
class Potential:
    """``L(θ; p)`` and diag ``Σ(θ; p)``, symbolic, with numeric parameter values.

    Build one with :func:`potential` (validated: a minimum, bounded below, Σ positive
    definite, ...).  Filling the fields by hand still works; the structure (shapes, a
    non-empty box, values for every symbol) is checked here, the landscape by
    :func:`~sgdnoise.theory.potential_checks.check_potential` at every theory entry point."""

    name: str
    coords: tuple[sp.Symbol, ...]
    params: tuple[sp.Symbol, ...]
    loss: sp.Expr
    noise_cov: tuple[sp.Expr, ...]
    values: tuple[float, ...]
    domain: tuple[tuple[float, float], ...]
    #: a hyperplane ``n·θ = c`` that separates the first basin from the others (through the
    #: saddle between minima 0 and 1); the simulators count occupation with it.  Derived
    #: bookkeeping, left out of ==/hash so that caches keyed on the landscape survive it.
    split_normal: tuple[float, ...] = field(default=(), compare=False)
    split_offset: float = field(default=0.0, compare=False)

    def __post_init__(self):
        _check_structure(self)

    def __repr__(self) -> str:
        vals = ", ".join(f"{p}={v:.4g}" for p, v in zip(self.params, self.values, strict=True))
        dom = ", ".join(f"({lo:.4g}, {hi:.4g})" for lo, hi in self.domain)
        kind = "constant" if self.constant_noise else "state-dependent"
        return (
            f"Potential({self.name!r}, coords={tuple(str(c) for c in self.coords)}, "
            f"loss={_short(self.loss)}, params={{{_clip(vals, 120)}}}, "
            f"noise={kind} diag Σ, domain=[{dom}])"
        )

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


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _short(expr) -> str:
    """A one-line sketch of an expression: itself when short, else its size."""
    s = str(expr)
    if len(s) <= 60:
        return s
    return f"<{type(expr).__name__} of {sp.count_ops(expr)} ops>"


def _check_structure(pot: Potential) -> None:
    """Cheap shape and symbol checks shared by every way of building a Potential."""
    coords = pot.coords
    if (
        not isinstance(coords, tuple)
        or not coords
        or not all(isinstance(c, sp.Symbol) for c in coords)
    ):
        raise ParameterError("coords", coords, "must be a non-empty tuple of sympy Symbols")
    if len(set(coords)) != len(coords):
        raise ParameterError("coords", coords, "must not repeat a symbol")
    if not all(isinstance(p, sp.Symbol) for p in pot.params):
        raise ParameterError("params", pot.params, "must be sympy Symbols")
    if set(pot.params) & set(coords):
        raise ParameterError("params", pot.params, "must not include a coordinate")
    if len(pot.values) != len(pot.params):
        raise ParameterError(
            "values", pot.values, f"must give one number per parameter ({len(pot.params)})"
        )
    for p, v in zip(pot.params, pot.values, strict=True):
        finite(str(p), v)
    if not isinstance(pot.loss, sp.Basic):
        raise ParameterError("loss", pot.loss, "must be a sympy expression")
    if len(pot.noise_cov) != len(coords):
        raise ParameterError(
            "noise",
            pot.noise_cov,
            f"must give one diagonal entry of Σ per coordinate ({len(coords)})",
        )
    dom = pot.domain
    if len(dom) != len(coords):
        raise ParameterError("domain", dom, "must give one (low, high) per coordinate")
    for d in dom:
        if (
            len(d) != 2
            or not all(isinstance(a, Real) and np.isfinite(a) for a in d)
            or not d[0] < d[1]
        ):
            raise ParameterError("domain", dom, "each axis must be (low, high), finite, low < high")
    known = set(coords) | set(pot.params)
    for where, e in (("loss", pot.loss), *(("noise", s) for s in pot.noise_cov)):
        free = sp.sympify(e).free_symbols - known
        if free:
            name = sorted(str(s) for s in free)[0]
            raise ParameterError(
                "params",
                name,
                f"the {where} has a symbol without a value; pass params={{{name}: value}}",
            )
    if pot.split_normal and len(pot.split_normal) != len(coords):
        raise ParameterError("split_normal", pot.split_normal, f"must have {len(coords)} entries")


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


# --------------------------------------------------------------------------------------
# A potential of your own
def potential(
    loss,
    *,
    coords,
    domain,
    params: Mapping | None = None,
    noise=1,
    name: str | None = None,
) -> Potential:
    """A validated :class:`Potential` from a sympy loss ``L(θ; p)``.

    ``coords``: the coordinate Symbol(s) θ.  ``domain``: ``(low, high)`` in 1-D, one such
    pair per coordinate in N-D — the box where minima are sought and densities integrated.
    ``params``: ``{Symbol or name: value}`` for every other symbol of ``loss`` and ``noise``.
    ``noise``: the per-sample gradient covariance Σ(θ; p) — a scalar (isotropic σ² I), one
    diagonal entry per coordinate, or a diagonal sympy Matrix; constant or θ-dependent.
    The SDE is ``dθ = −∇L dt + sqrt(T Σ) dW`` (DESIGN.md §3).

    Refused, each with a :class:`ParameterError` naming the argument: a free symbol without a
    value (``params``); wrong shapes; a reversed or empty ``domain``; Σ not positive
    definite (``noise``; a θ-dependent Σ is checked on a grid of the box); a loss with no
    local minimum inside the box, not finite there, or unbounded below (``loss``; exact for
    polynomials, and for any loss when the box edge dips below its deepest minimum,
    ``domain``).  The split hyperplane the simulators count occupation with is placed
    through the saddle between the first two basins."""
    loss = _as_expr("loss", loss)
    coords = _as_coords(coords)
    dim = len(coords)
    dom = _as_domain(domain, dim)
    noise_cov = _as_noise(noise, dim)
    syms, vals = _as_params(params, coords, loss, noise_cov)
    if name is None:
        name = _clip(str(loss), 40)
    elif not isinstance(name, str) or not name:
        raise ParameterError("name", name, "must be a non-empty string")
    pot = Potential(name, coords, syms, loss, noise_cov, vals, dom)
    from .basins import basins
    from .potential_checks import check_potential

    check_potential(pot, None)
    b = basins(pot)
    normal, offset = b.split_hyperplane()
    return replace(pot, split_normal=normal, split_offset=offset)


def _as_expr(arg: str, e) -> sp.Expr:
    if isinstance(e, bool) or not isinstance(e, sp.Basic | Real):
        raise ParameterError(arg, e, "must be a sympy expression (or a number)")
    e = sp.sympify(e)
    if not isinstance(e, sp.Expr) or e.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise ParameterError(arg, e, "must be a finite scalar sympy expression")
    if e.has(sp.I) or e.is_real is False:
        raise ParameterError(arg, e, "must be real (no imaginary unit)")
    return e


def _as_coords(coords) -> tuple[sp.Symbol, ...]:
    cs = (coords,) if isinstance(coords, sp.Symbol) else coords
    try:
        cs = tuple(cs)
    except TypeError:
        raise ParameterError(
            "coords", coords, "must be a sympy Symbol or a sequence of them"
        ) from None
    if not cs or not all(isinstance(c, sp.Symbol) for c in cs):
        raise ParameterError("coords", coords, "must be a sympy Symbol or a sequence of them")
    if len(set(cs)) != len(cs):
        raise ParameterError("coords", coords, "must not repeat a symbol")
    return cs


def _as_domain(domain, dim: int) -> tuple[tuple[float, float], ...]:
    def pair(d):
        if isinstance(d, str | bytes) or not hasattr(d, "__len__") or len(d) != 2:
            raise ParameterError("domain", domain, "each axis must be a pair (low, high)")
        lo, hi = d
        for v in (lo, hi):
            if isinstance(v, bool) or not isinstance(v, Real) or not np.isfinite(v):
                raise ParameterError("domain", domain, "bounds must be finite real numbers")
        if not lo < hi:
            raise ParameterError("domain", domain, "must have low < high on every axis")
        return (float(lo), float(hi))

    if isinstance(domain, str | bytes) or not hasattr(domain, "__len__"):
        raise ParameterError("domain", domain, "must be (low, high) or one pair per coordinate")
    if dim == 1 and len(domain) == 2 and all(isinstance(v, Real) for v in domain):
        return (pair(domain),)
    if len(domain) != dim:
        raise ParameterError("domain", domain, f"must give {dim} pair(s) (low, high)")
    return tuple(pair(d) for d in domain)


def _as_noise(noise, dim: int) -> tuple[sp.Expr, ...]:
    if isinstance(noise, sp.MatrixBase) or (
        isinstance(noise, np.ndarray | list | tuple) and np.ndim(noise) == 2
    ):
        m = sp.Matrix(noise)
        if m.shape != (dim, dim):
            raise ParameterError("noise", m.shape, f"a matrix Σ must be {dim}×{dim}")
        if any(sp.simplify(m[i, j]) != 0 for i in range(dim) for j in range(dim) if i != j):
            raise ParameterError(
                "noise",
                m,
                "must be diagonal: the densities and simulators take a diagonal Σ "
                "(rotate the coordinates to Σ's eigenbasis if it is constant)",
            )
        return tuple(_as_expr("noise", m[i, i]) for i in range(dim))
    if isinstance(noise, sp.Basic | Real) and not isinstance(noise, bool):
        return (_as_expr("noise", noise),) * dim
    if isinstance(noise, list | tuple | np.ndarray):
        if len(noise) != dim:
            raise ParameterError(
                "noise", noise, f"must be a scalar, {dim} diagonal entries or a {dim}×{dim} matrix"
            )
        return tuple(_as_expr("noise", s) for s in noise)
    raise ParameterError("noise", noise, "must be a scalar, a diagonal list or a sympy Matrix")


def _as_params(params, coords, loss, noise_cov):
    params = {} if params is None else params
    if not isinstance(params, Mapping):
        raise ParameterError("params", params, "must be a mapping {Symbol or name: value}")
    free = set(loss.free_symbols).union(*(s.free_symbols for s in noise_cov)) - set(coords)
    by_name = {str(s): s for s in free}
    out: dict[sp.Symbol, float] = {}
    for k, v in params.items():
        sym = by_name.get(k) if isinstance(k, str) else k
        if not isinstance(sym, sp.Symbol) or sym not in free:
            if isinstance(k, sp.Symbol) and k in coords:
                raise ParameterError("params", str(k), "is a coordinate, not a parameter")
            raise ParameterError(
                "params", str(k), f"is not a symbol of the loss or noise: {sorted(by_name)}"
            )
        out[sym] = finite(f"params[{sym}]", v)
    missing = sorted(str(s) for s in free - set(out))
    if missing:
        raise ParameterError(
            "params", missing[0], f"has no value; pass params={{{missing[0]}: value}}"
        )
    syms = tuple(sorted(out, key=str))
    return syms, tuple(out[s] for s in syms)
