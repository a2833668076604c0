"""Finite-sum test problems for the UI25 bound, defined once symbolically.

A :class:`FiniteSumProblem` is a per-sample loss ℓ(θ; z, p) (sympy, θ ∈ R^D the weights, z
one data point, p constants) plus a numeric data set z_1 … z_N, so f(θ) = (1/N) Σ_n ℓ(θ; z_n).
The simulator (:func:`sgdnoise.simulate.sgd.sgd`) compiles exactly ``grad`` (the sympy
gradient of ``loss``); the numbers the bound needs are computed here from the problem,
never assumed:

* ``L``: a global smoothness constant, λ_max of a bound on the Hessian of f;
* ``sigma2``: a bound on the per-sample gradient variance (1/N) Σ_n ‖∇ℓ_n(θ) − ∇f(θ)‖² valid
  for every θ (so a minibatch of b samples drawn with replacement has
  E‖g − ∇f‖² ≤ σ²/b, the assumption of the UI25 bound);
* ``f_star``: the minimum of f.

Problems
--------
``noisy_quadratic``: ℓ(θ; c) = ½ Σ_i h_i (θ_i − c_i)², centres c_n ~ N(μ, s² I).  f has Hessian
diag(h), so L = max h exactly; the per-sample gradient deviation H(c̄ − c_n) does not
depend on θ, so σ² = (1/N) Σ ‖H(c_n − c̄)‖² is the exact variance everywhere; f* = f(c̄).
``n_samples=1`` (or s = 0) gives the noise-free quadratic (gradient descent).

``logistic``: ℓ(θ; x, y) = log(1 + exp(−y θ·x)) + (λ/2)‖θ‖², y = ±1.  Hessian
(1/N) Σ s_n(1−s_n) x_n x_nᵀ + λI ≼ XᵀX/(4N) + λI, so L = λ_max(XᵀX)/(4N) + λ.  The
deviation of ∇ℓ_n is a_n − ā with a_n = −y_n x_n σ(−y_n θ·x_n), |σ| < 1, hence
Var ≤ (1/N) Σ ‖a_n‖² ≤ (1/N) Σ ‖x_n‖² =: σ² for every θ.  f* by Newton's method
(f is λ-strongly convex).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy as sp

from ..validation import integer, nonnegative, positive
from .symbolic import numeric


@dataclass(frozen=True, eq=False)
class FiniteSumProblem:
    """f(θ) = mean_n ℓ(θ; z_n, p) with its smoothness L, variance bound σ² and minimum f*."""

    name: str
    theta: tuple[sp.Symbol, ...]
    datum: tuple[sp.Symbol, ...]
    params: tuple[sp.Symbol, ...]
    loss: sp.Expr
    data: np.ndarray
    values: np.ndarray
    theta0: np.ndarray
    L: float
    sigma2: float
    f_star: float
    theta_star: np.ndarray
    notes: str = field(default="")

    @property
    def dim(self) -> int:
        return len(self.theta)

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[0])

    # the finite-sum protocol the SGD simulator reads (shared with theory.sample_loss)
    @property
    def coords(self) -> tuple[sp.Symbol, ...]:
        return self.theta

    @property
    def sample_vars(self) -> tuple[sp.Symbol, ...]:
        return self.datum

    @property
    def samples(self) -> np.ndarray:
        return self.data

    @property
    def param_vector(self) -> np.ndarray:
        return np.asarray(self.values, dtype=float)

    @property
    def grad_exprs(self) -> tuple[sp.Expr, ...]:
        return self.grad

    @cached_property
    def grad(self) -> tuple[sp.Expr, ...]:
        """∇_θ ℓ, simplified (for the logistic loss this is the overflow-safe
        −y x / (1 + exp(y θ·x)) + λθ).  Each additive term of the loss is simplified on its
        own so that the ridge term is never put over the logistic denominator."""
        terms = sp.Add.make_args(self.loss)
        return tuple(sp.Add(*[sp.simplify(sp.diff(a, t)) for a in terms]) for t in self.theta)

    @cached_property
    def _loss_fn(self):
        return numeric(self.loss, (*self.theta, *self.datum, *self.params))

    @cached_property
    def _grad_fn(self):
        return numeric(sp.Matrix(self.grad), (*self.theta, *self.datum, *self.params))

    def f(self, theta) -> float:
        """f(θ) = (1/N) Σ_n ℓ(θ; z_n)."""
        th = np.asarray(theta, dtype=float)
        vals = self._loss_fn(*th, *self.data.T, *self.values)
        return float(np.mean(np.broadcast_to(vals, (self.n_samples,))))

    def sample_grads(self, theta) -> np.ndarray:
        """Per-sample gradients, shape (N, D)."""
        th = np.asarray(theta, dtype=float)
        g = self._grad_fn(*th, *self.data.T, *self.values)  # (D, 1, N) or (D, 1)
        g = np.asarray(g, dtype=float).reshape(self.dim, -1)
        return np.broadcast_to(g, (self.dim, self.n_samples)).T.copy()

    def full_grad(self, theta) -> np.ndarray:
        return self.sample_grads(theta).mean(axis=0)

    def grad_variance(self, theta) -> float:
        """(1/N) Σ_n ‖∇ℓ_n(θ) − ∇f(θ)‖²: the per-sample gradient variance at θ."""
        g = self.sample_grads(theta)
        return float(np.mean(np.sum((g - g.mean(axis=0)) ** 2, axis=1)))

    @property
    def gap(self) -> float:
        """f(θ0) − f*."""
        return self.f(self.theta0) - self.f_star


def noisy_quadratic(
    curvatures=(1.0, 0.5, 0.25, 0.1),
    n_samples: int = 256,
    noise: float = 1.0,
    theta0: float = 3.0,
    seed: int = 0,
) -> FiniteSumProblem:
    """ℓ(θ; c) = ½ Σ h_i (θ_i − c_i)² with N centres c_n ~ N(0, noise² I) (see module doc)."""
    h = np.asarray([positive("curvatures", v) for v in curvatures], dtype=float)
    n = integer("n_samples", n_samples, minimum=1)
    noise = nonnegative("noise", noise)
    seed = integer("seed", seed, minimum=0)
    d = h.shape[0]
    th = sp.symbols(f"theta0:{d}", real=True)
    c = sp.symbols(f"c0:{d}", real=True)
    hs = sp.symbols(f"h0:{d}", positive=True)
    loss = sum(hs[i] * (th[i] - c[i]) ** 2 for i in range(d)) / 2
    rng = np.random.default_rng(seed)
    data = noise * rng.standard_normal((n, d)) if n > 1 else np.zeros((1, d))
    cbar = data.mean(axis=0)
    sigma2 = float(np.mean(np.sum((h * (data - cbar)) ** 2, axis=1)))
    f_star = 0.5 * float(np.mean(np.sum(h * (data - cbar) ** 2, axis=1)))
    return FiniteSumProblem(
        name="noisy quadratic" if n > 1 and noise > 0 else "noise-free quadratic",
        theta=th,
        datum=c,
        params=hs,
        loss=loss,
        data=np.ascontiguousarray(data),
        values=h,
        theta0=np.full(d, float(theta0)),
        L=float(h.max()),
        sigma2=sigma2,
        f_star=f_star,
        theta_star=cbar,
        notes="L = max h (exact); sigma2 = exact per-sample gradient variance (constant in θ)",
    )


def logistic(
    dim: int = 4,
    n_samples: int = 256,
    ridge: float = 0.05,
    label_noise: float = 0.1,
    theta0: float = 2.0,
    seed: int = 0,
) -> FiniteSumProblem:
    """Ridge logistic regression on N Gaussian points with labels from a planted direction,
    each flipped with probability ``label_noise`` (see module doc for L, σ², f*)."""
    d = integer("dim", dim, minimum=1)
    n = integer("n_samples", n_samples, minimum=2)
    lam = positive("ridge", ridge)
    q = nonnegative("label_noise", label_noise)
    seed = integer("seed", seed, minimum=0)
    th = sp.symbols(f"theta0:{d}", real=True)
    xs = sp.symbols(f"x0:{d}", real=True)
    y = sp.Symbol("y", real=True)
    lam_s = sp.Symbol("lam", positive=True)
    margin = y * sum(a * b for a, b in zip(th, xs))
    loss = sp.log(1 + sp.exp(-margin)) + lam_s / 2 * sum(t**2 for t in th)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = np.ones(d) / np.sqrt(d)
    yv = np.sign(X @ w + 1e-12)
    yv[rng.random(n) < q] *= -1
    data = np.ascontiguousarray(np.column_stack([X, yv]))
    L = float(np.linalg.eigvalsh(X.T @ X / (4 * n)).max()) + lam
    sigma2 = float(np.mean(np.sum(X**2, axis=1)))
    theta_star, f_star = _newton_logistic(X, yv, lam)
    prob = FiniteSumProblem(
        name="logistic regression",
        theta=th,
        datum=(*xs, y),
        params=(lam_s,),
        loss=loss,
        data=data,
        values=np.asarray([lam]),
        theta0=np.full(d, float(theta0)),
        L=L,
        sigma2=sigma2,
        f_star=f_star,
        theta_star=theta_star,
        notes="L = λmax(XᵀX)/(4N) + λ (Hessian bound); sigma2 = mean ‖x_n‖² (bound for all θ)",
    )
    return prob


def _newton_logistic(X, y, lam, tol=1e-13, max_iter=100):
    """Minimize the ridge-logistic f by damped Newton (f is λ-strongly convex)."""
    n, d = X.shape

    def f(w):
        return float(np.mean(np.logaddexp(0.0, -y * (X @ w))) + 0.5 * lam * w @ w)

    w = np.zeros(d)
    for _ in range(max_iter):
        s = 1.0 / (1.0 + np.exp(y * (X @ w)))  # σ(−m)
        g = -(X * (y * s)[:, None]).mean(axis=0) + lam * w
        if np.linalg.norm(g) < tol:
            break
        Hm = (X * (s * (1 - s))[:, None]).T @ X / n + lam * np.eye(d)
        step = np.linalg.solve(Hm, g)
        t = 1.0
        while f(w - t * step) > f(w) - 0.25 * t * g @ step and t > 1e-10:
            t *= 0.5
        w = w - t * step
    return w, f(w)
