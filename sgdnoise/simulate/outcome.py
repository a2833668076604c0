"""What every simulator reports per particle: its status and, on request, its first passage.

One vocabulary for the Langevin ensemble (:mod:`.langevin`) and SGD (:mod:`.sgd`):

* ``status[i]``: :data:`DONE` (0, ran to the end or stopped at its target) or
  :data:`DIVERGED` (1, its state turned non-finite or left the allowed box) with
  ``diverged_step[i]`` the step at which that was seen (−1 when done).  A diverged particle's
  position is its last value, which may be ±inf or NaN: read ``status`` before using it;
  summaries (``finite_positions``) leave diverged particles out;
* ``first_passage_step[i]``: the first step at which the particle was in the target set
  (−1 never), ``first_passage[i]`` its time (NaN never), ``n_arrived`` the count.

A target set is a :class:`Target`: a box (interval, half-space = a threshold on one
coordinate, a 1-D basin between its saddles), optionally intersected with a loss level set
L(θ) ≤ level (Langevin only) — tests that a compiled kernel does in a few comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..validation import choice, finite, integer

DONE, DIVERGED = 0, 1
STATUS_NAMES = ("done", "diverged")


def starting_points(x0, n: int, dim: int) -> np.ndarray:
    """``x0`` as an (n, dim) C-contiguous float array: a scalar or one point is repeated for
    every particle; n points are taken as given ((n,) allowed in 1-D, e.g. a stationary
    sampler's draw).  The one reading of a starting point shared by every simulator."""
    try:
        arr = np.array(x0, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError("x0", x0, "must be a point or an array of points") from None
    if arr.ndim == 0:
        arr = np.full((n, dim), float(arr))
    elif arr.ndim == 1 and dim == 1 and arr.shape[0] == n:
        arr = arr[:, None].copy()
    elif arr.ndim == 1 and arr.shape[0] == dim:
        arr = np.tile(arr, (n, 1))
    elif arr.shape != (n, dim):
        raise ParameterError(
            "x0", arr.shape, f"must be a point ({dim} coordinates) or hold {n} starting points"
        )
    if not np.all(np.isfinite(arr)):
        raise ParameterError("x0", "non-finite", "must be finite")
    return np.ascontiguousarray(arr)


class Outcome:
    """Per-particle status and first-passage views shared by the result types."""

    status: np.ndarray
    diverged_step: np.ndarray
    first_passage_step: np.ndarray
    first_passage: np.ndarray
    positions: np.ndarray

    @property
    def diverged(self) -> np.ndarray:
        """Boolean mask of diverged particles."""
        return self.status == DIVERGED

    @property
    def n_diverged(self) -> int:
        return int(np.sum(self.diverged))

    @property
    def diverged_fraction(self) -> float:
        return float(np.mean(self.diverged))

    @property
    def status_names(self) -> np.ndarray:
        """``status`` spelled out: "done" / "diverged" per particle."""
        return np.asarray(STATUS_NAMES, dtype=object)[self.status]

    @property
    def finite_positions(self) -> np.ndarray:
        """Positions of the particles that did not diverge."""
        return self.positions[~self.diverged]

    @property
    def arrived(self) -> np.ndarray:
        """Boolean mask of particles that reached the target (all False without one)."""
        return self.first_passage_step >= 0

    @property
    def n_arrived(self) -> int:
        return int(np.sum(self.arrived))


def passage_times(fp_step: np.ndarray, clock: np.ndarray) -> np.ndarray:
    """First-passage times from steps: ``clock[step]`` (time after that many steps), NaN for
    particles that never arrived."""
    out = np.full(fp_step.shape, np.nan)
    ok = fp_step >= 0
    out[ok] = clock[fp_step[ok]]
    return out


@dataclass(frozen=True)
class Target:
    """The set ``{θ : lo_k ≤ θ_k ≤ hi_k for the listed coordinates k} ∩ {L(θ) ≤ level}``.

    ``bounds``: ((k, lo, hi), …), unlisted coordinates unbounded; ``level``: None or a loss
    level.  Build with :meth:`box`, :meth:`interval`, :meth:`crossing`, :meth:`basin`,
    :meth:`loss_below`."""

    bounds: tuple[tuple[int, float, float], ...] = ()
    level: float | None = None

    @classmethod
    def box(cls, lo, hi) -> Target:
        """lo ≤ θ ≤ hi componentwise (use ±inf for an open side)."""
        lo = np.atleast_1d(np.asarray(lo, dtype=float))
        hi = np.atleast_1d(np.asarray(hi, dtype=float))
        if lo.shape != hi.shape or lo.ndim != 1 or np.any(np.isnan(lo)) or np.any(np.isnan(hi)):
            raise ParameterError("target", (lo, hi), "box bounds must be two equal-length vectors")
        if np.any(lo > hi):
            raise ParameterError("target", (lo, hi), "box must have lo <= hi in every coordinate")
        return cls(tuple((k, float(a), float(b)) for k, (a, b) in enumerate(zip(lo, hi))))

    @classmethod
    def interval(cls, lo: float, hi: float, coord: int = 0) -> Target:
        """lo ≤ θ_coord ≤ hi."""
        coord = integer("coord", coord, minimum=0)
        lo, hi = float(lo), float(hi)
        if np.isnan(lo) or np.isnan(hi) or lo > hi:
            raise ParameterError("target", (lo, hi), "interval must have lo <= hi")
        return cls(((coord, lo, hi),))

    @classmethod
    def crossing(cls, value: float, coord: int = 0, direction: str = "up") -> Target:
        """The half-space θ_coord ≥ value ("up") or ≤ value ("down"): a threshold crossing."""
        value = finite("value", value)
        choice("direction", direction, ("up", "down"))
        if direction == "up":
            return cls.interval(value, np.inf, coord)
        return cls.interval(-np.inf, value, coord)

    @classmethod
    def loss_below(cls, level: float) -> Target:
        """L(θ) ≤ level (Langevin ensembles: the kernel evaluates the compiled loss)."""
        return cls((), finite("level", level))

    @classmethod
    def basin(cls, pot, index: int) -> Target:
        """The 1-D basin of minimum ``index`` of ``pot`` (sorted by position): the interval
        between the maxima of L on either side (the domain's edge where there is none)."""
        from ..theory.basins import minima, saddle_between

        if getattr(pot, "dim", None) != 1:
            raise ParameterError("potential", getattr(pot, "name", pot), "basins are 1-D here")
        mins = minima(pot)
        index = integer("index", index, minimum=0, maximum=len(mins) - 1)
        lo, hi = pot.domain[0]
        if index > 0:
            lo = float(saddle_between(pot, mins[index - 1], mins[index]).location[0])
        if index < len(mins) - 1:
            hi = float(saddle_between(pot, mins[index], mins[index + 1]).location[0])
        return cls.interval(lo, hi)

    def arrays(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) vectors of length ``dim`` for the kernels."""
        lo, hi = np.full(dim, -np.inf), np.full(dim, np.inf)
        for k, a, b in self.bounds:
            if k >= dim:
                raise ParameterError("target", self, f"names coordinate {k} of a {dim}-D state")
            lo[k], hi[k] = max(lo[k], a), min(hi[k], b)
        return lo, hi


def as_target(target) -> Target | None:
    if target is None or isinstance(target, Target):
        return target
    raise ParameterError("first_passage", target, "must be a Target (or None)")
