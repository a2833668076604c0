"""A finite-sample loss of your own: a per-sample loss ℓ(θ; ξ) in sympy over N data ξ_i.

    L_N(θ) = (1/N) Σ_i ℓ(θ; ξ_i),     Σ_N(θ) = (1/N) Σ_i (∇ℓ_i − ∇L_N)(∇ℓ_i − ∇L_N)ᵀ

(DESIGN.md §3).  :func:`sample_loss` builds one from an expression, its coordinates θ, its
sample variables ξ, values for any other symbol, and either an array of data or a sampler
``rng → array`` (called once with ``default_rng(seed)``).  Any number of minima.

When θ is 1-D and ℓ is a polynomial in θ (coefficients any functions of ξ and the
parameters) the sums are exact polynomial algebra: L_N = Σ a_k θ^k with a_k the sample means
of ℓ's θ-coefficients, and Σ_N = Σ b_k θ^k with b_k built from the sample covariance of the
gradient's θ-coefficients (Σ_N(θ) = cᵀ Cov(g) c with c = (1, θ, θ², …)).  The loss then
carries a :class:`~sgdnoise.theory.potentials.Potential` ``(L_N, Σ_N)`` for the
Fokker–Planck, basin and escape tools (state-dependent 1-D stationary density
``p ∝ (1/D) exp(−∫ L_N'/D)``, D = (T/2) Σ_N; Bradley & Gomez-Uribe 2021, arXiv 2108.09507).
Otherwise L_N, ∇L_N and diag Σ_N are evaluated numerically from ℓ lambdified, and the SGD
simulator (:func:`sgdnoise.simulate.sgd.sgd`) compiles the same sympy gradient.

The BG21 translation-plus-tilt family (:mod:`.finite_sample`) is one instance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import sympy as sp

from ..errors import ParameterError
from ..validation import finite, integer
from .potentials import Potential, theta
from .symbolic import numeric


@dataclass(frozen=True, eq=False)
class SampleLoss:
    """``L_N`` of a per-sample loss ``per_sample`` = ℓ(θ; ξ; p) over ``samples`` (N, k).

    Hashes by identity (the simulators cache compiled data per loss object).
    ``loss_coeffs``/``noise_coeffs``/``grad_coeffs``: ascending θ-coefficients of L_N, Σ_N
    and of each ∂ℓ_i/∂θ (N, deg) — only for a 1-D loss polynomial in θ, else None."""

    name: str
    per_sample: sp.Expr
    coords: tuple[sp.Symbol, ...]
    sample_vars: tuple[sp.Symbol, ...]
    params: tuple[sp.Symbol, ...]
    values: tuple[float, ...]
    samples: np.ndarray
    domain: tuple[tuple[float, float], ...] | None
    loss_coeffs: np.ndarray | None
    noise_coeffs: np.ndarray | None
    grad_coeffs: np.ndarray | None
    _potential: Potential | None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, ℓ = {self.per_sample}, N={self.n})"

    @property
    def n(self) -> int:
        return int(self.samples.shape[0])

    @property
    def dim(self) -> int:
        return len(self.coords)

    @property
    def param_vector(self) -> np.ndarray:
        return np.asarray(self.values, dtype=float)

    @property
    def potential(self) -> Potential:
        """The Potential ``(L_N, Σ_N)`` (1-D losses polynomial in θ)."""
        if self._potential is None:
            raise ParameterError(
                "loss",
                self.name,
                "has no Fokker–Planck Potential: that needs a 1-D loss polynomial in θ",
            )
        return self._potential

    @cached_property
    def grad_exprs(self) -> tuple[sp.Expr, ...]:
        """∇_θ ℓ(θ; ξ; p), symbolic: what the SGD simulator compiles."""
        return tuple(sp.diff(self.per_sample, c) for c in self.coords)

    @cached_property
    def _fns(self):
        args = (*self.coords, *self.sample_vars, *self.params)
        return numeric(self.per_sample, args), [numeric(g, args) for g in self.grad_exprs]

    def _points(self, th) -> np.ndarray:
        """θ as (m, D) plus the leading shape to restore."""
        a = np.asarray(th, dtype=float)
        if self.dim == 1:
            return a.reshape(-1, 1), a.shape
        if a.shape[-1:] != (self.dim,):
            raise ParameterError("theta", a.shape, f"must end with {self.dim} coordinates")
        return a.reshape(-1, self.dim), a.shape[:-1]

    def _eval(self, fn, pts) -> np.ndarray:
        cols = [pts[:, j, None] for j in range(self.dim)]
        data = [self.samples[None, :, k] for k in range(self.samples.shape[1])]
        out = fn(*cols, *data, *self.values)
        return np.broadcast_to(np.asarray(out, dtype=float), (pts.shape[0], self.n))

    def loss(self, th) -> np.ndarray:
        """``L_N(θ)`` (vectorized; N-D points along the last axis)."""
        if self.loss_coeffs is not None:
            return np.polynomial.polynomial.polyval(np.asarray(th, float), self.loss_coeffs)
        pts, shape = self._points(th)
        return self._eval(self._fns[0], pts).mean(axis=1).reshape(shape)

    def per_sample_gradients(self, th) -> np.ndarray:
        """∂ℓ_i/∂θ at the points: (m, N) in 1-D, (m, N, D) in N-D."""
        if self.grad_coeffs is not None:
            t = np.atleast_1d(np.asarray(th, float)).ravel()
            powers = t[:, None] ** np.arange(self.grad_coeffs.shape[1])[None, :]
            return powers @ self.grad_coeffs.T
        pts, _ = self._points(np.atleast_1d(th) if self.dim == 1 else th)
        g = np.stack([self._eval(f, pts) for f in self._fns[1]], axis=-1)
        return g[..., 0] if self.dim == 1 else g

    def grad(self, th) -> np.ndarray:
        """``∇L_N(θ)`` (1-D: same shape as θ; N-D: points along the last axis)."""
        if self.loss_coeffs is not None:
            P = np.polynomial.polynomial
            return P.polyval(np.asarray(th, float), P.polyder(self.loss_coeffs))
        _, shape = self._points(th)
        g = self.per_sample_gradients(th).mean(axis=1)
        return g.reshape(shape) if self.dim == 1 else g.reshape(*shape, self.dim)

    def noise(self, th) -> np.ndarray:
        """``Σ_N(θ)`` in 1-D; its diagonal (…, D) in N-D."""
        if self.noise_coeffs is not None:
            return np.polynomial.polynomial.polyval(np.asarray(th, float), self.noise_coeffs)
        _, shape = self._points(th)
        v = self.per_sample_gradients(th).var(axis=1)
        return v.reshape(shape) if self.dim == 1 else v.reshape(*shape, self.dim)


def _symbols(name: str, value) -> tuple[sp.Symbol, ...]:
    items = (value,) if isinstance(value, sp.Symbol) else tuple(value)
    if not items or not all(isinstance(s, sp.Symbol) for s in items):
        raise ParameterError(name, value, "must be a sympy Symbol or a non-empty tuple of them")
    if len(set(items)) != len(items):
        raise ParameterError(name, value, "must not repeat a symbol")
    return items


def _data(data, sampler, seed, k: int) -> np.ndarray:
    if (data is None) == (sampler is None):
        raise ParameterError("data", "both or neither", "give exactly one of data and sampler")
    if sampler is not None:
        if not callable(sampler):
            raise ParameterError("sampler", sampler, "must be a callable rng -> array")
        seed = integer("seed", seed, minimum=0)
        try:
            data = sampler(np.random.default_rng(seed))
        except ParameterError:
            raise
        except Exception as exc:
            raise ParameterError(
                "sampler", sampler, f"failed when called with an rng: {exc}"
            ) from exc
    name = "data" if sampler is None else "sampler"
    try:
        xs = np.array(data, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(name, type(data).__name__, "must give a numeric array") from None
    if xs.ndim == 1 and k == 1:
        xs = xs[:, None]
    if xs.ndim != 2 or xs.shape[1] != k or xs.shape[0] < 1:
        raise ParameterError(name, xs.shape, f"must give shape (N, {k}) with N >= 1")
    if not np.all(np.isfinite(xs)):
        raise ParameterError(name, "non-finite values", "data must be finite")
    return np.ascontiguousarray(xs)


def _domain(domain, dim: int):
    if domain is None:
        return None
    try:
        arr = np.array(domain, dtype=float).reshape(-1, 2)
    except (TypeError, ValueError):
        raise ParameterError("domain", domain, "must be (lo, hi) per coordinate") from None
    if arr.shape != (dim, 2) or not np.all(np.isfinite(arr)) or np.any(arr[:, 0] >= arr[:, 1]):
        raise ParameterError("domain", domain, f"must be {dim} finite intervals (lo < hi)")
    return tuple((float(a), float(b)) for a, b in arr)


def sample_loss(
    loss,
    coords,
    sample_vars,
    *,
    data=None,
    sampler: Callable[[np.random.Generator], np.ndarray] | None = None,
    seed: int = 0,
    params: Mapping | None = None,
    domain=None,
    name: str = "sample_loss",
) -> SampleLoss:
    """A finite-sample loss ``L_N(θ) = mean_i ℓ(θ; ξ_i)`` of your own.

    ``loss``: ℓ as a sympy expression (or a string, read with these symbols);
    ``coords``: θ, a Symbol or tuple; ``sample_vars``: ξ, a Symbol or tuple (one data column
    each); ``data``: (N, k) array (or (N,) when k = 1), or ``sampler``: a callable
    ``rng → array`` called once with ``np.random.default_rng(seed)``; ``params``: values of
    every other symbol ({Symbol or name: value}); ``domain``: (lo, hi) per coordinate, the
    box where the Potential's numerics look (1-D polynomial losses; default: the critical
    points of L_N padded by their spread).

    Raises :class:`ParameterError` naming the argument for: a free symbol with no value,
    a coordinate the loss does not depend on, bad data, and (1-D polynomial losses) an
    L_N unbounded below or without a minimum in the domain."""
    coords = _symbols("coords", coords)
    sample_vars = _symbols("sample_vars", sample_vars)
    if set(coords) & set(sample_vars):
        raise ParameterError("sample_vars", sample_vars, "must not share a symbol with coords")
    params = {} if params is None else params
    if not isinstance(params, Mapping):
        raise ParameterError("params", params, "must be a mapping {symbol or name: value}")
    by_name = {s.name: s for s in (*coords, *sample_vars)}
    pvals: dict[sp.Symbol, float] = {}
    for key, val in params.items():
        sym = key if isinstance(key, sp.Symbol) else sp.Symbol(str(key), real=True)
        pvals[sym] = finite(f"params[{sym}]", val)
    if isinstance(loss, str):
        try:
            loss = sp.sympify(loss, locals={**by_name, **{s.name: s for s in pvals}})
        except (sp.SympifyError, SyntaxError, TypeError) as exc:
            raise ParameterError("loss", loss, f"must parse as a sympy expression: {exc}") from exc
    if not isinstance(loss, sp.Expr):
        raise ParameterError("loss", type(loss).__name__, "must be a sympy expression")
    # match parameter names to the loss's own symbols (assumptions may differ)
    named = {s.name: s for s in loss.free_symbols}
    pvals = {named.get(s.name, s): v for s, v in pvals.items()}
    free = loss.free_symbols - set(coords) - set(sample_vars) - set(pvals)
    if free:
        raise ParameterError(
            "params", sorted(map(str, free)), "give a value for every free symbol of the loss"
        )
    missing = [c for c in coords if c not in loss.free_symbols]
    if missing:
        raise ParameterError("coords", missing, "the loss must depend on every coordinate")
    xs = _data(data, sampler, seed, len(sample_vars))
    dom = _domain(domain, len(coords))
    syms = tuple(pvals)
    vals = tuple(pvals[s] for s in syms)
    return _build(name, loss, coords, sample_vars, syms, vals, xs, dom, SampleLoss)


def _build(
    name, ell, coords, svars, params, values, xs, domain, cls, extra=None, degree=None, param="loss"
):
    """Compute the coefficient arrays (1-D polynomial ℓ) and the Potential, then ``cls``."""
    extra = extra or {}
    sub = ell.xreplace(dict(zip(params, values, strict=True)))
    head = (name, ell, coords, svars, params, values, xs)
    if not (len(coords) == 1 and sub.is_polynomial(coords[0])):
        return cls(*head, domain, None, None, None, None, **extra)
    (c,) = coords
    deg = degree if degree is not None else max(sp.degree(sub, c), 1)
    loss_fn, grad_fn = _coefficient_fns(sub, c, svars, deg)
    with np.errstate(all="ignore"):
        Lc = _columns(loss_fn, xs).mean(axis=0)
        G = _columns(grad_fn, xs)
        Gc = G - G.mean(axis=0)
        cov = Gc.T @ Gc / xs.shape[0]  # sample covariance of the gradient's θ-coefficients
    if not (np.all(np.isfinite(Lc)) and np.all(np.isfinite(cov))):
        data_name = "samples" if param == "samples" else "data"
        raise ParameterError(data_name, "values", "overflow L_N or Σ_N: rescale the data")
    Sc = np.zeros(2 * deg - 1)
    for j in range(deg):
        Sc[j : j + deg] += cov[j]
    pot = polynomial_potential(name, Lc, Sc, domain, param=param)
    return cls(*head, pot.domain, Lc, Sc, G, pot, **extra)


@cache
def _coefficient_fns(sub: sp.Expr, c: sp.Symbol, svars, deg: int):
    """Numeric maps ξ → θ-coefficients (ascending) of ℓ and ∂ℓ/∂θ (parameters substituted)."""
    loss_c = sp.Poly(sp.expand(sub), c).all_coeffs()[::-1]
    grad_c = sp.Poly(sp.expand(sp.diff(sub, c)), c).all_coeffs()[::-1]
    loss_c += [sp.Integer(0)] * (deg + 1 - len(loss_c))
    grad_c += [sp.Integer(0)] * (deg - len(grad_c))
    return numeric(loss_c, svars), numeric(grad_c, svars)


def _columns(fn, xs: np.ndarray) -> np.ndarray:
    """Evaluate a lambdified coefficient list over the samples: (N, n_coefficients)."""
    n = xs.shape[0]
    cols = fn(*[xs[:, k] for k in range(xs.shape[1])])
    return np.stack([np.broadcast_to(np.asarray(r, dtype=float), (n,)) for r in cols], axis=1)


def _horner(coeffs) -> sp.Expr:
    """``c0 + θ(c1 + θ(c2 + …))`` kept nested, so the lambdified numeric functions the
    density code evaluates on large grids do a few multiply-adds instead of powers."""
    expr = coeffs[-1]
    for c in reversed(coeffs[:-1]):
        expr = c + theta * expr
    return expr


@cache
def polynomial_template(deg: int):
    """Symbols (a_0…a_deg), (b_0…b_{2deg−2}) and the Horner loss/noise in θ."""
    A = sp.symbols(f"a0:{deg + 1}", real=True)
    B = sp.symbols(f"b0:{2 * (deg - 1) + 1}", real=True)
    return A, B, _horner(A), _horner(B)


def critical_points(loss_coeffs, lo=-np.inf, hi=np.inf) -> np.ndarray:
    """Real roots of L' inside (lo, hi), sorted."""
    P = np.polynomial.polynomial
    d = np.trim_zeros(P.polyder(loss_coeffs), "b")
    if d.size == 0:
        return np.empty(0)
    r = P.polyroots(d) if d.size > 1 else np.empty(0)
    r = np.sort(r[np.abs(r.imag) < 1e-9].real)
    return r[(r > lo) & (r < hi)]


