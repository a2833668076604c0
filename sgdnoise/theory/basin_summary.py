"""Everything about the basins of a potential at one temperature, in one object.

Per basin i (numbered as in :mod:`.basins`: minimum i, lexicographic order): its minimum,
the loss there, its exact stationary mass (:meth:`StationaryDensity.basin_masses`, 1-D and
2-D) and its Laplace weight (:func:`.basins.laplace_log_weights`).  Per ordered pair
(i, j): Kramers' time for adjacent basins (:func:`.escape.kramers_time`) and, in 1-D, the
exact mean first-passage time from minimum i to minimum j for every pair
(:func:`.escape.mean_first_passage_time`).  Time is SGD time t = kη.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..validation import positive
from .basins import basins, laplace_log_weights
from .potentials import Potential


@dataclass(frozen=True)
class BasinSummary:
    T: float
    minima: np.ndarray  # (n_basins, dim)
    depths: np.ndarray  # L at each minimum
    masses: np.ndarray | None  # exact stationary mass per basin (None above 2-D)
    laplace: np.ndarray | None  # Laplace weight per basin (None at a degenerate minimum)
    kramers: dict[tuple[int, int], float]  # adjacent ordered pairs only
    mfpt: dict[tuple[int, int], float]  # every ordered pair, 1-D only

    def __repr__(self) -> str:
        rows = [f"BasinSummary(T={self.T:g}, {len(self.depths)} basins)"]
        for i, (m, d) in enumerate(zip(self.minima, self.depths, strict=True)):
            mass = "" if self.masses is None else f" mass={self.masses[i]:.4g}"
            lap = "" if self.laplace is None else f" laplace={self.laplace[i]:.4g}"
            rows.append(f"  basin {i}: θ*={np.round(m, 4).tolist()} L={d:.4g}{mass}{lap}")
        for (i, j), t in sorted(self.kramers.items()):
            exact = f", exact MFPT {self.mfpt[(i, j)]:.4g}" if (i, j) in self.mfpt else ""
            rows.append(f"  {i}→{j}: Kramers {t:.4g}{exact}")
        return "\n".join(rows)


def basin_summary(pot: Potential, T: float) -> BasinSummary:
    """Masses, Laplace weights and escape times of every basin of ``pot`` at temperature T."""
    from .density import StationaryDensity
    from .escape import kramers_time, mean_first_passage_time

    if not isinstance(pot, Potential):
        raise ParameterError("potential", type(pot).__name__, "must be a theory Potential")
    T = positive("T", T)
    b = basins(pot)
    n = len(b)
    masses = StationaryDensity(pot, T).basin_masses() if pot.dim <= 2 else None
    try:
        laplace = np.exp(laplace_log_weights(pot, T)[1])
    except ParameterError:
        laplace = None
    kramers = {}
    for i, j in b.saddles:
        kramers[(i, j)] = kramers_time(pot, T, i, j)
        kramers[(j, i)] = kramers_time(pot, T, j, i)
    mfpt = {}
    if pot.dim == 1:
        mfpt = {
            (i, j): mean_first_passage_time(pot, T, i, j)
            for i in range(n)
            for j in range(n)
            if i != j
        }
    return BasinSummary(
        T,
        np.array([m.location for m in b.minima]),
        np.array([m.value for m in b.minima]),
        masses,
        laplace,
        kramers,
        mfpt,
    )
