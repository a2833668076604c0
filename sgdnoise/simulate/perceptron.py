"""Exact, event-driven SGD on the SGW23 perceptron (DESIGN.md §4.2; Sclocchi, Geiger & Wyart,
ICML 2023).

The dynamics simulated is exactly that of :mod:`sgdnoise.simulate.perceptron_reference`:
each SGD step draws a fresh batch of B *distinct* indices out of P and moves

    Δw ← Δw + (η/B) Σ_{i ∈ batch, α y_i o_i < 1} y_i x_i / sqrt(d),   o = Δw·x/sqrt(d),

(the negative hinge gradient of :mod:`sgdnoise.theory.hinge`), until every training point is
fitted (``α y o ≥ 1``).  Late in training almost every step draws only fitted points and
changes nothing; this simulator never performs those steps one by one:

* **Geometric skip.** Between updates Δw is fixed, so with U unfitted points every step
  independently misses them all with probability ``p_0 = C(P−U, B)/C(P, B)``.  The number of
  idle steps before the next update is Geometric(1 − p_0) (failures before a success) and is
  drawn in one go.
* **The updating batch.** Conditioned on hitting at least one unfitted point, the number K of
  unfitted points in the batch is Hypergeometric(P, U, B) conditioned on K ≥ 1, and which K
  are drawn is a uniform K-subset of the unfitted set (the batch's fitted points contribute
  nothing).  The update uses all K of them, averaged over B.  This reproduces the joint law of
  (idle steps, update) of the plain algorithm exactly.
* **Certificates instead of O(Pd) margin sweeps.** Knowing U after each update by
  recomputing all P margins would cost O(Pd).  Because every ``z_i = y_i x_i/sqrt(d)`` has
  ``z_{i,1} = |x_{i,1}|/sqrt(d) ≥ 0`` and every update adds a positive multiple of some
  ``z_j``, the signal ``Δw_1`` never decreases.  Hence the margin obeys
  ``z_i·Δw ≥ Δw_1^{(c)} z_{i,1} − ‖Δw_⊥‖ ‖z_{i,⊥}‖`` for any earlier value ``Δw_1^{(c)}``, and a
  point is *certainly fitted* as long as ``‖Δw_⊥‖ < ρ_i = (Δw_1^{(c)} z_{i,1} − 1/α)/‖z_{i,⊥}‖``
  (a cone around the signal direction, the analogue of a molecular-dynamics skin: ‖Δw_⊥‖
  is the only thing that can erode the certificate).  Certified points sit in a min-heap on
  ρ; when ‖Δw_⊥‖ reaches the smallest ρ that point is recomputed exactly and re-certified
  with the current, larger Δw_1, or moved to the *active set*.  Active points (the boundary
  band and the unfitted ones) keep exact margins, updated by one dot product with the
  update vector; every few updates they are recomputed from scratch and those that have
  become certifiable leave the set.  Late in training the active set is the O(1)–O(10²)
  points near the boundary, so an update costs O(|active| d) instead of O(P d).

The status of every point is therefore known exactly at all times and the simulation is
exact; its law equals the plain reference's, which ``tests/simulate`` checks statistically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from ..errors import ParameterError
from ..theory.conventions import lr_from_temperature
from ..theory.hinge import hinge_dloss_do
from ..theory.perceptron import check_chi, sample_inputs, test_error
from ..validation import choice, integer, positive
from .perceptron_reference import reference_kernel, sgd_step

STATUS = {0: "converged", 1: "max_steps", 2: "max_updates", 3: "diverged"}
METHODS = ("event", "reference")

# ---------------------------------------------------------------------------------------
# numba kernels


@njit(cache=True)
def seed_numba(seed):
    """Seed numba's own generator (separate from numpy's) for direct kernel-helper calls."""
    np.random.seed(seed)  # noqa: NPY002 (numba RNG)


@njit(cache=True)
def _log_p0(P, U, B):
    """log C(P−U, B)/C(P, B): the probability that a batch of B distinct draws misses all
    U unfitted points (−inf when it cannot)."""
    if U == 0:
        return 0.0
    if P - U < B:
        return -np.inf
    if B <= 64:
        acc = 0.0
        for j in range(B):
            acc += math.log1p(-U / (P - j))
        return acc
    return (
        math.lgamma(P - U + 1)
        - math.lgamma(P - U - B + 1)
        - math.lgamma(P + 1)
        + math.lgamma(P - B + 1)
    )


@njit(cache=True)
def _hypergeom_at_least_one(P, U, B, log_p0):
    """K ~ Hypergeometric(P, U, B) conditioned on K ≥ 1.

    When K = 0 is not rare (p_0 > e^{-30}) by inversion upward from K = 1, using
    ``pmf(1) = p_0 · U B/(P − U − B + 1)`` and the ratio recursion (no lgamma, no underflow);
    otherwise by rejecting K = 0 from numpy's sampler, which then almost never rejects.
    """
    if log_p0 < -30.0:
        while True:
            k = np.random.hypergeometric(U, P - U, B)  # noqa: NPY002 (numba RNG)
            if k >= 1:
                return k
    k_hi = min(U, B)
    one_minus_p0 = -math.expm1(log_p0)
    pk = math.exp(log_p0) * U * B / (P - U - B + 1.0)
    target = np.random.random() * one_minus_p0  # noqa: NPY002 (numba RNG)
    k = 1
    cum = pk
    while cum < target and k < k_hi:
        pk *= (U - k) * (B - k) / ((k + 1) * (P - U - B + k + 1.0))
        k += 1
        cum += pk
    return k


@njit(cache=True)
def _heap_push(heap, n, key, item):
    """Push ``item`` (keyed by ``key[item]``) on the min-heap ``heap[:n]``; returns n+1."""
    pos = n
    kv = key[item]
    while pos > 0:
        parent = (pos - 1) >> 1
        pi = heap[parent]
        if key[pi] <= kv:
            break
        heap[pos] = pi
        pos = parent
    heap[pos] = item
    return n + 1


@njit(cache=True)
def _heap_pop(heap, n, key):
    """Remove the top of the min-heap ``heap[:n]``; returns n−1 (the top was ``heap[0]``)."""
    n -= 1
    if n == 0:
        return 0
    item = heap[n]
    kv = key[item]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= n:
            break
        if child + 1 < n and key[heap[child + 1]] < key[heap[child]]:
            child += 1
        ci = heap[child]
        if kv <= key[ci]:
            break
        heap[pos] = ci
        pos = child
    heap[pos] = item
    return n


#: a fitted point is filed under the cone certificate only when its threshold exceeds the
#: current ‖Δw_⊥‖ by this factor, so that small fluctuations do not bounce it back (a speed
#: setting: the certificate is exact whatever its value)
_CONE_HEADROOM = 1.5
#: updates between exact re-computations of the active margins (which also move points that
#: became certifiable out of the active set)
_SWEEP_EVERY = 8


@njit(cache=True)
def _cone_threshold(w0, z1, zperp, inv_alpha):
    """ρ with ``Δw_1 z_1 − ρ ‖z_⊥‖ = 1/α`` (minus a rounding allowance)."""
    signal = w0 * z1 - inv_alpha
    return (signal - 1e-12 * (abs(w0 * z1) + inv_alpha)) / zperp


@njit(cache=True)
def event_kernel(
    Z, zperp, w, steps0, coef, B, alpha, seed, max_steps, max_updates, checkpoints, ck_w
):
    """Event-driven exact SGD from ``w`` (modified in place); see the module docstring.

    ``zperp[i] = ‖z_{i,⊥}‖``; ``Z[:, 0] ≥ 0``.  ``coef = η/B``.  ``checkpoints`` (sorted
    int64 step counts): ``ck_w[j]`` receives Δw after all steps ``≤ checkpoints[j]``.
    Returns ``(steps, n_updates, n_recomputed, status)`` with status 0 = all fitted,
    1 = max_steps, 2 = max_updates, 3 = non-finite.
    """
    np.random.seed(seed)  # noqa: NPY002 (numba RNG)
    P, d = Z.shape
    inv_alpha = 1.0 / alpha
    steps = steps0
    n_ck = checkpoints.shape[0]
    c = 0
    while c < n_ck and checkpoints[c] < steps:
        c += 1

    wperp = 0.0
    for j in range(1, d):
        wperp += w[j] * w[j]
    wperp = math.sqrt(wperp)
    # active set: compact copies of the rows and their exact margins
    aidx = np.empty(P, np.int64)
    ZA = np.empty((P, d))
    mA = np.empty(P)
    nA = 0
    # cone-certified points: min-heap on their threshold ρ
    rho = np.empty(P)
    cone = np.empty(P, np.int64)
    n_cone = 0
    ulist = np.empty(P, np.int64)
    for i in range(P):
        m = 0.0
        for j in range(d):
            m += Z[i, j] * w[j]
        r = _cone_threshold(w[0], Z[i, 0], zperp[i], inv_alpha)
        if alpha * m >= 1.0 and r > _CONE_HEADROOM * wperp:
            rho[i] = r
            n_cone = _heap_push(cone, n_cone, rho, i)
        else:
            aidx[nA] = i
            ZA[nA, :] = Z[i, :]
            mA[nA] = m
            nA += 1

    delta = np.empty(d)
    n_up = 0
    n_re = P
    status = 0
    nU = 0
    for s in range(nA):
        if alpha * mA[s] < 1.0:
            ulist[nU] = s
            nU += 1
    while nU > 0:
        lp0 = _log_p0(P, nU, B)
        if lp0 == -np.inf:
            idle = 0.0
        else:
            idle = math.floor(math.log1p(-np.random.random()) / lp0)  # noqa: NPY002 (numba RNG)
        if steps + idle + 1.0 > max_steps:
            # the cap falls inside the idle stretch: those steps happen, the update does not
            steps = max_steps
            status = 1
            break
        if n_up >= max_updates:
            status = 2
            break
        steps += np.int64(idle) + 1
        while c < n_ck and checkpoints[c] < steps:
            ck_w[c, :] = w
            c += 1
        K = _hypergeom_at_least_one(P, nU, B, lp0)
        # a uniform K-subset of the unfitted points (partial Fisher–Yates)
        for j in range(d):
            delta[j] = 0.0
        for b in range(K):
            r = b + np.random.randint(nU - b)  # noqa: NPY002 (numba RNG)
            a = ulist[b]
            ulist[b] = ulist[r]
            ulist[r] = a
            sl = ulist[b]
            for j in range(d):
                delta[j] += ZA[sl, j]
        wperp = 0.0
        for j in range(d):
            delta[j] *= coef
            w[j] += delta[j]
            if j > 0:
                wperp += w[j] * w[j]
        wperp = math.sqrt(wperp)
        n_up += 1
        if not math.isfinite(wperp + w[0]):
            status = 3
            break
        nU = 0
        for s in range(nA):
            acc = 0.0
            for j in range(d):
                acc += ZA[s, j] * delta[j]
            mA[s] += acc
            if alpha * mA[s] < 1.0:
                ulist[nU] = s
                nU += 1
        # Δw_1 never decreases (Z[:, 0] ≥ 0), so a fitted point stays fitted while ‖Δw_⊥‖
        # stays below its ρ; those whose ρ has been reached are re-examined exactly.
        while n_cone > 0 and rho[cone[0]] <= wperp * (1.0 + 1e-12):
            i = cone[0]
            n_cone = _heap_pop(cone, n_cone, rho)
            m = 0.0
            for j in range(d):
                m += Z[i, j] * w[j]
            n_re += 1
            r = _cone_threshold(w[0], Z[i, 0], zperp[i], inv_alpha)
            if alpha * m >= 1.0 and r > _CONE_HEADROOM * wperp:
                rho[i] = r
                n_cone = _heap_push(cone, n_cone, rho, i)
            else:
                aidx[nA] = i
                ZA[nA, :] = Z[i, :]
                mA[nA] = m
                if alpha * m < 1.0:
                    ulist[nU] = nA
                    nU += 1
                nA += 1
        if n_up % _SWEEP_EVERY == 0:
            # slots move when points leave, so the unfitted list is rebuilt here
            nU = 0
            s = 0
            while s < nA:
                i = aidx[s]
                m = 0.0
                for j in range(d):
                    m += ZA[s, j] * w[j]
                n_re += 1
                r = _cone_threshold(w[0], ZA[s, 0], zperp[i], inv_alpha)
                if alpha * m >= 1.0 and r > _CONE_HEADROOM * wperp:
                    rho[i] = r
                    n_cone = _heap_push(cone, n_cone, rho, i)
                    nA -= 1
                    aidx[s] = aidx[nA]
                    ZA[s, :] = ZA[nA, :]
                    mA[s] = mA[nA]
                else:
                    mA[s] = m
                    if alpha * m < 1.0:
                        ulist[nU] = s
                        nU += 1
                    s += 1
    while c < n_ck:
        ck_w[c, :] = w
        c += 1
    return steps, n_up, n_re, status


# ---------------------------------------------------------------------------------------
# Python API


@dataclass(frozen=True)
class PerceptronRun:
    """Result of one SGD run on the perceptron (all numbers are plain floats/ints).

    ``dw1`` = Δw_1 (signal), ``dw_perp`` = ‖Δw_⊥‖ (noise), ``steps`` = SGD steps taken,
    ``t_star = η × steps``, ``test_error`` on ``n_test`` fresh points and
    ``test_error_exact`` from :func:`sgdnoise.theory.perceptron.test_error`.
    ``checkpoint_*`` arrays hold the same at the requested step counts.
    """

    P: int
    d: int
    chi: float
    T: float
    alpha: float
    batch_size: int
    lr: float
    seed: int
    method: str
    status: str
    steps: int
    n_updates: int
    n_recomputed: int
    t_star: float
    dw1: float
    dw_perp: float
    test_error: float
    test_error_exact: float
    dw: np.ndarray = field(repr=False)
    checkpoints: np.ndarray = field(repr=False)
    checkpoint_dw1: np.ndarray = field(repr=False)
    checkpoint_dw_perp: np.ndarray = field(repr=False)
    checkpoint_test_error: np.ndarray = field(repr=False)

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    @property
    def relative_change(self) -> float:
        """‖Δw‖/‖w_0‖ with ‖w_0‖ = sqrt(d) (w_0 ~ N(0, I_d); the dynamics only sees Δw)."""
        return float(np.hypot(self.dw1, self.dw_perp) / math.sqrt(self.d))


def validate(P, d, chi, T, alpha, batch_size):
    """Boundary checks shared by the simulators and the experiments (ParameterError)."""
    chi = check_chi(chi)
    d = integer("d", d, minimum=2)
    P = integer("P", P, minimum=1)
    B = integer("batch_size", batch_size, minimum=1)
    if B > P:
        raise ParameterError("batch_size", batch_size, f"must be in [1, P={P}]")
    alpha = positive("alpha", alpha)
    T = positive("T", T)
    return P, d, chi, T, alpha, B


def make_data(P: int, d: int, chi: float, seed: int):
    """Training rows ``Z_i = −∂ℓ/∂o|_unfitted · x_i/sqrt(d)`` and ``‖Z_{i,⊥}‖``.

    The hinge (:mod:`sgdnoise.theory.hinge`) has a constant slope on its unfitted branch, so
    the SGD update of a batch is ``(η/B) Σ_unfitted Z_i`` and the margin ``y o = Z_i·Δw``;
    the slope is taken from the sympy derivative (evaluated at o = 0, which is unfitted for
    any α > 0), not typed in.  With y = sign(x_1) it gives ``Z_{i,1} = |x_{i,1}|/sqrt(d) ≥ 0``,
    which the event kernel relies on.  Data come from the seed's own stream.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    X, y = sample_inputs(P, d, chi, rng)
    slope = hinge_dloss_do(np.zeros(P), y, 1.0)
    Z = np.ascontiguousarray(X * (-slope / math.sqrt(d))[:, None])
    if np.any(Z[:, 0] < 0):
        raise RuntimeError("the hinge slope no longer pushes towards the label")
    return Z, np.sqrt(np.sum(Z[:, 1:] ** 2, axis=1))


