"""Minima, saddles, basins and their Laplace weights (BG21).

**Basins.** Basin *i* is the set of points that the gradient flow ``θ' = −∇L(θ)`` carries to
minimum *i*; minima — hence basins — are numbered in lexicographic order of their location
(in 1-D: left to right), and every function of this package that takes a basin takes this
index.  In 1-D the basins are the intervals between the maxima of L that separate
consecutive minima (any number of minima).  In N-D a point is assigned by following the flow
(:meth:`Basins.assign`: a vectorized descent with Armijo steps capped in length) until it is
captured by a ball around a minimum inside which ``L`` stays below its value on the ball's
surface, so the flow cannot leave it again.  Two basins are *adjacent* when an index-1 saddle
links them: its unstable direction, followed both ways, ends in the two.

**Laplace weights.** For the stationary law ``p ∝ exp(−Φ)`` (:mod:`.density`), Laplace's
method around each minimum θ_i of Φ gives the basin weight

    w_i ∝ exp(−Φ(θ_i)) (2π)^{d/2} det(∇²Φ(θ_i))^{−1/2},

asymptotically exact as T → 0 with relative error O(T).  With constant isotropic noise,
Φ = L/D and ``∇²Φ = H/D``, so at equal depth the basin with the smaller curvature determinant
(the *wide* minimum) carries more weight — the entropic preference for flat minima that
grows with T = η/B.  For 1-D state-dependent noise, Φ = ln D + ∫L'/D and
``Φ' = (D' + L')/D`` is explicit, so its minima and curvature are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
import sympy as sp
from scipy.optimize import brentq, minimize, minimize_scalar, root

from ..errors import ParameterError
from ..validation import integer
from .potentials import Potential


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (arrays inside)
class CriticalPoint:
    location: np.ndarray
    value: float
    hessian: np.ndarray

    @property
    def index(self) -> int:
        """Number of negative Hessian eigenvalues (0 minimum, 1 saddle)."""
        return int(np.sum(np.linalg.eigvalsh(self.hessian) < 0))


@cache
def _derivatives(pot: Potential):
    """Numeric L, ∇L and ∇²L with the parameter values substituted; polynomials in Horner
    form (about 8x faster on arrays than expanded powers, same values to round-off)."""
    L, _ = pot.substituted()
    grad = [sp.diff(L, c) for c in pot.coords]
    hess = [[sp.diff(g, c) for c in pot.coords] for g in grad]
    if L.is_polynomial(*pot.coords):

        def form(e):
            return sp.horner(sp.expand(e), *pot.coords) if e.free_symbols else e

        L, grad = form(L), [form(g) for g in grad]
        hess = [[form(e) for e in row] for row in hess]
    f = sp.lambdify(pot.coords, L, "numpy", cse=True)
    g = sp.lambdify(pot.coords, grad, "numpy", cse=True)
    h = sp.lambdify(pot.coords, hess, "numpy", cse=True)
    return f, g, h


def _point(pot, z) -> CriticalPoint:
    f, _, h = _derivatives(pot)
    z = np.asarray(z, dtype=float)
    return CriticalPoint(z, float(f(*z)), np.array(h(*z), dtype=float).reshape(pot.dim, pot.dim))


def _loss_rows(pot, z: np.ndarray) -> np.ndarray:
    """L at the rows of z (n, d), broadcast to (n,)."""
    f, _, _ = _derivatives(pot)
    return np.broadcast_to(np.asarray(f(*z.T), dtype=float), (z.shape[0],))


def _grad_rows(pot, z: np.ndarray) -> np.ndarray:
    _, g, _ = _derivatives(pot)
    return np.stack([np.broadcast_to(np.asarray(c, float), (z.shape[0],)) for c in g(*z.T)], 1)


# ---------------------------------------------------------------------------------------
# minima
def _classify_1d(pot: Potential) -> tuple[np.ndarray, np.ndarray]:
    """Critical points of L inside the box and their kind (-1 minimum, +1 maximum, 0 neither),
    decided by comparing L with its values halfway to the neighbouring critical points (L is
    monotone in between, so this is exact even at degenerate points such as θ⁴'s)."""
    from .density import critical_points_1d

    lo, hi = pot.domain[0]
    c = critical_points_1d(pot)
    if c.size == 0:
        return c, np.zeros(0, int)
    knots = np.concatenate([[lo], c, [hi]])
    mids = (knots[:-1] + knots[1:]) / 2
    f, _, _ = _derivatives(pot)
    Lc = np.array([float(f(t)) for t in c])
    Lm = np.array([float(f(t)) for t in mids])
    kind = np.zeros(c.size, int)
    kind[(Lc < Lm[:-1]) & (Lc < Lm[1:])] = -1
    kind[(Lc > Lm[:-1]) & (Lc > Lm[1:])] = 1
    return c, kind


def _starts(pot: Potential) -> np.ndarray:
    box = np.array(pot.domain, dtype=float)
    if pot.dim <= 3:
        n = 9 if pot.dim <= 2 else 7  # 49 starts in 2-D, 125 in 3-D
        axes = [np.linspace(lo, hi, n)[1:-1] for lo, hi in box]
        return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, pot.dim)
    rng = np.random.default_rng(0)
    return rng.uniform(box[:, 0], box[:, 1], size=(400, pot.dim))


