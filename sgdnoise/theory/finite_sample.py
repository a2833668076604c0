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
from .potentials import Potential, theta  # noqa: F401  (fs.theta: the family's coordinate)
from .sample_loss import SampleLoss, _build, critical_points, polynomial_template

#: per-sample variables ξ = (u, v): translation and tilt
u, v = sp.symbols("u v", real=True)
SAMPLE_VARS = (u, v)
s_sd, tau_sd, delta = sp.symbols("s tau delta", real=True)

LOSS_DEGREE = 6
A, Bc, _, _ = polynomial_template(LOSS_DEGREE)
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


@dataclass(frozen=True, eq=False)
class FiniteSampleLoss(SampleLoss):
    """``L_N`` of a drawn training (or test) set of the translation + tilt family and its
    exact noise ``Σ_N``: a :class:`~.sample_loss.SampleLoss` with ℓ = L(θ − u; p) + vθ.

    ``potential``: the polynomial Potential ``(L_N, Σ_N)`` — use it with the Fokker–Planck
    and basin tools; ``samples``: the (N, 2) array of ξ_i = (u_i, v_i);
    ``grad_coeffs``: (N, 6) per-sample θ-coefficients of ∂ℓ_i/∂θ (ascending powers);
    ``base``: the family's Potential L(θ; p)."""

    base: Potential | None = None


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

    The family keeps BG21's shape, two minima and a barrier (its Potential's split is the
    barrier); a loss with other shapes is a :func:`~.sample_loss.sample_loss`.

    Raises :class:`ParameterError` when the samples do not leave two minima in the domain."""
    _check_base(base)
    xs = np.asarray(samples, dtype=float)
    if xs.ndim != 2 or xs.shape[1] != 2 or xs.shape[0] < 1:
        raise ParameterError("samples", xs.shape, "must have shape (N, 2) with N >= 1")
    if not np.all(np.isfinite(xs)):
        raise ParameterError("samples", "non-finite", "must be finite")
    (c,) = base.coords
    lo, hi = base.domain[0]
    prob = _build(
        "finite_sample_1d",
        per_sample_loss(base),
        (c,),
        SAMPLE_VARS,
        tuple(base.params),
        tuple(base.values),
        np.ascontiguousarray(xs),
        base.domain,
        FiniteSampleLoss,
        extra={"base": base},
        degree=LOSS_DEGREE,
        param="samples",
    )
    crit = critical_points(prob.loss_coeffs, lo, hi)
    if crit.size != 3:
        raise ParameterError(
            "samples",
            f"N={xs.shape[0]}",
            f"give a finite-sample loss with {crit.size} critical points in {base.domain[0]},"
            " not two minima and a barrier (smaller shift_sd/tilt_sd or larger N; for other"
            " shapes build your own loss with sgdnoise.theory.sample_loss.sample_loss)",
        )
    return prob


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


def constant_noise_potential(problem: SampleLoss, sigma2: float | None = None) -> Potential:
    """The same finite-sample loss with the noise replaced by a constant σ² (default:
    Σ_N at the deepest minimum) — the constant-noise density BG21's simplest theory uses,
    to compare with the exact state-dependent one."""
    pot = problem.potential
    if sigma2 is None:
        from .basins import minima

        deepest = min(minima(pot), key=lambda m: m.value)
        sigma2 = float(problem.noise(deepest.location[0]))
    sigma2 = positive("sigma2", sigma2)
    n_loss = len(problem.loss_coeffs)
    n_noise = len(problem.noise_coeffs)
    values = pot.values[:n_loss] + (sigma2,) + (0.0,) * (n_noise - 1)
    return replace(pot, name="finite_sample_1d_constant_noise", values=values)