def _fresh_error(dw, d, chi, seed, n_test):
    if n_test == 0:
        return np.full(dw.shape[0], np.nan)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    X, y = sample_inputs(n_test, d, chi, rng)
    o = (X @ dw.T) * y[:, None]
    return np.mean(o < 0, axis=0) + 0.5 * np.mean(o == 0, axis=0)


def simulate(
    P: int,
    d: int,
    chi: float,
    T: float,
    *,
    alpha: float = 1.0,
    batch_size: int = 1,
    seed: int = 0,
    method: str = "event",
    max_steps: int = 2**62,
    max_updates: int = 2**62,
    checkpoints=None,
    n_test: int = 10_000,
    initial_dw=None,
    initial_steps: int = 0,
) -> PerceptronRun:
    """Train the SGW23 perceptron with SGD at temperature ``T = η/B`` until all P points are
    fitted (or a cap is hit) and return Δw_1, ‖Δw_⊥‖, steps, t* and test error.

    ``method="event"`` is the exact event-driven simulator, ``"reference"`` the plain
    step-by-step loop (same law, much slower late in training).  The training data depend
    only on ``seed`` (not on the method); so does the SGD noise stream.  ``initial_dw`` and
    ``initial_steps`` continue a run from a saved state (used by the benchmark).
    ``max_updates`` caps updating steps (event method only).
    """
    P, d, chi, T, alpha, B = validate(P, d, chi, T, alpha, batch_size)
    choice("method", method, METHODS)
    seed = integer("seed", seed, minimum=0, maximum=2**32 - 1)
    max_steps = integer("max_steps", max_steps, minimum=1, maximum=2**62)
    max_updates = integer("max_updates", max_updates, minimum=1, maximum=2**62)
    n_test = integer("n_test", n_test, minimum=0)
    initial_steps = integer("initial_steps", initial_steps, minimum=0, maximum=max_steps)
    ck = np.asarray([] if checkpoints is None else checkpoints, dtype=np.int64).ravel()
    if np.any(ck < 0) or np.any(np.diff(ck) < 0):
        raise ParameterError("checkpoints", ck.tolist(), "must be sorted step counts >= 0")
    lr = lr_from_temperature(T, B)
    Z, zperp = make_data(P, d, chi, seed)
    w = np.zeros(d)
    if initial_dw is not None:
        w0 = np.asarray(initial_dw, dtype=float)
        if w0.shape != (d,) or not np.all(np.isfinite(w0)):
            raise ParameterError("initial_dw", w0.shape, f"must be a finite vector of length {d}")
        w[:] = w0
    ck_w = np.zeros((ck.size, d))
    kseed = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0] % (2**31))
    coef = lr / B
    if method == "event":
        steps, n_up, n_re, st = event_kernel(
            Z, zperp, w, initial_steps, coef, B, alpha, kseed, max_steps, max_updates, ck, ck_w
        )
    else:
        steps, n_up, st = reference_kernel(
            Z, w, initial_steps, coef, B, alpha, kseed, max_steps, ck, ck_w
        )
        n_re = 0
    dw = w.copy()
    all_w = np.vstack([ck_w, dw[None, :]])
    errs = _fresh_error(all_w, d, chi, seed, n_test)
    dw1s = all_w[:, 0]
    dwps = np.sqrt(np.sum(all_w[:, 1:] ** 2, axis=1))
    return PerceptronRun(
        P=P,
        d=d,
        chi=chi,
        T=T,
        alpha=alpha,
        batch_size=B,
        lr=lr,
        seed=seed,
        method=method,
        status=STATUS[int(st)],
        steps=int(steps),
        n_updates=int(n_up),
        n_recomputed=int(n_re),
        t_star=lr * float(steps),
        dw1=float(dw1s[-1]),
        dw_perp=float(dwps[-1]),
        test_error=float(errs[-1]),
        test_error_exact=test_error(float(dw1s[-1]), float(dwps[-1]), chi),
        dw=dw,
        checkpoints=ck,
        checkpoint_dw1=dw1s[:-1].copy(),
        checkpoint_dw_perp=dwps[:-1].copy(),
        checkpoint_test_error=errs[:-1].copy(),
    )


__all__ = [
    "METHODS",
    "STATUS",
    "PerceptronRun",
    "event_kernel",
    "make_data",
    "reference_kernel",
    "sgd_step",
    "simulate",
    "validate",
]