@cache
def _find_minima_cached(pot: Potential) -> tuple[CriticalPoint, ...]:
    f, g, _ = _derivatives(pot)
    box = np.array(pot.domain, dtype=float)
    found: list[CriticalPoint] = []
    if pot.dim == 1:
        c, kind = _classify_1d(pot)
        found = [_point(pot, [r]) for r in c[kind == -1]]
    else:
        scale = float(np.min(box[:, 1] - box[:, 0]))
        for s in _starts(pot):
            with np.errstate(all="ignore"):
                res = minimize(
                    lambda z: f(*z),
                    s,
                    jac=lambda z: np.array(g(*z), float),
                    method="BFGS",
                    options={"gtol": 1e-12},
                )
            z = res.x
            if not np.all(np.isfinite(z)) or np.any(z <= box[:, 0]) or np.any(z >= box[:, 1]):
                continue
            if any(np.linalg.norm(z - m.location) < 1e-5 * scale for m in found):
                continue
            cp = _point(pot, z)
            if np.all(np.isfinite(cp.hessian)) and np.all(np.linalg.eigvalsh(cp.hessian) > 0):
                found.append(cp)
    return tuple(sorted(found, key=lambda c: tuple(c.location)))


def find_minima(pot: Potential) -> list[CriticalPoint]:
    """Local minima of L inside the box (possibly none), without validating the potential."""
    return list(_find_minima_cached(pot))


def minima(pot: Potential) -> list[CriticalPoint]:
    """Local minima of L inside the domain, in basin order (lexicographic in location).

    1-D: roots of L' (exact for polynomials), classified by L's values between them.
    N-D: BFGS from a grid of starts, deduplicated.  Raises :class:`ParameterError` naming
    ``potential`` when it does not confine on its box (:mod:`.potential_checks`)."""
    from .potential_checks import check_potential

    check_potential(pot, "potential")
    return find_minima(pot)


def saddle_between(pot: Potential, a: CriticalPoint, b: CriticalPoint) -> CriticalPoint:
    """The barrier top between two minima.

    1-D: the highest maximum of L between them (for consecutive minima, the only one).
    N-D: Newton on ∇L = 0 from the highest point of the straight segment; raises when that
    does not give an index-1 saddle."""
    f, g, h = _derivatives(pot)
    if pot.dim == 1:
        lo, hi = sorted([a.location[0], b.location[0]])
        c, kind = _classify_1d(pot)
        inside = (c > lo) & (c < hi) & (kind == 1)
        if inside.any():
            tops = c[inside]
            z = tops[np.argmax([float(f(t)) for t in tops])]
        else:  # a flat or degenerate top: the maximum of L on the interval
            z = minimize_scalar(lambda t: -float(f(t)), bounds=(lo, hi), method="bounded").x
        return _point(pot, [z])
    s = np.linspace(0, 1, 401)[:, None]
    seg = a.location + s * (b.location - a.location)
    top = seg[np.argmax(_loss_rows(pot, seg))]
    with np.errstate(all="ignore"):
        res = root(lambda z: np.array(g(*z), float), top, jac=lambda z: np.array(h(*z), float))
    cp = _point(pot, res.x)
    if not res.success or not np.all(np.isfinite(cp.hessian)) or cp.index != 1:
        raise ParameterError("potential", pot.name, "no index-1 saddle found between minima")
    return cp


