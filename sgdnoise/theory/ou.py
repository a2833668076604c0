"""Ornstein–Uhlenbeck covariance of SGD near a minimum (BG21, DESIGN.md §4.1).

Near a minimum θ* with Hessian H, the SDE of SGD (time t = kη, T = η/B, D = (T/2)Σ) is
linear: ``dx = −H x dt + sqrt(T Σ) dW`` with x = θ − θ*.  Its stationary law is Gaussian
with mean 0 and covariance C solving the continuous Lyapunov equation

    H C + C H = T Σ.                                                        (OU)

* 1-D: ``C = T Σ / (2H)``.
* Σ = H (noise shaped like the curvature, as for a well-specified likelihood near its
  optimum, where the Fisher matrix equals the Hessian): ``C = (T/2) I`` — every direction,
  sharp or flat, gets the same spread (BG21).
* Finite learning rate: SGD itself, ``x_{k+1} = (I − ηH) x_k − η g_k`` with cov(g_k) = Σ/B,
  has the stationary covariance solving ``C = (I−ηH) C (I−ηH) + η² Σ/B``, i.e.

      H C + C H − η H C H = T Σ,                                            (SGD)

  which is (OU) plus the O(η) discretization correction; in 1-D ``C = TΣ / (H (2 − ηH))``,
  finite only for ηH < 2 (the linear stability limit of gradient descent).  The ratio to
  (OU), ``2/(2 − ηH)``, measures how far the SDE description is from SGD.

Symbolic results are sympy expressions; numeric functions are made from them (1-D, 2-D) or,
in N-D, solve the same linear equations with scipy.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp
from scipy.linalg import solve_continuous_lyapunov

from ..errors import ParameterError
from ..validation import positive
from .symbolic import numeric

T_, eta_ = sp.symbols("T eta", positive=True)


def _sym_matrix(name: str, d: int) -> sp.Matrix:
    """A symmetric d×d matrix of fresh real symbols ``name_ij`` (i ≤ j)."""
    entries = {}
    for i in range(d):
        for j in range(i, d):
            entries[(i, j)] = entries[(j, i)] = sp.Symbol(f"{name}_{i}{j}", real=True)
    return sp.Matrix(d, d, lambda i, j: entries[(i, j)])


@cache
def lyapunov_symbolic(d: int, lr: bool = False) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix]:
    """Solve (OU) — or (SGD) when ``lr`` — symbolically for a symmetric C in dimension d.

    Returns ``(H, Σ, C)`` with H, Σ symmetric symbol matrices and C in terms of them, T and
    (if ``lr``) η.  The unknown C is symmetric, so d(d+1)/2 linear equations suffice."""
    if d not in (1, 2):
        raise ParameterError("d", d, "symbolic solution offered for d = 1 and 2 (use numeric)")
    H, S, C = _sym_matrix("H", d), _sym_matrix("Sigma", d), _sym_matrix("C", d)
    lhs = H * C + C * H - (eta_ * H * C * H if lr else sp.zeros(d))
    eqs = [lhs[i, j] - T_ * S[i, j] for i in range(d) for j in range(i, d)]
    unknowns = sorted({C[i, j] for i in range(d) for j in range(d)}, key=str)
    sol = sp.solve(eqs, unknowns, dict=True)[0]
    return H, S, C.xreplace({k: sp.factor(v) for k, v in sol.items()})


def isotropic_when_noise_is_curvature(d: int) -> bool:
    """Substitute Σ = H into the symbolic solution and check that sympy reduces C to
    (T/2) I exactly (for any symmetric H making the equations solvable)."""
    H, S, C = lyapunov_symbolic(d)
    sub = {S[i, j]: H[i, j] for i in range(d) for j in range(d)}
    return sp.simplify(C.xreplace(sub) - T_ / 2 * sp.eye(d)) == sp.zeros(d)


@cache
def _numeric_1d(lr: bool):
    H, S, C = lyapunov_symbolic(1, lr)
    args = (H[0, 0], S[0, 0], T_) + ((eta_,) if lr else ())
    return numeric(C[0, 0], args)


def _check_H(H) -> np.ndarray:
    H = np.atleast_2d(np.asarray(H, dtype=float))
    if H.ndim != 2 or H.shape[0] != H.shape[1] or not np.all(np.isfinite(H)):
        raise ParameterError("H", H.tolist(), "must be a finite square matrix")
    if not np.allclose(H, H.T, rtol=1e-10, atol=1e-12):
        raise ParameterError("H", H.tolist(), "must be symmetric (a Hessian)")
    if np.linalg.eigvalsh(H)[0] <= 0:
        raise ParameterError("H", H.tolist(), "must be positive definite (at a minimum)")
    return H


def _check_sigma(sigma, d: int) -> np.ndarray:
    S = np.asarray(sigma, dtype=float)
    if S.ndim < 2:
        S = np.diag(np.broadcast_to(S, (d,)))
    if S.shape != (d, d) or not np.all(np.isfinite(S)):
        raise ParameterError("sigma", S.tolist(), f"must be finite, shape ({d}, {d})")
    if not np.allclose(S, S.T, rtol=1e-10, atol=1e-12) or np.linalg.eigvalsh(S)[0] < -1e-12:
        raise ParameterError("sigma", S.tolist(), "must be symmetric positive semi-definite")
    return S


def ou_covariance(H, sigma, T: float) -> np.ndarray:
    """Stationary covariance C of the OU process near a minimum: ``HC + CH = TΣ``.

    ``H``: Hessian (scalar or d×d, symmetric positive definite); ``sigma``: per-sample
    gradient covariance (scalar, diagonal vector or d×d).  1-D uses the sympy solution;
    N-D scipy's Bartels–Stewart solver."""
    T = positive("T", T)
    H = _check_H(H)
    S = _check_sigma(sigma, H.shape[0])
    if H.shape[0] == 1:
        return np.array([[float(_numeric_1d(False)(H[0, 0], S[0, 0], T))]])
    C = solve_continuous_lyapunov(H, T * S)
    return (C + C.T) / 2


def sgd_covariance(H, sigma, T: float, lr: float) -> np.ndarray:
    """Stationary covariance of SGD itself (finite η) near a minimum: ``HC + CH − ηHCH = TΣ``.

    Raises when ``lr`` is at or beyond the linear stability limit 2/λ_max(H)."""
    T = positive("T", T)
    lr = positive("lr", lr)
    H = _check_H(H)
    S = _check_sigma(sigma, H.shape[0])
    lam = np.linalg.eigvalsh(H)[-1]
    if lr * lam >= 2:
        raise ParameterError("lr", lr, f"must be < 2/lambda_max(H) = {2 / lam:.6g} (stability)")
    d = H.shape[0]
    if d == 1:
        return np.array([[float(_numeric_1d(True)(H[0, 0], S[0, 0], T, lr))]])
    eye = np.eye(d)
    # vec(HC + CH − ηHCH) = (I⊗H + H⊗I − η H⊗H) vec(C)  (H symmetric)
    A = np.kron(eye, H) + np.kron(H, eye) - lr * np.kron(H, H)
    C = np.linalg.solve(A, T * S.reshape(-1)).reshape(d, d)
    return (C + C.T) / 2
