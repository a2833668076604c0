"""Shared set-up of the BG21 synthetic claims (not a claim: the leading underscore keeps
the registry from importing it as one): the finite-sample problem, an exact FP sampler, and
:func:`judge`, how these claims judge replicate ensembles (statistical criteria at cpu and
paper scale, their machinery form at smoke).

The problem: the 1-D two-minima family with a wide minimum (curvature 1, depth 0) and a
narrow one (curvature 4, deeper by 0.1), barrier 0.1 at the midpoint, as a finite-sample
loss ℓ(θ; u, v) = L(θ − u) + vθ over N points with u ~ N(0, 0.1²), v ~ N(0, 3²)
(:mod:`sgdnoise.theory.finite_sample`).  The large per-sample tilt spread makes the
gradient noise Σ_N ≈ 9 dominate, so that at T = η/B ≈ 0.01–0.04 the diffusion D = TΣ/2 is
comparable to the barrier (the chains mix between basins in a few hundred time units)
while η = T·B stays small enough at B = 1 for the SDE to hold (η·h_max ≤ 0.16).
"""

from __future__ import annotations

import math

import numpy as np

from ..simulate.stationary import stationary_sampler  # noqa: F401  (the former home)
from ..theory import finite_sample as fs
from ..theory.potentials import two_minima_1d
from .criteria import Criterion, evaluate

FAMILY = dict(k_wide=1.0, k_narrow=4.0, depth_wide=0.0, depth_narrow=-0.1, barrier=0.1)
SHIFT_SD, TILT_SD = 0.1, 3.0


def problem(n: int, seed: int) -> fs.FiniteSampleLoss:
    """The training set of the BG21 SGD claims (see module doc)."""
    base = two_minima_1d(**FAMILY)
    return fs.make_problem(base, n, shift_sd=SHIFT_SD, tilt_sd=TILT_SD, seed=seed)


# -- judging replicate ensembles --------------------------------------------------------


def as_machinery(c: Criterion) -> Criterion:
    """The smoke form of a statistical criterion: the same statement, judged as a
    machinery check on the mean over replicates — direction: the mean has the paper's
    sign; equivalence: the mean lies inside (−margin, margin).  A smoke run has too few
    replicate ensembles for a t interval (DESIGN.md §10: smoke is a machinery check), but
    the check still fails when the measured effect has the wrong sign or exceeds the
    margin."""
    if c.kind == "direction":
        low, high = (0.0, math.inf) if c.sign > 0 else (-math.inf, 0.0)
    elif c.kind == "equivalence":
        low, high = -c.margin, c.margin
    else:
        return c
    return Criterion(
        c.name, c.paper_says, "machinery", low=low, high=high, derived=c.derived, unit=c.unit
    )


def judge(criteria, data: dict, *, machinery: bool) -> list:
    """Judge ``criteria`` on per-replicate ``data`` (one array per criterion name; the
    replicate ensemble, with its own seed, is the sampling unit).  ``machinery``: judge the
    smoke form of each (:func:`as_machinery`) on the replicate mean instead."""
    if not machinery:
        return evaluate(criteria, data)
    smoke = [as_machinery(c) for c in criteria]
    means = {
        k: (v if v is None or isinstance(v, str) else [float(np.mean(v))]) for k, v in data.items()
    }
    return evaluate(smoke, means)
