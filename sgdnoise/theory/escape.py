"""Escape times between minima: Kramers' formula and the exact 1-D mean first-passage time.

For ``dθ = −L' dt + sqrt(2D(θ)) dW`` (Itô) with stationary ``p ∝ e^{−Φ}``, the mean time to
first reach c from a < c, reflecting at the lower domain end, is exactly

    τ(a→c) = ∫_a^c dy  [1/(D(y) p(y))] ∫_{lo}^{y} p(z) dz.

Laplace's method on both integrals (inner around the minimum a, outer around the barrier b)
gives Kramers' time

    τ_K = 2π sqrt(D(b)/D(a)) / sqrt(L''(a) |L''(b)|) · exp(ψ(b) − ψ(a)),   ψ = ∫ L'/D,

which for constant D is the textbook ``2π/sqrt(L''(a)|L''(b)|) · exp(ΔL/D)``; its relative
error is O(D/ΔL).  In N-D with isotropic constant D (Eyring–Kramers):
``τ_K = 2π/|λ⁻(b)| · sqrt(|det H_b| / det H_a) · exp(ΔL/D)``.
Time is SGD time t = kη (DESIGN.md §3).

Convention: ``start`` and ``target`` are basin indices (:mod:`.basins`: basin i holds
minimum i, numbered left to right in 1-D), for every function here.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from scipy.special import logsumexp

from ..errors import ParameterError
from ..validation import finite, integer, positive
from .basins import basins
from .density import _GL_W, _GL_X, StationaryDensity, isotropic_diffusion
from .potentials import Potential


def _time(log_t: float, log: bool, T: float) -> float:
    """The time, or its natural log; a time beyond float range is refused, never inf."""
    if log:
        return float(log_t)
    if not log_t < 709.0:
        raise ParameterError(
            "T", T, f"too low: the time e^{log_t:.4g} overflows a float; pass log=True"
        )
    return float(np.exp(log_t))


def kramers_time(pot: Potential, T: float, start: int, target: int, *, log: bool = False) -> float:
    """Kramers escape time from basin ``start`` over the saddle it shares with the adjacent
    basin ``target`` (basin indices, :mod:`.basins`; ParameterError 'target' when the two
    share no saddle — use :func:`mean_first_passage_time` for any pair in 1-D).
    ``log=True`` returns ln τ (for barriers beyond e^709)."""
    T = positive("T", T)
    b = basins(pot)
    start, target = b.check_index("start", start), b.check_index("target", target)
    if start == target:
        raise ParameterError("target", target, "must differ from start")
    a = b.minima[start]
    s = b.saddle(start, target)
    if pot.dim == 1:
        dens = StationaryDensity(pot, T)
        za, zb = a.location[:1], s.location[:1]
        Da, Db = float(dens._D_scalar(za)[0]), float(dens._D_scalar(zb)[0])
        # ψ = Φ − ln D
        dpsi = float(dens.phi(zb)[0] - np.log(Db) - dens.phi(za)[0] + np.log(Da))
        curv = a.hessian[0, 0] * abs(s.hessian[0, 0])
        if not curv > 0:
            raise ParameterError(
                "potential", pot.name, "Kramers' formula needs non-degenerate minimum and top"
            )
        pref = 2 * np.pi * np.sqrt(Db / Da) / np.sqrt(curv)
        return _time(np.log(pref) + dpsi, log, T)
    D = isotropic_diffusion(pot, T)
    ev_b = np.linalg.eigvalsh(s.hessian)
    pref = 2 * np.pi / abs(ev_b[0]) * np.sqrt(abs(np.prod(ev_b)) / np.linalg.det(a.hessian))
    return _time(np.log(pref) + (s.value - a.value) / D, log, T)


def _is_index(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def mean_first_passage_time(pot: Potential, T: float, start, target, *, log: bool = False) -> float:
    """Exact 1-D mean first-passage time, reflecting at the far end of the domain, by
    log-space Gauss–Legendre quadrature of the double integral (module doc).

    ``start``, ``target`` as basin indices (integers, the convention of this package): from
    the minimum of basin ``start`` until first reaching the minimum of basin ``target`` — the
    time Kramers' formula approximates for adjacent basins.  As positions (floats, the
    older form, still accepted): from θ = start until first reaching θ = target.  In 1-D the
    passage time is additive: τ(0→2) = τ(0→1) + τ(1→2).  ``log=True`` returns ln τ."""
    if pot.dim != 1:
        raise ParameterError("potential", pot.name, "the exact MFPT is implemented in 1-D")
    dens = StationaryDensity(pot, T)
    if _is_index(start) and _is_index(target):
        b = basins(pot)
        i, j = b.check_index("start", start), b.check_index("target", target)
        if i == j:
            raise ParameterError("target", target, "must differ from start")
        start, target = float(b.minima[i].location[0]), float(b.minima[j].location[0])
    lo, hi = pot.domain[0]
    for name, v in (("start", start), ("target", target)):
        v = finite(name, v)
        if not lo < v < hi:
            raise ParameterError(name, v, f"must lie inside the domain ({lo}, {hi})")
    nodes = dens.nodes[0]
    a, c = sorted([start, target])
    grid = np.unique(np.concatenate([[a, c], nodes[(nodes > a) & (nodes < c)]]))
    ya = grid[:-1, None]
    yb = grid[1:, None]
    y = (ya + yb) / 2 + (yb - ya) / 2 * _GL_X
    logw = np.log((yb - ya) / 2 * _GL_W)
    # log ∫ e^{−Φ} from the reflecting end to y, summed from that end (no 1 − CDF)
    side = dens._log_mass_left if target > start else dens._log_mass_right
    log_inner = side(y.ravel()).reshape(y.shape)
    log_outer = dens.phi(y) - np.log(dens._D_scalar(y))
    return _time(logsumexp(logw + log_outer + log_inner), log, T)


def relaxation_rate(pot: Potential, T: float, n_grid: int = 4000) -> float:
    """Spectral gap λ₁ of the 1-D Fokker–Planck generator: the exact rate at which basin
    occupations relax to equilibrium (≈ 1/τ(a→c) + 1/τ(c→a) when the barrier is high).
    See :func:`relaxation_spectrum`."""
    return float(relaxation_spectrum(pot, T, 1, n_grid)[0])


def relaxation_spectrum(pot: Potential, T: float, k: int = 2, n_grid: int = 4000) -> np.ndarray:
    """The k slowest nonzero relaxation rates λ₁ ≤ λ₂ ≤ … of the 1-D Fokker–Planck generator.

    The backward generator ``𝓛f = (1/p)(D p f')'`` is self-adjoint in L²(p); a flux-form
    finite-volume discretization with reflecting ends, symmetrized by sqrt(p), is a symmetric
    tridiagonal matrix whose second-smallest eigenvalue magnitude is λ₁ (error O(h²))."""
    from scipy.linalg import eigh_tridiagonal

    if pot.dim != 1:
        raise ParameterError("potential", pot.name, "the spectral gap is implemented in 1-D")
    n = integer("n_grid", n_grid, minimum=100)
    dens = StationaryDensity(pot, T)
    lo, hi = pot.domain[0]
    # Reflect where the density has fallen by e^-50: the mass beyond cannot matter, and the
    # log-ratios below stay O(1) per cell.
    probe = np.linspace(lo, hi, 20 * n)
    keep = probe[-dens.phi(probe) > np.max(-dens.phi(probe)) - 50]
    z = np.linspace(keep[0], keep[-1], n)
    h = z[1] - z[0]
    mid = (z[:-1] + z[1:]) / 2
    logp = -dens.phi(z)
    logc = np.log(dens._D_scalar(mid) / h**2) - dens.phi(mid)  # log conductances
    up = np.exp(logc - logp[:-1])  # c_{i+1/2}/p_i
    down = np.exp(logc - logp[1:])  # c_{i+1/2}/p_{i+1}
    diag = np.zeros(n)
    diag[:-1] += up
    diag[1:] += down
    off = -np.exp(logc - (logp[:-1] + logp[1:]) / 2)
    k = integer("k", k, minimum=1)
    evals = eigh_tridiagonal(diag, off, eigvals_only=True, select="i", select_range=(0, k))
    # Absolute eigenvalue error is ~ machine-eps × the largest rate (~D/h²); below that the
    # gap is not resolved (exponentially high barriers): use the MFPTs there instead.
    floor = 1e-13 * float(np.max(np.abs(diag)))
    if evals[1] <= 100 * floor:
        raise ParameterError(
            "T", T, "too low for the spectral method (gap below round-off); use MFPT rates"
        )
    return evals[1:]
