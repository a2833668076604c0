"""Hessian trace (Hutchinson) and spectral density (stochastic Lanczos quadrature).

**Trace** (Hutchinson 1990; Avron & Toledo, J. ACM 58, 2011): for probes ``z`` with
i.i.d. Rademacher entries, ``E[zᵀHz] = tr H`` and ``Var[zᵀHz] = 2 Σ_{i≠j} H_ij²``; the
estimate is the mean of ``zᵀHz`` over probes, its standard error the sample standard
deviation over ``√(probes)``.  Sampling stops once the standard error is ≤ ``tol`` · |mean|
(after ``min_probes``) or at ``max_probes``.

**Spectral density** (Ubaru, Chen & Saad, SIAM J. Matrix Anal. Appl. 38, 2017; Ghorbani,
Krishnan & Xiao, ICML 2019; Lin, Saad & Yang, SIAM Rev. 58, 2016): the spectral measure
``μ = (1/n) Σ_i δ_{λ_i}`` satisfies ``∫ f dμ = tr f(H)/n = E[vᵀ f(H) v]`` for probes
``v = z/√n``.  ``m`` Lanczos steps from ``v`` give ``T_m = S Θ Sᵀ``, and Gauss quadrature
``vᵀ f(H) v ≈ Σ_k τ_k² f(θ_k)`` with ``τ_k = S_{1k}`` — exact for polynomials of degree
≤ 2m − 1.  The density is the probe average of ``Σ_k τ_k² δ_{θ_k}``, smoothed by a Gaussian of
width σ for display.  Each probe's quadrature is an unbiased-in-expectation estimate of the
moments ``tr Hᵖ / n`` (p ≤ 2m − 1), whose spread over probes gives their standard errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch
from torch import nn

from ..validation import choice, integer, positive
from .hessian import HessianOperator
from .hessian_lanczos import krylov_tridiagonal

TRACE_METHODS = ("hutchinson", "hutch++")


@dataclass
class TraceEstimate:
    """Hutchinson's estimate of ``tr H``: ``value ± standard_error`` from ``samples``
    (one ``zᵀHz`` per probe); ``converged``: the relative standard error reached ``tol``."""

    value: float
    standard_error: float
    n_products: int
    converged: bool
    samples: np.ndarray

    def __repr__(self) -> str:
        return (
            f"TraceEstimate(value={self.value:.6g}, standard_error={self.standard_error:.2g}, "
            f"n_products={self.n_products}, converged={self.converged})"
        )


def rademacher(n: int, generator: torch.Generator, dtype, device) -> torch.Tensor:
    """``n`` i.i.d. ±1 entries (drawn on the CPU from ``generator``: the same probes on every
    device)."""
    z = torch.randint(0, 2, (n,), generator=generator, dtype=torch.int8)
    return (2 * z - 1).to(device=device, dtype=dtype)


def hutchinson_trace(
    matvec: Callable,
    n: int,
    *,
    max_probes: int = 100,
    min_probes: int = 10,
    tol: float = 1e-2,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> TraceEstimate:
    """``tr A`` of the symmetric operator ``matvec`` on R^n from Rademacher probes (module
    docstring), stopping when ``standard_error ≤ tol · |value|`` after ``min_probes``."""
    n = integer("n", n, minimum=1)
    max_probes = integer("max_probes", max_probes, minimum=2)
    min_probes = integer("min_probes", min_probes, minimum=2, maximum=max_probes)
    tol = positive("tol", tol)
    seed = integer("seed", seed, minimum=0)
    g = torch.Generator().manual_seed(seed)
    samples: list[float] = []
    converged = False
    for _ in range(max_probes):
        z = rademacher(n, g, dtype, device)
        samples.append(float(torch.dot(z, matvec(z).to(dtype))))
        if len(samples) >= min_probes:
            mean = float(np.mean(samples))
            se = float(np.std(samples, ddof=1) / np.sqrt(len(samples)))
            if se <= tol * abs(mean):
                converged = True
                break
    s = np.asarray(samples)
    return TraceEstimate(
        float(s.mean()), float(s.std(ddof=1) / np.sqrt(len(s))), len(s), converged, s
    )


def hutchpp_trace(
    matvec: Callable,
    n: int,
    *,
    n_products: int = 99,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> TraceEstimate:
    """Hutch++ (Meyer, Musco, Musco & Woodruff, SOSA 2021): ``tr A = tr(QᵀAQ) + tr((I − QQᵀ)
    A (I − QQᵀ))`` with ``Q`` an orthonormal basis of ``A S`` for ``k = n_products/3`` Rademacher
    columns ``S``; the first term is exact, Hutchinson estimates only the deflated rest.  The
    top-heavy spectra of network Hessians (a few outliers over a bulk) are its best case: the
    outliers' share of the variance goes.  Standard error from the deflated probes alone.
    Memory: ``2k`` vectors of length n."""
    n = integer("n", n, minimum=1)
    n_products = integer("n_products", n_products, minimum=6)
    seed = integer("seed", seed, minimum=0)
    k = min(n_products // 3, n)
    g = torch.Generator().manual_seed(seed)
    S = torch.stack([rademacher(n, g, dtype, device) for _ in range(k)], dim=1)
    Y = torch.stack([matvec(S[:, j]).to(dtype) for j in range(k)], dim=1)
    Q = torch.linalg.qr(Y).Q
    exact = float(sum(torch.dot(Q[:, j], matvec(Q[:, j]).to(dtype)) for j in range(k)))
    m = n_products - 2 * k
    samples = []
    for _ in range(m):
        z = rademacher(n, g, dtype, device)
        z = z - Q @ (Q.T @ z)
        samples.append(float(torch.dot(z, matvec(z).to(dtype))))
    s = np.asarray(samples) if samples else np.zeros(1)
    se = float(s.std(ddof=1) / np.sqrt(len(s))) if len(s) > 1 else float("nan")
    return TraceEstimate(exact + float(s.mean()), se, 2 * k + m, True, exact + s)


@dataclass
class SpectralDensity:
    """Stochastic Lanczos quadrature of the spectral measure of an n × n symmetric operator:
    per probe ``l``, nodes ``nodes[l]`` (Ritz values) and weights ``weights[l]`` (squared
    first components of T's eigenvectors, summing to 1)."""

    nodes: list[np.ndarray]
    weights: list[np.ndarray]
    n: int
    n_products: int

    @property
    def n_probes(self) -> int:
        return len(self.nodes)

    def probe_moments(self, p: int) -> np.ndarray:
        """``Σ_k τ_k² θ_kᵖ`` per probe (estimates of ``tr Hᵖ / n``; exact quadrature while
        ``p ≤ 2m − 1``)."""
        p = integer("p", p, minimum=0)
        return np.array([float(np.sum(w * t**p)) for t, w in zip(self.nodes, self.weights)])

    def moment(self, p: int) -> tuple[float, float]:
        """``(estimate, standard error)`` of ``tr Hᵖ / n`` over the probes (SE NaN for one
        probe)."""
        m = self.probe_moments(p)
        se = float(m.std(ddof=1) / np.sqrt(len(m))) if len(m) > 1 else float("nan")
        return float(m.mean()), se

    @property
    def trace(self) -> float:
        """SLQ's estimate of ``tr H`` (n times the first moment)."""
        return self.n * self.moment(1)[0]

    @property
    def support(self) -> tuple[float, float]:
        """Smallest and largest Ritz value over all probes."""
        allv = np.concatenate(self.nodes)
        return float(allv.min()), float(allv.max())

    def default_sigma(self) -> float:
        lo, hi = self.support
        return 0.01 * max(hi - lo, 1e-12)

    def density(self, grid, sigma: float | None = None) -> np.ndarray:
        """The probe-averaged quadrature measure convolved with a Gaussian of width ``sigma``
        (default 1% of the spectrum's extent), on ``grid``; integrates to 1 over the line."""
        sigma = self.default_sigma() if sigma is None else positive("sigma", sigma)
        t = np.asarray(grid, dtype=float)[:, None]
        out = np.zeros(t.shape[0])
        for nodes, w in zip(self.nodes, self.weights):
            z = (t - nodes[None, :]) / sigma
            out += (np.exp(-0.5 * z**2) / (sigma * np.sqrt(2 * np.pi))) @ w
        return out / self.n_probes

    def probe_densities(self, grid, sigma: float | None = None) -> np.ndarray:
        """Per-probe smoothed densities (rows), for standard errors of :meth:`density`."""
        return np.stack(
            [
                SpectralDensity([t], [w], self.n, 0).density(
                    grid, self.default_sigma() if sigma is None else sigma
                )
                for t, w in zip(self.nodes, self.weights)
            ]
        )

    def cdf(self, t) -> np.ndarray:
        """Probe-averaged quadrature CDF ``μ((−∞, t])``."""
        t = np.atleast_1d(np.asarray(t, dtype=float))[:, None]
        total = np.zeros(t.shape[0])
        for nodes, w in zip(self.nodes, self.weights):
            total += (nodes[None, :] <= t) @ w
        return total / self.n_probes

    def __repr__(self) -> str:
        lo, hi = self.support
        return (
            f"SpectralDensity(n={self.n}, probes={self.n_probes}, "
            f"nodes per probe={len(self.nodes[0])}, support=[{lo:.4g}, {hi:.4g}], "
            f"trace≈{self.trace:.4g}, n_products={self.n_products})"
        )


def lanczos_quadrature(
    matvec: Callable,
    n: int,
    *,
    n_probes: int = 4,
    n_iter: int = 50,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> SpectralDensity:
    """Stochastic Lanczos quadrature (module docstring): ``n_probes`` normalized Rademacher
    probes, ``n_iter`` Lanczos steps each (full reorthogonalization; fewer when the Krylov
    space closes, and the quadrature is then exact)."""
    n = integer("n", n, minimum=1)
    n_probes = integer("n_probes", n_probes, minimum=1)
    n_iter = integer("n_iter", n_iter, minimum=1)
    seed = integer("seed", seed, minimum=0)
    g = torch.Generator().manual_seed(seed)
    nodes, weights, products = [], [], 0
    for _ in range(n_probes):
        v = rademacher(n, g, dtype, device) / np.sqrt(n)
        alphas, betas, _, _ = krylov_tridiagonal(matvec, v, min(n_iter, n))
        products += len(alphas)
        theta, s = scipy.linalg.eigh_tridiagonal(
            np.array(alphas), np.array(betas[: len(alphas) - 1])
        )
        nodes.append(theta)
        weights.append(s[0, :] ** 2)
    return SpectralDensity(nodes, weights, n, products)


def _operator(model, x, y, loss, alpha, chunk_size, retain):
    return HessianOperator(
        model, x, y, loss=loss, alpha=alpha, chunk_size=chunk_size, retain=retain
    )


def hessian_trace(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str | Callable = "cross_entropy",
    alpha: float = 1.0,
    chunk_size: int | None = None,
    max_probes: int = 100,
    min_probes: int = 10,
    tol: float = 1e-2,
    seed: int = 0,
    retain: str | bool = "auto",
    method: str = "hutchinson",
) -> TraceEstimate:
    """``tr H`` of the mean loss on ``(x, y)`` with its standard error (same loss, chunking and
    measurement mode as :class:`~sgdnoise.nets.hessian.HessianOperator`): ``hutchinson``
    (stops on ``tol``) or ``hutch++`` (exactly ``max_probes`` products; ``tol`` unused)."""
    choice("method", method, TRACE_METHODS)
    op = _operator(model, x, y, loss, alpha, chunk_size, retain)
    if method == "hutch++":
        return hutchpp_trace(
            op.matvec, op.n, n_products=max_probes, seed=seed, dtype=op.dtype, device=op.device
        )
    return hutchinson_trace(
        op.matvec,
        op.n,
        max_probes=max_probes,
        min_probes=min_probes,
        tol=tol,
        seed=seed,
        dtype=op.dtype,
        device=op.device,
    )


def hessian_spectral_density(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str | Callable = "cross_entropy",
    alpha: float = 1.0,
    chunk_size: int | None = None,
    n_probes: int = 4,
    n_iter: int = 50,
    seed: int = 0,
    retain: str | bool = "auto",
) -> SpectralDensity:
    """Spectral density of the Hessian of the mean loss on ``(x, y)`` by stochastic Lanczos
    quadrature (``n_probes × n_iter`` products)."""
    op = _operator(model, x, y, loss, alpha, chunk_size, retain)
    return lanczos_quadrature(
        op.matvec,
        op.n,
        n_probes=n_probes,
        n_iter=n_iter,
        seed=seed,
        dtype=op.dtype,
        device=op.device,
    )
