"""Top eigenvalues of a symmetric operator given only ``v ↦ A v``: Lanczos with a-posteriori
error bounds, power iteration, and ARPACK (scipy ``eigsh``).

Lanczos (Golub & Van Loan, *Matrix Computations*, 4th ed., §10.1) with full
reorthogonalization builds an orthonormal basis ``Q_j`` of the Krylov space
``span{q, Aq, …, A^{j−1}q}`` and the tridiagonal ``T_j = Q_jᵀ A Q_j``; its eigenpairs
``(θ_i, s_i)`` give Ritz pairs ``(θ_i, Q_j s_i)`` whose residual norm is exactly
``r_i = β_j |e_jᵀ s_i|`` (no extra product needed).

**Error bounds** (Parlett, *The Symmetric Eigenvalue Problem*, 1998, Thm 4.5.1 and §11.7):

* residual bound (Krylov–Bogoliubov): some eigenvalue λ of A lies in ``[θ_i − r_i, θ_i + r_i]``;
* gap bound (Kato–Temple): if the nearest *other* eigenvalue is at distance ``≥ δ_i > r_i``
  from θ_i, then ``|λ − θ_i| ≤ r_i² / δ_i``.  The gap is estimated from the other Ritz values
  and their residual intervals, ``δ_i = min_{j≠i} (|θ_i − θ_j| − r_j)``, which is Parlett's
  practice; it can be optimistic only while an eigenvalue of A is not yet seen by the Krylov
  space at all (the same blind spot every Krylov method has).

The reported ``bound`` is ``r_i`` (``bound="residual"``, the default) or ``min(r_i,
r_i²/δ_i)`` (``bound="gap"``), floored at ``2 ε ‖T‖`` (the working precision; the rounding of
the products themselves is not included, so in float32 a tolerance under ~1e-6 is not
reachable).  The error of a Ritz value shrinks like ``r²`` while ``r`` shrinks only linearly,
so stopping on the gap bound saves products (median 6 against 8.5 at tol 1e-3 on
outlier-plus-bulk spectra), but it is optimistic while a close pair of eigenvalues is
unresolved: on 120 random spectra at tol 1e-3 it under-stated the error at the stop in 27
runs (18 of the 30 with a top pair within 10%, errors up to 3%), the residual bound in 2
(both an isolated top eigenvalue not yet seen by the Krylov space; none at tol 1e-6).

Which eigenvalue the top Ritz value approximates: θ₁ ≤ λmax always (Cauchy interlacing, θ₁ is
a Rayleigh quotient), and from a random start vector θ₁ → λmax unless the start is
(improbably) nearly orthogonal to the top eigenvector (Kuczyński & Woźniakowski, SIAM J.
Matrix Anal. Appl. 13, 1992).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
import torch

from ..errors import ParameterError
from ..validation import choice, integer, positive

BOUNDS = ("residual", "gap")


@dataclass
class Spectrum:
    """Top eigenvalues (descending) with their a-posteriori error bounds (absolute; Lanczos
    only, NaN otherwise), the number of operator products spent, and the history of the
    largest estimate (and its bound) after each product.

    ``value``/``bound`` are the top eigenvalue and its bound: ``|λmax − value| ≤ bound``."""

    eigenvalues: np.ndarray
    n_products: int
    method: str
    converged: bool
    history: list[float] = field(default_factory=list)
    eigenvectors: torch.Tensor | None = None
    bounds: np.ndarray | None = None
    residuals: np.ndarray | None = None
    bound_history: list[float] = field(default_factory=list)

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues[0])

    @property
    def value(self) -> float:
        return self.lambda_max

    @property
    def bound(self) -> float:
        return float("nan") if self.bounds is None else float(self.bounds[0])

    def __repr__(self) -> str:
        return (
            f"Spectrum(value={self.value:.6g}, bound={self.bound:.2g}, "
            f"n_products={self.n_products}, converged={self.converged}, method={self.method!r})"
        )


def start_vector(n, seed, dtype, device):
    """A unit vector with i.i.d. Gaussian entries from ``seed`` (drawn in float64 on the CPU so
    that every dtype and device start from the same direction)."""
    g = torch.Generator().manual_seed(int(seed))
    v = torch.randn(n, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
    return v / torch.linalg.vector_norm(v)


def ritz_bounds(
    theta: np.ndarray, resid: np.ndarray, scale: float, eps: float, kind: str = "residual"
) -> np.ndarray:
    """Error bound of each Ritz value (module docstring): ``r_i`` for ``kind="residual"``,
    ``min(r_i, r_i²/δ_i)`` for ``kind="gap"`` (``δ_i`` from the other Ritz values' residual
    intervals), floored at ``2 ε scale``."""
    theta, resid = np.asarray(theta, float), np.asarray(resid, float)
    out = resid.copy()
    if kind == "gap" and len(theta) > 1:
        dist = np.abs(theta[:, None] - theta[None, :]) - resid[None, :]
        np.fill_diagonal(dist, np.inf)
        gap = dist.min(axis=1)
        ok = gap > resid
        out[ok] = np.minimum(resid[ok], resid[ok] ** 2 / gap[ok])
    return np.maximum(out, 2 * eps * scale)


def krylov_tridiagonal(matvec, q0: torch.Tensor, m: int, *, stop=None):
    """``m`` Lanczos steps from the unit vector ``q0`` with full reorthogonalization (classical
    Gram–Schmidt twice: keeps the basis orthonormal to working precision, so no spurious
    copies of converged Ritz values).  ``stop(alphas, betas, b, Q)`` may end early after each
    step.  Returns ``(alphas, betas, b_last, Q)``; ``betas`` has one entry less than
    ``alphas``; stops at once on an invariant subspace (``b_last ≈ 0``: the Ritz values are
    then exact)."""
    n = q0.numel()
    Q = torch.zeros(m + 1, n, dtype=q0.dtype, device=q0.device)
    Q[0] = q0
    alphas: list[float] = []
    betas: list[float] = []
    b = 0.0
    for j in range(m):
        w = matvec(Q[j]).to(q0.dtype)
        a = float(torch.dot(w, Q[j]))
        alphas.append(a)
        for _ in range(2):
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        b = float(torch.linalg.vector_norm(w))
        if stop is not None and stop(alphas, betas, b):
            break
        if b <= 1e-12 * max(abs(a), max(map(abs, alphas)), 1e-300):
            break
        if j + 1 < m:
            betas.append(b)
            Q[j + 1] = w / b
    return alphas, betas, b, Q[: len(alphas)]


def lanczos(
    matvec,
    n: int,
    *,
    k: int = 1,
    max_iter: int = 100,
    tol: float = 1e-6,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    vectors: bool = False,
    bound: str = "residual",
    v0: torch.Tensor | None = None,
) -> Spectrum:
    """The k largest (algebraic) eigenvalues of the symmetric operator ``matvec`` on R^n with
    a-posteriori error bounds.

    Stops when the top k Ritz values all satisfy ``bound_i ≤ tol · |θ_i|`` (relative error
    bound; module docstring), or the Krylov space is exhausted (then the Ritz values are exact
    and ``converged`` is True).  ``history[j]``/``bound_history[j]`` are the top Ritz value
    and its bound after ``j + 1`` products.  ``v0``: the start vector (default: Gaussian from
    ``seed``).
    """
    k = integer("k", k, minimum=1, maximum=n)
    max_iter = integer("max_iter", max_iter, minimum=1)
    tol = positive("tol", tol)
    seed = integer("seed", seed, minimum=0)
    choice("bound", bound, BOUNDS)
    m = min(max_iter, n)
    eps = float(torch.finfo(dtype).eps)
    state: dict = {"history": [], "bound_history": [], "converged": False}

    def ritz(alphas, betas, b):
        theta, s = scipy.linalg.eigh_tridiagonal(np.array(alphas), np.array(betas))
        resid = b * np.abs(s[-1, :])
        scale = float(np.max(np.abs(theta)))
        return theta, s, resid, ritz_bounds(theta, resid, scale, eps, bound)

    def stop(alphas, betas, b):
        theta, s, resid, bnd = ritz(alphas, betas, b)
        state.update(theta=theta, s=s, resid=resid, bnd=bnd)
        state["history"].append(float(theta[-1]))
        state["bound_history"].append(float(bnd[-1]))
        kk = min(k, len(theta))
        done = kk == k and bool(np.all(bnd[-kk:] <= tol * np.abs(theta[-kk:])))
        state["converged"] = done
        return done

    if v0 is None:
        q0 = start_vector(n, seed, dtype, device)
    else:
        q0 = torch.as_tensor(v0).to(device=device, dtype=dtype).reshape(-1)
        norm = torch.linalg.vector_norm(q0)
        if q0.numel() != n or not bool(torch.isfinite(norm)) or float(norm) == 0:
            raise ParameterError(
                "v0", f"shape {tuple(q0.shape)}", f"must be a finite nonzero {n}-vector"
            )
        q0 = q0 / norm
    alphas, betas, b, Q = krylov_tridiagonal(matvec, q0, m, stop=stop)
    theta, s, resid, bnd = state["theta"], state["s"], state["resid"], state["bnd"]
    converged = state["converged"]
    if not converged and (len(alphas) == n or b <= 1e-12 * max(np.max(np.abs(theta)), 1e-300)):
        converged = len(theta) >= k  # invariant subspace: the Ritz values are exact
    order = np.argsort(theta)[::-1][:k]
    evecs = None
    if vectors:
        evecs = Q.T @ torch.as_tensor(s[:, order], dtype=dtype, device=device)
    return Spectrum(
        theta[order],
        len(alphas),
        "lanczos",
        converged,
        state["history"],
        evecs,
        bnd[order],
        resid[order],
        state["bound_history"],
    )


def power_iteration(
    matvec,
    n: int,
    *,
    max_iter: int = 1000,
    tol: float = 1e-6,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> Spectrum:
    """Largest-magnitude eigenvalue by power iteration with the Rayleigh quotient; stops when
    successive estimates differ by ≤ tol (relative).  ``history[j]`` after ``j + 1`` products.
    Its ``bounds`` hold the residual bound ``‖Av − θv‖`` of the last iterate (Krylov–Bogoliubov:
    *some* eigenvalue lies within it)."""
    max_iter = integer("max_iter", max_iter, minimum=1)
    tol = positive("tol", tol)
    seed = integer("seed", seed, minimum=0)
    v = start_vector(n, seed, dtype, device)
    lam, history, converged, resid = float("nan"), [], False, float("nan")
    for _ in range(max_iter):
        w = matvec(v).to(dtype)
        new = float(torch.dot(v, w))
        history.append(new)
        resid = float(torch.linalg.vector_norm(w - new * v))
        norm = torch.linalg.vector_norm(w)
        if norm == 0:
            lam, converged = 0.0, True
            break
        v = w / norm
        if abs(new - lam) <= tol * abs(new):
            lam, converged = new, True
            break
        lam = new
    return Spectrum(
        np.array([lam]),
        len(history),
        "power",
        converged,
        history,
        v[:, None],
        np.array([resid]),
        np.array([resid]),
    )


def eigsh_top(
    matvec, n: int, *, k: int = 1, tol: float = 1e-6, max_iter: int | None = None, seed: int = 0
) -> Spectrum:
    """Top k eigenvalues by ARPACK (scipy ``eigsh``, ``which="LA"``) on a LinearOperator over
    float64 numpy vectors (no error bounds returned: ARPACK stops on its own residual test)."""
    k = integer("k", k, minimum=1, maximum=max(n - 1, 1))
    tol = positive("tol", tol)
    seed = integer("seed", seed, minimum=0)
    count = [0]

    def mv(v):
        count[0] += 1
        t = torch.as_tensor(np.asarray(v).ravel(), dtype=torch.float64)
        return matvec(t).detach().to("cpu", torch.float64).numpy()

    op = scipy.sparse.linalg.LinearOperator((n, n), matvec=mv, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(n)
    vals = scipy.sparse.linalg.eigsh(
        op, k=k, which="LA", tol=tol, v0=v0, maxiter=max_iter, return_eigenvectors=False
    )
    return Spectrum(np.sort(vals)[::-1], count[0], "eigsh", True)