def polynomial_potential(name, Lc, Sc, domain=None, *, param="loss") -> Potential:
    """The 1-D Potential ``(Σ a_k θ^k, Σ b_k θ^k)`` with its split at the first barrier.

    Refuses (``param`` named) an L_N unbounded below or with no minimum in the domain."""
    P = np.polynomial.polynomial
    Lc = np.asarray(Lc, float)
    top = np.trim_zeros(Lc, "b")
    if top.size < 3 or (top.size - 1) % 2 or not top[-1] > 0:
        raise ParameterError(
            param, name, "L_N is unbounded below (needs even degree >= 2, leading coefficient > 0)"
        )
    crit = critical_points(Lc)
    h = P.polyval(crit, P.polyder(Lc, 2))
    mins = crit[h > 0]
    if domain is None:
        span = float(crit.max() - crit.min()) if crit.size else 0.0
        pad = max(1.0, 0.5 * span)
        domain = ((float(crit.min()) - pad, float(crit.max()) + pad),)
    lo, hi = domain[0]
    inside = mins[(mins > lo) & (mins < hi)]
    if inside.size == 0:
        raise ParameterError(param, name, f"L_N has no minimum inside the domain {domain[0]}")
    tops = crit[(h <= 0) & (crit > inside[0]) & (crit < hi)]
    split = float(tops[0]) if inside.size > 1 and tops.size else float(hi)
    deg = len(Lc) - 1
    A, B, loss, noise = polynomial_template(deg)
    Sc = np.asarray(Sc, float)
    return Potential(
        name=name,
        coords=(theta,),
        params=A + B,
        loss=loss,
        noise_cov=(noise,),
        values=tuple(float(a) for a in Lc) + tuple(float(b) for b in Sc),
        domain=tuple(domain),
        split_normal=(1.0,),
        split_offset=split,
    )
