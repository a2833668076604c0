"""A finite-sample two-minima loss and its exact gradient noise (BG21, DESIGN.md §3, §4.1).

Data model
----------
A training set of N points ξ_i = (u_i, v_i), drawn once.  The per-sample loss is the
two-minima family's loss L(θ; p) (:func:`~sgdnoise.theory.potentials.two_minima_1d`)
*translated* by u and *tilted* by v:

    ℓ(θ; u, v) = L(θ − u; p) + v θ,        L_N(θ) = (1/N) Σ_i ℓ(θ; ξ_i).

Why this model: u is what a covariate shift does to a landscape — it moves the minima — so a
test set drawn with u shifted by δ (*domain shift*) has the test loss L_N(θ − δ) + const,
exactly BG21's "shift of the minimum"; a fresh draw (*sampling shift*) moves each minimum by
O(1/√N).  v is a per-sample gradient offset (as label noise produces in regression); it sets
a noise floor without changing the shape of L.  With u ~ N(δ, s²) and v ~ N(0, τ²):

* per-sample gradient ``∂ℓ/∂θ = L'(θ − u) + v``;
* exact gradient-noise covariance of the finite sample (DESIGN.md §3)

      Σ_N(θ) = (1/N) Σ_i (∂ℓ_i − L_N')²   ≈   s² L''(θ)² + τ²   (small s),

  so noise is *state dependent*: larger where the loss is sharp, as for real networks;
* population limits (N → ∞), derived symbolically by Gaussian moments: the loss smoothed
  by the u-distribution, ``L_∞(θ) = E_u L(θ − u)``, and ``Σ_∞(θ) = Var_u L'(θ−u) + τ²``.

Because L is a polynomial of degree 6 in θ, ℓ is too, with coefficients polynomial in
(u, v); so L_N is a degree-6 and Σ_N a degree-10 polynomial whose coefficients are exact
sample moments (Σ_N's are the sample covariances of the per-sample gradient coefficients).
:class:`FiniteSampleLoss` stores them as a :class:`~sgdnoise.theory.potentials.Potential`
(loss ``Σ a_k θ^k``, noise ``Σ b_k θ^k``), so the Fokker–Planck machinery
(:class:`~sgdnoise.theory.density.StationaryDensity`, basins, escape) applies unchanged: the
state-dependent 1-D stationary density ``p ∝ (1/D) exp(−∫ L_N'/D)`` with ``D = (T/2) Σ_N``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

import numpy as np
import sympy as sp

from ..errors import ParameterError
from ..validation import choice, finite, integer, nonnegative, positive
from .potentials import Potential, theta
from .symbolic import numeric

#: per-sample variables ξ = (u, v): translation and tilt
u, v = sp.symbols("u v", real=True)
SAMPLE_VARS = (u, v)
s_sd, tau_sd, delta = sp.symbols("s tau delta", real=True)

LOSS_DEGREE = 6
A = sp.symbols(f"a0:{LOSS_DEGREE + 1}", real=True)
Bc = sp.symbols(f"b0:{2 * (LOSS_DEGREE - 1) + 1}", real=True)
SHIFT_KINDS = ("sampling", "domain")


def per_sample_loss(base: Potential) -> sp.Expr:
    """The symbolic ``ℓ(θ; u, v; p) = L(θ − u; p) + v θ`` of a 1-D family (in its coordinate,
    the sample variables :data:`SAMPLE_VARS` and the family's parameter symbols)."""
    _check_base(base)
    (c,) = base.coords
    return base.loss.xreplace({c: c - u}) + v * c


def _check_base(base) -> None:
    if not isinstance(base, Potential) or base.dim != 1:
        raise ParameterError("base", getattr(base, "name", base), "must be a 1-D theory Potential")
    L, _ = base.substituted()
    if not L.is_polynomial(base.coords[0]) or sp.degree(L, base.coords[0]) > LOSS_DEGREE:
        raise ParameterError(
            "base", base.name, f"loss must be a polynomial of degree <= {LOSS_DEGREE}"
        )


def _gaussian_expectation(expr: sp.Expr, var: sp.Symbol, mean, sd) -> sp.Expr:
    """E[expr] over var ~ N(mean, sd²) for expr polynomial in var (moments (k−1)!!)."""
    z = sp.Dummy("z")
    poly = sp.Poly(sp.expand(expr.xreplace({var: mean + sd * z})), z)
    out = 0
    for (k,), coeff in poly.terms():
        if k % 2 == 0:
            out += coeff * sp.factorial2(k - 1) if k else coeff
    return sp.expand(out)


@cache
def population_loss(base: Potential) -> sp.Expr:
    """``L_∞(θ) = E ℓ(θ; ξ)`` for u ~ N(δ, s²), v ~ N(0, τ²): the family's loss smoothed by
    the translation distribution (in θ, s, δ; parameters substituted)."""
    L, _ = base.substituted()
    (c,) = base.coords
    return _gaussian_expectation(L.xreplace({c: c - u}), u, delta, s_sd)


@cache
def population_noise(base: Potential) -> sp.Expr:
    """``Σ_∞(θ) = Var_ξ ∂ℓ/∂θ = Var_u L'(θ − u) + τ²`` (u, v independent)."""
    L, _ = base.substituted()
    (c,) = base.coords
    g = sp.diff(L, c).xreplace({c: c - u})
    m1 = _gaussian_expectation(g, u, delta, s_sd)
    m2 = _gaussian_expectation(g**2, u, delta, s_sd)
    return sp.expand(m2 - m1**2 + tau_sd**2)


@cache
def _coefficient_fns(base: Potential):
    """Numeric maps (u, v) → θ-coefficients (ascending) of ℓ and of ∂ℓ/∂θ, lambdified from
    the symbolic per-sample loss with the family's parameters substituted."""
    (c,) = base.coords
    ell = per_sample_loss(base).xreplace(dict(zip(base.params, base.values, strict=True)))
    loss_c = sp.Poly(sp.expand(ell), c).all_coeffs()[::-1]
    grad_c = sp.Poly(sp.expand(sp.diff(ell, c)), c).all_coeffs()[::-1]
    loss_c += [sp.Integer(0)] * (LOSS_DEGREE + 1 - len(loss_c))
    grad_c += [sp.Integer(0)] * (LOSS_DEGREE - len(grad_c))
    return numeric(loss_c, SAMPLE_VARS), numeric(grad_c, SAMPLE_VARS)


def _horner(coeffs) -> sp.Expr:
    """``c0 + θ(c1 + θ(c2 + …))`` kept nested, so the lambdified numeric functions that the
    density code evaluates on large grids do a few multiply-adds instead of powers."""
    expr = coeffs[-1]
    for c in reversed(coeffs[:-1]):
        expr = c + theta * expr
    return expr


@cache
def _poly_potential_template():
    return _horner(A), _horner(Bc)


@dataclass(frozen=True, eq=False)
class FiniteSampleLoss:
    """``L_N`` of a drawn training (or test) set and its exact noise ``Σ_N``.

    ``potential``: the polynomial Potential ``(L_N, Σ_N)`` — use it with the Fokker–Planck
    and basin tools; ``samples``: the (N, 2) array of ξ_i = (u_i, v_i);
    ``grad_coeffs``: (N, 6) per-sample θ-coefficients of ∂ℓ_i/∂θ (ascending powers)."""

    base: Potential
    samples: np.ndarray
    loss_coeffs: np.ndarray
    noise_coeffs: np.ndarray
    grad_coeffs: np.ndarray
    potential: Potential

    @property
    def n(self) -> int:
        return int(self.samples.shape[0])

    def loss(self, th) -> np.ndarray:
        """``L_N(θ)`` (vectorized)."""
        return np.polynomial.polynomial.polyval(np.asarray(th, float), self.loss_coeffs)

    def grad(self, th) -> np.ndarray:
        return np.polynomial.polynomial.polyval(
            np.asarray(th, float), np.polynomial.polynomial.polyder(self.loss_coeffs)
        )

    def noise(self, th) -> np.ndarray:
        """``Σ_N(θ)``, the exact per-sample gradient variance (vectorized)."""
        return np.polynomial.polynomial.polyval(np.asarray(th, float), self.noise_coeffs)

    def per_sample_gradients(self, th) -> np.ndarray:
        """(len(θ), N) matrix of ∂ℓ_i/∂θ at the points θ."""
        th = np.atleast_1d(np.asarray(th, float))
        powers = th[:, None] ** np.arange(self.grad_coeffs.shape[1])[None, :]
        return powers @ self.grad_coeffs.T


def draw_samples(
    n: int, *, shift_sd: float, tilt_sd: float, offset: float = 0.0, seed: int = 0
) -> np.ndarray:
    """N samples ξ_i = (u_i, v_i) with u ~ N(offset, shift_sd²), v ~ N(0, tilt_sd²)."""
    n = integer("n", n, minimum=1)
    s = nonnegative("shift_sd", shift_sd)
    t = nonnegative("tilt_sd", tilt_sd)
    off = finite("offset", offset)
    seed = integer("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    return np.column_stack([off + s * rng.standard_normal(n), t * rng.standard_normal(n)])


def finite_sample_loss(base: Potential, samples) -> FiniteSampleLoss:
    """Exact ``L_N`` and ``Σ_N`` of the per-sample loss ``ℓ(θ; ξ)`` over ``samples`` (N, 2).

    Raises :class:`ParameterError` when the samples do not leave two minima in the domain."""
    _check_base(base)
    xs = np.asarray(samples, dtype=float)
    if xs.ndim != 2 or xs.shape[1] != 2 or xs.shape[0] < 1:
        raise ParameterError("samples", xs.shape, "must have shape (N, 2) with N >= 1")
    if not np.all(np.isfinite(xs)):
        raise ParameterError("samples", "non-finite", "must be finite")
    loss_fn, grad_fn = _coefficient_fns(base)
    Lc = _columns(loss_fn, xs).mean(axis=0)
    G = _columns(grad_fn, xs)
    Gc = G - G.mean(axis=0)
    cov = Gc.T @ Gc / xs.shape[0]  # sample covariance of the gradient's θ-coefficients
    deg = G.shape[1]
    Sc = np.zeros(2 * deg - 1)
    for j in range(deg):
        Sc[j : j + deg] += cov[j]
    loss, noise = _poly_potential_template()
    crit = np.polynomial.polynomial.polyroots(np.polynomial.polynomial.polyder(Lc))
    crit = np.sort(crit[np.abs(crit.imag) < 1e-9].real)
    lo, hi = base.domain[0]
    crit = crit[(crit > lo) & (crit < hi)]
    if crit.size != 3 or not Lc[-1] > 0:
        raise ParameterError(
            "samples",
            f"N={xs.shape[0]}",
            f"give a finite-sample loss with {crit.size} critical points in {base.domain[0]},"
            " not two minima and a barrier (smaller shift_sd/tilt_sd or larger N)",
        )
    pot = Potential(
        name="finite_sample_1d",
        coords=(theta,),
        params=A + Bc,
        loss=loss,
        noise_cov=(noise,),
        values=tuple(float(a) for a in Lc) + tuple(float(b) for b in Sc),
        domain=base.domain,
        split_normal=(1.0,),
        split_offset=float(crit[1]),
    )
    return FiniteSampleLoss(base, xs, Lc, Sc, G, pot)


def _columns(fn, xs: np.ndarray) -> np.ndarray:
    """Evaluate a lambdified coefficient list over the samples: (N, n_coefficients)."""
    n = xs.shape[0]
    return np.stack(
        [np.broadcast_to(np.asarray(r, dtype=float), (n,)) for r in fn(xs[:, 0], xs[:, 1])],
        axis=1,
    )


def make_problem(
    base: Potential,
    n: int,
    *,
    shift_sd: float,
    tilt_sd: float,
    seed: int = 0,
) -> FiniteSampleLoss:
    """Draw a training set of N samples and build its finite-sample loss."""
    return finite_sample_loss(base, draw_samples(n, shift_sd=shift_sd, tilt_sd=tilt_sd, seed=seed))


def shifted_test_loss(
    train: FiniteSampleLoss,
    kind: str,
    *,
    shift: float = 0.0,
    shift_sd: float | None = None,
    tilt_sd: float | None = None,
    n_test: int | None = None,
    seed: int = 1,
) -> FiniteSampleLoss:
    """A test loss for ``train`` under a train→test shift.

    ``kind="sampling"``: a fresh draw of ``n_test`` (default N) samples from the training
    distribution (``shift_sd``, ``tilt_sd`` as used for training), with seed ``seed``.
    ``kind="domain"``: the training samples with every translation moved by ``shift``
    (u_i → u_i + δ), so ``L_test(θ) = L_N(θ − δ) + δ·mean(v)`` — a pure shift δ of the
    landscape."""
    choice("kind", kind, SHIFT_KINDS)
    shift = finite("shift", shift)
    if kind == "domain":
        xs = train.samples.copy()
        xs[:, 0] += shift
        return finite_sample_loss(train.base, xs)
    if shift_sd is None or tilt_sd is None:
        raise ParameterError("shift_sd/tilt_sd", None, "are required for kind='sampling'")
    n_test = train.n if n_test is None else integer("n_test", n_test, minimum=1)
    return finite_sample_loss(
        train.base, draw_samples(n_test, shift_sd=shift_sd, tilt_sd=tilt_sd, seed=seed)
    )


def constant_noise_potential(problem: FiniteSampleLoss, sigma2: float | None = None) -> Potential:
    """The same finite-sample loss with the noise replaced by a constant σ² (default:
    Σ_N at the deepest minimum) — the constant-noise density BG21's simplest theory uses,
    to compare with the exact state-dependent one."""
    pot = problem.potential
    if sigma2 is None:
        from .basins import minima

        deepest = min(minima(pot), key=lambda m: m.value)
        sigma2 = float(problem.noise(deepest.location[0]))
    sigma2 = positive("sigma2", sigma2)
    n_noise = len(Bc)
    values = pot.values[: len(A)] + (sigma2,) + (0.0,) * (n_noise - 1)
    return replace(pot, name="finite_sample_1d_constant_noise", values=values)
