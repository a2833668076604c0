"""What a potential must satisfy before densities, basins or escape times mean anything.

The stationary law ``p ∝ exp(−Φ)`` of ``dθ = −∇L dt + sqrt(TΣ) dW`` (DESIGN.md §3) exists on
the box only when the loss confines there and the diffusion is non-degenerate, so
:func:`check_potential` refuses, with a :class:`ParameterError`:

* a loss that is not finite somewhere on the box (a pole, ``log`` of a negative number);
* Σ not positive definite (a diagonal entry ≤ 0 or not finite) at a grid point of the box;
* no local minimum inside the box (``x³``, ``−x²``);
* a loss unbounded below on ℝ^d — exact for polynomials: odd total degree, or a leading
  form that is negative in some direction (sampled) — since then the dynamics leave every
  box and no stationary law exists;
* a box whose edge dips below the deepest interior minimum: the mass would pile up at the
  wall (any loss; this is the check that remains for non-polynomial losses).

Grid sizes: 4001 points in 1-D; about 20 000 in N-D (a tensor grid up to 4-D, seeded
uniform draws above), always including the box's faces.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp

from ..errors import ParameterError
from .potentials import Potential

_N_SAMPLES = 20_000


def box_samples(pot: Potential) -> np.ndarray:
    """Points (n, dim) covering ``pot.domain`` and its faces (deterministic)."""
    box = np.array(pot.domain, dtype=float)
    d = pot.dim
    if d == 1:
        return np.linspace(box[0, 0], box[0, 1], 4001)[:, None]
    if d <= 4:
        n = max(5, int(round(_N_SAMPLES ** (1 / d))))
        axes = [np.linspace(lo, hi, n) for lo, hi in box]
        return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d)
    rng = np.random.default_rng(0)
    pts = rng.uniform(box[:, 0], box[:, 1], size=(_N_SAMPLES, d))
    face = rng.uniform(box[:, 0], box[:, 1], size=(2 * d * 200, d))
    for k in range(2 * d):  # 200 points on each face
        face[k * 200 : (k + 1) * 200, k // 2] = box[k // 2, k % 2]
    return np.concatenate([pts, face])


def boundary_mask(pot: Potential, pts: np.ndarray) -> np.ndarray:
    box = np.array(pot.domain, dtype=float)
    return np.any((pts == box[:, 0]) | (pts == box[:, 1]), axis=1)


def unbounded_below(pot: Potential) -> str | None:
    """Why the (polynomial) loss is unbounded below on ℝ^d, or None when it is not (or when
    that cannot be decided exactly: non-polynomial losses)."""
    L, _ = pot.substituted()
    if not L.is_polynomial(*pot.coords):
        return None
    poly = sp.Poly(L, *pot.coords)
    deg = poly.total_degree()
    if deg == 0:
        return None
    top = sum(
        (c * sp.prod([v**e for v, e in zip(pot.coords, m, strict=True)]))
        for m, c in poly.terms()
        if sum(m) == deg
    )
    if deg % 2 == 1:
        return f"odd degree {deg} (leading terms {_sketch(top)})"
    f = sp.lambdify(pot.coords, top, "numpy")
    rng = np.random.default_rng(0)
    u = rng.standard_normal((4096, pot.dim))
    u = np.concatenate([u / np.linalg.norm(u, axis=1, keepdims=True), np.eye(pot.dim)])
    vals = np.broadcast_to(np.asarray(f(*u.T), dtype=float), (u.shape[0],))
    scale = float(np.max(np.abs([float(c) for c in poly.coeffs()])))
    if np.min(vals) < -1e-12 * scale:
        k = int(np.argmin(vals))
        return f"its leading terms {_sketch(top)} are negative along {np.round(u[k], 3)}"
    return None


def minima_outside_1d(pot: Potential) -> list[float]:
    """Where a 1-D polynomial loss has its minima on the whole line (empty otherwise)."""
    if pot.dim != 1:
        return []
    L, _ = pot.substituted()
    (t,) = pot.coords
    if not L.is_polynomial(t) or sp.degree(L, t) < 2:
        return []
    d1, d2 = sp.diff(L, t), sp.diff(L, t, 2)
    r = np.roots([float(c) for c in sp.Poly(d1, t).all_coeffs()])
    r = r[np.abs(r.imag) < 1e-9].real
    return [round(float(v), 6) for v in r if float(d2.subs(t, v)) > 0]


def _sketch(e) -> str:
    s = str(e)
    return s if len(s) <= 50 else s[:49] + "…"


def _polished_min(pot: Potential, k: int, pts: np.ndarray, s: np.ndarray):
    """The minimum of Σ_kk over the box: the smallest sample refined by L-BFGS-B."""
    from scipy.optimize import minimize

    fn = pot.noise_fns()[k]
    box = np.array(pot.domain, dtype=float)

    def val(z):
        return float(np.asarray(fn(*z, *pot.values), dtype=float))

    if pot.dim == 1:  # a polynomial Σ: its real roots in the box, exactly
        S = sp.sympify(pot.substituted()[1][k])
        (t,) = pot.coords
        if S.is_polynomial(t) and sp.degree(S, t) >= 1:
            r = np.roots([float(c) for c in sp.Poly(S, t).all_coeffs()])
            r = r[np.abs(r.imag) < 1e-7 * (1 + np.abs(r))].real
            r = r[(r >= box[0, 0]) & (r <= box[0, 1])]
            if r.size:
                return np.array([r[0]]), min(0.0, val([r[0]]))
    z0 = pts[int(np.argmin(s))]
    with np.errstate(all="ignore"):
        res = minimize(val, z0, method="L-BFGS-B", bounds=box, options={"ftol": 0.0, "gtol": 0.0})
    z = res.x if np.isfinite(res.fun) and res.fun < val(z0) else z0
    return z, min(val(z), float(np.min(s)))


def check_potential(pot: Potential, parameter: str | None = "potential") -> None:
    """Raise :class:`ParameterError` unless ``pot`` confines on its box (module doc).

    ``parameter``: the argument name to blame; None blames the specific ingredient
    (``loss``, ``noise``, ``domain``) as the keyword constructor does."""
    _check_cached(pot, parameter)


@cache
def _check_cached(pot: Potential, parameter: str | None) -> None:
    from .basins import find_minima

    def fail(which: str, value, why: str):
        raise ParameterError(parameter or which, value if parameter is None else pot.name, why)

    pts = box_samples(pot)
    cols = [pts[:, i] for i in range(pot.dim)]
    with np.errstate(all="ignore"):
        raw = np.asarray(pot.loss_at(*cols))
        if np.iscomplexobj(raw) or raw.dtype == object:
            fail("loss", _sketch(pot.loss), "must be real-valued on the domain")
        Lv = np.broadcast_to(raw.astype(float), (pts.shape[0],))
        bad = ~np.isfinite(Lv)
        if bad.any():
            z = pts[np.argmax(bad)]
            fail("loss", _sketch(pot.loss), f"is not finite at θ={np.round(z, 6)} in the domain")
        for k, s in enumerate(pot.noise_at(*cols)):
            if np.iscomplexobj(s) or np.asarray(s).dtype == object:
                fail("noise", _sketch(pot.noise_cov[k]), "must be real-valued on the domain")
            s = np.asarray(s, dtype=float)
            bad = ~(np.isfinite(s) & (s > 0))
            if bad.any():
                z = pts[np.argmax(bad)]
                fail(
                    "noise",
                    _sketch(pot.noise_cov[k]),
                    f"Σ must be positive definite on the domain; entry {k} is {s[np.argmax(bad)]:g}"
                    f" at θ={np.round(z, 6)}",
                )
            if np.ptp(s) > 0:  # θ-dependent: polish the smallest sample (a zero between
                # grid points, like Σ = θ² at 0, would slip through the grid)
                z, smin = _polished_min(pot, k, pts, s)
                if not smin > max(1e-12 * float(np.max(s)), 1e-30):
                    fail(
                        "noise",
                        _sketch(pot.noise_cov[k]),
                        f"Σ must be positive definite on the domain; entry {k} falls to "
                        f"{smin:.3g} at θ={np.round(z, 6)} (singular diffusion)",
                    )
            elif not s[0] > 1e-30:
                fail("noise", _sketch(pot.noise_cov[k]), f"Σ entry {k} = {s[0]:g} is singular")
    why_unbounded = unbounded_below(pot)
    mins = find_minima(pot)
    if not mins:
        elsewhere = minima_outside_1d(pot)
        if elsewhere:
            fail("domain", pot.domain, f"holds none of the loss's minima (at {elsewhere})")
        extra = f"; it is unbounded below: {why_unbounded}" if why_unbounded else ""
        fail(
            "loss", _sketch(pot.loss), f"has no local minimum inside the domain {pot.domain}{extra}"
        )
    if why_unbounded:
        fail(
            "loss",
            _sketch(pot.loss),
            f"is unbounded below ({why_unbounded}): no stationary law exists",
        )
    deepest = min(m.value for m in mins)
    edge = boundary_mask(pot, pts)
    if edge.any() and np.min(Lv[edge]) < deepest:
        k = np.flatnonzero(edge)[np.argmin(Lv[edge])]
        fail(
            "domain",
            pot.domain,
            f"cuts the landscape: L({np.round(pts[k], 6)}) = {Lv[k]:.4g} on its edge lies "
            f"below the deepest minimum {deepest:.4g}; widen the domain to where L rises",
        )
