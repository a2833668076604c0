"""Hessian of the training loss: exact Hessian-vector products, Lanczos and power iteration.

``H = ∇²L(w)`` with ``L = (1/N) Σ_i ℓ_i`` over a fixed set of points (KCL23 use 1000 training
points).  Products ``Hv`` come from double backward — ``∇_w (∇_w L · v)`` — accumulated over
chunks of the training batch size in measurement mode (batch norm in train mode, dropout
off; :func:`~sgdnoise.nets.metrics.measurement_mode`), so the measured curvature is that of
the loss SGD descends.  Each call of :meth:`HessianOperator.matvec` counts as one HVP.

λmax and the top k eigenvalues: Lanczos with full reorthogonalization (Golub & Van Loan
§10.1; exact arithmetic ⇒ the Ritz values of the k-step Krylov space), or scipy's ``eigsh``
(implicitly restarted Lanczos, ARPACK) on a ``LinearOperator``; the power iteration is the
baseline (it converges at rate |λ₂/λ₁| per product and finds the eigenvalue of largest
*magnitude*, which is λmax at the minima of interest where negative curvature is small).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
import torch
from torch import nn

from ..errors import ParameterError
from ..validation import choice, integer, positive
from .losses import make_loss
from .metrics import chunks, measurement_mode, trainable

METHODS = ("lanczos", "eigsh", "power")


class HessianOperator:
    """``v ↦ H v`` for the mean training loss of ``model`` on ``(x, y)``, on flat vectors of
    all trainable parameters (dtype and device of the parameters)."""

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        loss: str = "cross_entropy",
        alpha: float = 1.0,
        chunk_size: int | None = None,
    ):
        self.model, self.x, self.y = model, x, y
        self.loss = make_loss(loss, alpha=alpha)
        self.chunk_size = (
            None if chunk_size is None else integer("chunk_size", chunk_size, minimum=1)
        )
        self.params = [p for _, p in trainable(model)]
        self.shapes = [p.shape for p in self.params]
        self.sizes = [p.numel() for p in self.params]
        self.n = sum(self.sizes)
        self.dtype, self.device = self.params[0].dtype, self.params[0].device
        self.n_products = 0

    def _split(self, v: torch.Tensor) -> list[torch.Tensor]:
        return [t.view(s) for t, s in zip(torch.split(v, self.sizes), self.shapes)]

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``H v`` (one Hessian-vector product, however many chunks it takes)."""
        v = v.to(self.dtype)
        vs = self._split(v)
        out = torch.zeros(self.n, dtype=self.dtype, device=self.device)
        n = len(self.x)
        with measurement_mode(self.model):
            for s in chunks(n, self.chunk_size):
                part = self.loss(self.model(self.x[s]), self.y[s]).sum() / n
                grads = torch.autograd.grad(part, self.params, create_graph=True)
                dot = sum((g * u).sum() for g, u in zip(grads, vs))
                hv = torch.autograd.grad(dot, self.params)
                out += torch.cat([h.reshape(-1) for h in hv])
        self.n_products += 1
        return out

    def dense(self) -> torch.Tensor:
        """The full n × n Hessian from n products with the unit vectors (tiny nets only)."""
        eye = torch.eye(self.n, dtype=self.dtype, device=self.device)
        return torch.stack([self.matvec(e) for e in eye], dim=1)


@dataclass
class Spectrum:
    """Top eigenvalues (descending) with the number of HVPs spent and the history of the
    largest estimate after each product (for convergence studies)."""

    eigenvalues: np.ndarray
    n_products: int
    method: str
    converged: bool
    history: list[float] = field(default_factory=list)
    eigenvectors: torch.Tensor | None = None

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues[0])