# ---------------------------------------------------------------------------------------
# basins
@dataclass(frozen=True, eq=False)
class Basins:
    """The basins of a potential (see module doc): ``minima[i]`` is basin i's minimum,
    ``saddles[(i, j)]`` (i < j) the saddle linking adjacent basins, ``edges`` (1-D only) the
    interval ends ``[low, s₀₁, s₁₂, …, high]``."""

    potential: Potential
    minima: tuple[CriticalPoint, ...]
    saddles: dict[tuple[int, int], CriticalPoint] = field(default_factory=dict)
    edges: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.minima)

    def check_index(self, name: str, i) -> int:
        return integer(name, i, minimum=0, maximum=len(self) - 1)

    def saddle(self, i: int, j: int) -> CriticalPoint:
        """The saddle between adjacent basins i and j (ParameterError 'target' if none)."""
        key = (min(i, j), max(i, j))
        if key not in self.saddles:
            raise ParameterError(
                "target",
                j,
                f"basin {j} shares no saddle with basin {i} (adjacent pairs: "
                f"{sorted(self.saddles)}); Kramers' formula needs adjacent basins",
            )
        return self.saddles[key]

    def assign(self, points) -> np.ndarray:
        """Basin index of each point, points shaped (n, dim) (or (n,) in 1-D)."""
        pts = np.asarray(points, dtype=float)
        if self.potential.dim == 1 and pts.ndim == 1:
            pts = pts[:, None]
        if pts.ndim != 2 or pts.shape[1] != self.potential.dim:
            raise ParameterError("points", pts.shape, f"must be (n, {self.potential.dim})")
        if not np.all(np.isfinite(pts)):
            raise ParameterError("points", "non-finite", "must be finite")
        if len(self) == 1:
            return np.zeros(pts.shape[0], int)
        if self.potential.dim == 1:
            return np.searchsorted(self.edges[1:-1], pts[:, 0], side="right")
        return flow_labels(self.potential, self.minima, pts)

    def assign_grid(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Basin index at every node of the 2-D tensor grid ``xs × ys``, coarse to fine: a
        coarse sub-grid is flowed first; each coarse cell whose four corners agree and that
        holds no minimum or saddle is filled with that label, the nodes of the other cells
        are flowed one by one.  (A basin thinner than a coarse cell that touches none of
        its corners would be missed; coarse cells are ~1/48 of the box.)"""
        nx, ny = xs.size, ys.size
        if len(self) == 1:
            return np.zeros((nx, ny), int)
        step = max(1, min(nx, ny) // 48)
        ix = np.unique(np.r_[0:nx:step, nx - 1])
        iy = np.unique(np.r_[0:ny:step, ny - 1])
        cx, cy = np.meshgrid(xs[ix], ys[iy], indexing="ij")
        coarse = self.assign(np.stack([cx.ravel(), cy.ravel()], 1)).reshape(ix.size, iy.size)
        lab = np.full((nx, ny), -1)
        crit = np.array([c.location for c in (*self.minima, *self.saddles.values())])
        for a in range(ix.size - 1):
            for b in range(iy.size - 1):
                blk = coarse[a : a + 2, b : b + 2]
                x0, x1, y0, y1 = xs[ix[a]], xs[ix[a + 1]], ys[iy[b]], ys[iy[b + 1]]
                holds = np.any(
                    (crit[:, 0] >= x0)
                    & (crit[:, 0] <= x1)
                    & (crit[:, 1] >= y0)
                    & (crit[:, 1] <= y1)
                )
                if np.all(blk == blk[0, 0]) and not holds:
                    lab[ix[a] : ix[a + 1] + 1, iy[b] : iy[b + 1] + 1] = blk[0, 0]
        todo = np.argwhere(lab < 0)
        if todo.size:
            lab[todo[:, 0], todo[:, 1]] = self.assign(np.stack([xs[todo[:, 0]], ys[todo[:, 1]]], 1))
        return lab

    def split_hyperplane(self) -> tuple[tuple[float, ...], float]:
        """A hyperplane ``n·θ = c`` between basin 0 and basin 1 through their saddle (exact in
        1-D; in N-D the plane normal to the line joining the two minima)."""
        d = self.potential.dim
        if len(self) == 1:
            return (1.0,) + (0.0,) * (d - 1), float(self.potential.domain[0][1])
        a, b = self.minima[0].location, self.minima[1].location
        n = (b - a) / np.linalg.norm(b - a)
        through = self.saddles[(0, 1)].location if (0, 1) in self.saddles else (a + b) / 2
        return tuple(float(v) for v in n), float(n @ through)


@cache
def _capture(pot: Potential, mins: tuple[CriticalPoint, ...]):
    """Per minimum a ball radius r and level c such that L ≥ c on the ball's surface
    (sampled) and L(minimum) < c: a descent inside the ball below c cannot leave it."""
    locs = np.array([m.location for m in mins])
    d = pot.dim
    rng = np.random.default_rng(0)
    if d == 2:
        ang = np.linspace(0, 2 * np.pi, 512, endpoint=False)
        u = np.stack([np.cos(ang), np.sin(ang)], 1)
    else:
        u = rng.standard_normal((256 * d, d))
        u = np.concatenate([u / np.linalg.norm(u, axis=1, keepdims=True), np.eye(d), -np.eye(d)])
    radii, levels = [], []
    for i, m in enumerate(mins):
        dist = np.linalg.norm(np.delete(locs, i, axis=0) - m.location, axis=1)
        r = 0.3 * float(np.min(dist))
        for _ in range(30):
            c = float(np.min(_loss_rows(pot, m.location + r * u)))
            if c > m.value:
                break
            r /= 2
        radii.append(r)
        levels.append(c)
    return locs, np.array(radii), np.array(levels)


def flow_labels(
    pot: Potential, mins, pts: np.ndarray, max_steps: int = 4000, cap: float = 0.02
) -> np.ndarray:
    """Basin index of each row of ``pts`` by following the gradient flow (module doc).

    Steps are Armijo-accepted descent steps of length at most ``cap`` times the smallest
    distance between two minima, so a trajectory cannot jump across a separatrix by more than that.
    Points still uncaptured after ``max_steps`` (on a separatrix, stuck at a saddle) take
    the nearest minimum."""
    mins = tuple(mins)
    locs, radii, levels = _capture(pot, mins)
    box = np.array(pot.domain, dtype=float)
    pair = np.linalg.norm(locs[:, None] - locs[None], axis=-1)
    step_max = cap * float(np.min(pair[pair > 0]))
    lam = max(float(np.max(np.linalg.eigvalsh(m.hessian))) for m in mins)
    z = np.array(pts, dtype=float)
    n = z.shape[0]
    lab = np.full(n, -1)
    Lz = _loss_rows(pot, z).copy()
    h = np.full(n, 1.0 / lam)
    gtiny = 1e-10 * lam * float(np.max(box[:, 1] - box[:, 0]))
    with np.errstate(all="ignore"):
        for _ in range(max_steps):
            act = np.flatnonzero(lab == -1)
            if act.size == 0:
                break
            dist = np.linalg.norm(z[act, None, :] - locs[None], axis=-1)
            hit = (dist < radii) & (Lz[act, None] < levels)
            got = hit.any(axis=1)
            lab[act[got]] = np.argmax(hit[got], axis=1)
            act = act[~got]
            if act.size == 0:
                break
            G = _grad_rows(pot, z[act])
            gn = np.linalg.norm(G, axis=1)
            t = np.minimum(h[act], step_max / np.maximum(gn, 1e-300))
            trial = np.clip(z[act] - t[:, None] * G, box[:, 0], box[:, 1])
            Lt = _loss_rows(pot, trial)
            ok = np.isfinite(Lt) & (Lt <= Lz[act] - 1e-4 * t * gn**2) & (gn > 0)
            z[act[ok]] = trial[ok]
            Lz[act[ok]] = Lt[ok]
            h[act[ok]] = np.minimum(h[act[ok]] * 1.5, 1e6 / lam)
            h[act[~ok]] *= 0.5
            # stalled: no admissible step, or at a critical point (reached along a saddle's
            # stable manifold, a measure-zero set)
            stuck = act[(h[act] < 1e-12 / lam) | (gn < gtiny)]
            lab[stuck] = -2  # stalled (a critical point or a box corner): nearest below
    left = lab < 0
    if left.any():
        lab[left] = np.argmin(np.linalg.norm(z[left, None, :] - locs[None], axis=-1), axis=1)
    return lab


@cache
def basins(pot: Potential) -> Basins:
    """The basins of ``pot`` (module doc), validated; cached per potential."""
    mins = tuple(minima(pot))
    if len(mins) == 1:
        lo, hi = pot.domain[0]
        edges = np.array([lo, hi]) if pot.dim == 1 else None
        return Basins(pot, mins, {}, edges)
    if pot.dim == 1:
        sad = {(i, i + 1): saddle_between(pot, mins[i], mins[i + 1]) for i in range(len(mins) - 1)}
        lo, hi = pot.domain[0]
        edges = np.array([lo, *(sad[(i, i + 1)].location[0] for i in range(len(mins) - 1)), hi])
        return Basins(pot, mins, sad, edges)
    sad: dict[tuple[int, int], CriticalPoint] = {}
    box = np.array(pot.domain, dtype=float)
    eps = 1e-4 * float(np.min(box[:, 1] - box[:, 0]))
    for i in range(len(mins)):
        for j in range(i + 1, len(mins)):
            try:
                s = saddle_between(pot, mins[i], mins[j])
            except ParameterError:
                continue
            if np.any(s.location <= box[:, 0]) or np.any(s.location >= box[:, 1]):
                continue
            v = np.linalg.eigh(s.hessian)[1][:, 0]  # the unstable direction
            ends = flow_labels(pot, mins, np.stack([s.location + eps * v, s.location - eps * v]))
            key = (int(min(ends)), int(max(ends)))
            if key[0] != key[1] and key not in sad:
                sad[key] = s
    return Basins(pot, mins, sad, None)


# ---------------------------------------------------------------------------------------
# Laplace weights
@cache
def _phi_derivs_1d(pot: Potential):
    """First four θ-derivatives of Φ at (θ, T) for 1-D Itô noise, from the explicit
    ``Φ' = (D' + L')/D`` with ``D = TΣ/2`` (no integral needed)."""
    L, (S,) = pot.substituted()
    (t,) = pot.coords
    T = sp.Symbol("T", positive=True)
    D = T * S / 2
    d1 = (sp.diff(D, t) + sp.diff(L, t)) / D
    ders = [d1, sp.diff(d1, t), sp.diff(d1, t, 2), sp.diff(d1, t, 3)]
    return tuple(sp.lambdify((t, T), d, "numpy") for d in ders)


def laplace_log_weights(
    pot: Potential, T: float, order: int = 0
) -> tuple[list[CriticalPoint], np.ndarray]:
    """Minima and normalized log Laplace weights ``log w_i`` of their basins at temperature T
    (index i = basin index).

    ``order=1`` (1-D only) adds the next term of Laplace's expansion,
    ``∫e^{−Φ} ≈ e^{−Φ₀} sqrt(2π/Φ₂) [1 + 5Φ₃²/(24Φ₂³) − Φ₄/(8Φ₂²)]``, an O(T) correction;
    the difference between orders 0 and 1 estimates the leading order's own error."""
    from .density import StationaryDensity, critical_points_1d

    if order not in (0, 1):
        raise ParameterError("order", order, "must be 0 or 1")
    if order == 1 and pot.dim != 1:
        raise ParameterError("order", order, "the first-order correction is implemented in 1-D")
    from .density import isotropic_diffusion

    if pot.dim == 1:
        dens = StationaryDensity(pot, T)
    else:
        D = isotropic_diffusion(pot, T)
    mins = minima(pot)
    base = min(m.value for m in mins)
    for m in mins:
        ev = np.linalg.eigvalsh(m.hessian)
        if not np.min(ev) > 1e-12 * max(1.0, float(np.max(np.abs(ev)))):
            raise ParameterError(
                "potential",
                pot.name,
                f"its minimum at {np.round(m.location, 6)} is degenerate (Hessian eigenvalues "
                f"{ev}); Laplace's method needs a positive curvature — use the density's masses",
            )
    logw = []
    for m in mins:
        if pot.dim == 1:
            dphi, d2phi, d3phi, d4phi = _phi_derivs_1d(pot)
            z = m.location[0]
            if not pot.constant_noise:
                # Φ's minimum sits O(T) from L's; bracket it well inside L's basin.
                others = [c for c in critical_points_1d(pot) if abs(c - z) > 1e-9]
                h = 0.4 * min(abs(c - z) for c in others) if others else 0.5
                try:
                    with np.errstate(all="ignore"):
                        z = brentq(dphi, z - h, z + h, args=(T,))
                except (ValueError, ZeroDivisionError):
                    raise ParameterError(
                        "T",
                        T,
                        f"Laplace's method fails at this T near the minimum {z:.6g}: Φ = ln D + "
                        "∫L'/D has no minimum there (the noise gradient beats the curvature); "
                        "use the density's basin masses",
                    ) from None
            phi0 = float(dens.phi(np.array([z]))[0])
            try:
                with np.errstate(all="ignore"):
                    f2 = float(np.asarray(d2phi(np.float64(z), T), dtype=float))
            except ZeroDivisionError:
                f2 = np.nan
            if not (np.isfinite(phi0) and np.isfinite(f2) and f2 > 0):
                raise ParameterError(
                    "T", T, f"Laplace's method fails at this T near the minimum {z:.6g}"
                )
            lw = -phi0 + 0.5 * np.log(2 * np.pi / f2)
            if order == 1:
                f3, f4 = float(d3phi(z, T)), float(d4phi(z, T))
                lw += np.log1p(5 * f3**2 / (24 * f2**3) - f4 / (8 * f2**2))
        else:
            phi0 = (m.value - base) / D
            logdet = np.linalg.slogdet(m.hessian / D)[1]
            lw = -phi0 + 0.5 * pot.dim * np.log(2 * np.pi) - 0.5 * logdet
        logw.append(lw)
    logw = np.array(logw)
    return mins, logw - np.logaddexp.reduce(logw)