def _start_vector(n, seed, dtype, device):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
    return v / torch.linalg.vector_norm(v)


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
) -> Spectrum:
    """The k largest (algebraic) eigenvalues of the symmetric operator ``matvec`` on R^n.

    Lanczos with full reorthogonalization (twice, classical Gram–Schmidt) of each new vector
    against the whole basis, which keeps the basis orthonormal to working precision and rules
    out spurious copies of converged Ritz values.  Stops when the residual bound
    ``β_j |e_jᵀ s_i| ≤ tol · |θ_i|`` holds for the top k Ritz pairs (θ_i, s_i) or the Krylov
    space is exhausted.  ``history[j]`` is the top Ritz value after ``j + 1`` products.
    """
    k = integer("k", k, minimum=1, maximum=n)
    max_iter = integer("max_iter", max_iter, minimum=1)
    tol = positive("tol", tol)
    m = min(max_iter, n)
    Q = torch.zeros(m + 1, n, dtype=dtype, device=device)
    Q[0] = _start_vector(n, seed, dtype, device)
    alphas, betas, history = [], [], []
    converged = False
    theta = s = None
    for j in range(m):
        w = matvec(Q[j]).to(dtype)
        a = float(torch.dot(w, Q[j]))
        alphas.append(a)
        for _ in range(2):
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        b = float(torch.linalg.vector_norm(w))
        theta, s = scipy.linalg.eigh_tridiagonal(np.array(alphas), np.array(betas))
        history.append(float(theta[-1]))
        kk = min(k, j + 1)
        resid = b * np.abs(s[-1, -kk:])
        if kk == k and np.all(resid <= tol * np.abs(theta[-kk:])):
            converged = True
            break
        if b <= 1e-12 * max(abs(a), 1.0):  # invariant subspace: the Ritz values are exact
            converged = kk == k
            break
        betas.append(b)
        Q[j + 1] = w / b
    order = np.argsort(theta)[::-1][:k]
    evecs = None
    if vectors:
        basis = Q[: len(alphas)]
        evecs = basis.T @ torch.as_tensor(s[:, order], dtype=dtype, device=device)
    return Spectrum(theta[order], len(alphas), "lanczos", converged, history, evecs)


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
    successive estimates differ by ≤ tol (relative).  ``history[j]`` after ``j + 1`` products."""
    max_iter = integer("max_iter", max_iter, minimum=1)
    tol = positive("tol", tol)
    v = _start_vector(n, seed, dtype, device)
    lam, history, converged = float("nan"), [], False
    for _ in range(max_iter):
        w = matvec(v).to(dtype)
        new = float(torch.dot(v, w))
        history.append(new)
        norm = torch.linalg.vector_norm(w)
        if norm == 0:
            lam, converged = 0.0, True
            break
        v = w / norm
        if abs(new - lam) <= tol * abs(new):
            lam, converged = new, True
            break
        lam = new
    return Spectrum(np.array([lam]), len(history), "power", converged, history, v[:, None])


def eigsh_top(
    matvec, n: int, *, k: int = 1, tol: float = 1e-6, max_iter: int | None = None, seed: int = 0
) -> Spectrum:
    """Top k eigenvalues by ARPACK (scipy ``eigsh``, ``which="LA"``) on a LinearOperator over
    float64 numpy vectors."""
    k = integer("k", k, minimum=1, maximum=max(n - 1, 1))
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


def hessian_top_eigenvalues(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str = "cross_entropy",
    alpha: float = 1.0,
    chunk_size: int | None = None,
    k: int = 1,
    method: str = "lanczos",
    tol: float = 1e-6,
    max_iter: int = 100,
    seed: int = 0,
) -> Spectrum:
    """Top-k Hessian eigenvalues of the mean loss on ``(x, y)`` (``method``: ``lanczos`` |
    ``eigsh`` | ``power``; power iteration gives k = 1 only)."""
    choice("method", method, METHODS)
    op = HessianOperator(model, x, y, loss=loss, alpha=alpha, chunk_size=chunk_size)
    if method == "power":
        if k != 1:
            raise ParameterError("k", k, "power iteration gives only the top eigenvalue (k=1)")
        return power_iteration(
            op.matvec, op.n, max_iter=max_iter, tol=tol, seed=seed, dtype=op.dtype, device=op.device
        )
    if method == "eigsh":

        def mv(v):
            return op.matvec(v.to(op.device))

        return eigsh_top(mv, op.n, k=k, tol=tol, max_iter=max_iter * op.n, seed=seed)
    # float64 Lanczos coefficients; the basis lives on the parameters' device.
    return lanczos(
        op.matvec,
        op.n,
        k=k,
        max_iter=max_iter,
        tol=tol,
        seed=seed,
        dtype=op.dtype,
        device=op.device,
    )


def lambda_max(model, x, y, **kwargs) -> float:
    """λmax of the training-loss Hessian (Lanczos unless ``method`` says otherwise)."""
    return hessian_top_eigenvalues(model, x, y, **kwargs).lambda_max
