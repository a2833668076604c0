"""Time to a stated ‖∇f‖², and the criteria of `ui25-acceleration` (UI25, arXiv 2409.08770).

A run reaches the target ε at its first record with ‖∇f‖² ≤ ε; its cost is the steps taken
and the samples processed before that record.  A run that never reaches ε is *censored*:
its true cost exceeds what it ran (a one-sided bound, nothing more).  The per-seed unit of
every criterion is

    r = log cost(X) − log min over the baselines (i) constant, (i) cosine, (ii) of their cost.

Censoring (one rule for the synthetic problems and CIFAR-10).  Each cost is known to lie in
an interval — [c, c] when reached, (run, ∞) when censored — so the baselines' minimum lies
in [min of their lower ends, min of their upper ends] and r lies in a known interval
[r_lo, r_hi].  The seed contributes the point of that interval nearest 0: the exact r when
nothing is censored; a bound when the ordering is known (X reached ε before any baseline's
run ended: r ≤ r_hi < 0; X ran longer than a baseline needed and never got there:
r ≥ r_lo > 0); 0 when censoring leaves the ordering open (e.g. X and every baseline never
reached ε).  Censoring can so shrink a seed's evidence toward "no difference" but never
create it, in either direction: a criterion is supported or contradicted only on orderings
the runs show.  :func:`censored_seeds` counts, per criterion, the seeds where a bound or 0
stood in for the exact value (reported beside the criteria).
"""

from __future__ import annotations

import math

import numpy as np

from . import _ui25_sim as sim
from .criteria import Criterion

BASELINE = ("(i) constant", "(i) cosine", "(ii) cosine")
ACCEL = ("(iii)", "(iv) cosine")
CLOCKS = ("steps", "samples")


def time_to_target(steps, samples, grad_sq, eps: float) -> tuple[float, float, bool]:
    """(steps, samples, reached) at the first record with ‖∇f‖² ≤ ``eps``; if none, the
    last record's steps and samples with ``reached`` False (censored)."""
    g = np.asarray(grad_sq, dtype=float)
    hit = np.flatnonzero(g <= eps)
    i = int(hit[0]) if hit.size else g.size - 1
    return float(steps[i]), float(samples[i]), bool(hit.size)


def pair_label(delta: float, gamma: float) -> str:
    return f"δ={delta:g},γ={gamma:g}"


def criteria(pairs, problems=sim.PROBLEMS) -> list[Criterion]:
    """One direction criterion per problem, (δ, γ) pair, scheduler (iii)/(iv) and clock."""
    out = []
    for p in problems:
        for d, g in pairs:
            for x in ACCEL:
                for clock in CLOCKS:
                    out.append(
                        Criterion(
                            f"faster-{clock} {x} {pair_label(d, g)} {p}",
                            f"schedulers (iii) and (iv) accelerate mini-batch SGD: {x} reaches "
                            f"the stated ‖∇f‖² in fewer {clock} than the fastest of (i) and "
                            "(ii) (log-ratio < 0)",
                            "direction",
                            sign=-1,
                            effect=math.log(2),
                            effect_reason="half the cost: the smallest gain one would call "
                            "an acceleration (one stage of batch doubling halves the "
                            "variance term)",
                        )
                    )
    return out


def machinery_criteria() -> list[Criterion]:
    return [
        Criterion(
            "target-time-exact",
            "the time-to-target machinery is exact: on the noise-free quadratic under (iii), "
            "steps to ε measured − steps exact gradient descent needs (abs)",
            "machinery",
            low=0.0,
            high=0.5,
        ),
        Criterion(
            "samples-processed",
            "every run processes E epochs of N samples: max over runs of abs(samples / (E·N) "
            "− 1) (an epoch's last, partial batch counts whole, so b ∤ N adds < b per epoch)",
            "machinery",
            low=0.0,
            high=0.1,
        ),
    ]


def _bounds(full, clock):
    """Lower and upper ends of each run's cost in ``clock`` (module doc): (c, c) reached,
    (run, ∞) censored; at least one step/sample, so every log is finite."""
    reached = full["reached"].astype(bool)
    lo = full[clock].where(reached, full[f"run_{clock}"]).clip(lower=1.0)
    hi = lo.where(reached, np.inf)
    return lo, hi


def _ratio_bounds(frame, lab, clock, x):
    """Per seed (r_lo, r_hi) of log cost(X) − log min baseline cost, aligned by seed."""
    full = frame[(frame["pair"] == lab) | (frame["pair"] == "")].set_index(["scheduler", "seed"])
    lo, hi = _bounds(full, clock)
    b_lo = pd_min([lo.loc[b] for b in BASELINE])
    b_hi = pd_min([hi.loc[b] for b in BASELINE])
    x_lo, x_hi = lo.loc[x], hi.loc[x]
    seeds = b_lo.index.intersection(x_lo.index)
    with np.errstate(divide="ignore"):
        r_lo = np.log(x_lo[seeds].to_numpy() / b_hi[seeds].to_numpy())
        r_hi = np.log(x_hi[seeds].to_numpy() / b_lo[seeds].to_numpy())
    return r_lo, r_hi


def nearest_zero(r_lo, r_hi) -> np.ndarray:
    """The point of each interval [r_lo, r_hi] nearest 0 (module doc: censoring shrinks a
    seed toward "no difference", never past it)."""
    r_lo, r_hi = np.asarray(r_lo, float), np.asarray(r_hi, float)
    return np.where(r_lo > 0, r_lo, np.where(r_hi < 0, r_hi, 0.0))


def units(frame, pairs, problems=sim.PROBLEMS) -> dict:
    """Per-seed log-ratios of :func:`criteria` from a frame with one row per run:
    ``problem``, ``pair`` (label; "" for (i), which has no δ, γ), ``scheduler``, ``seed``,
    ``steps``, ``samples`` (cost to ε), ``reached``, ``run_steps``, ``run_samples``."""
    return {
        name: nearest_zero(lo, hi) for name, lo, hi in _criterion_bounds(frame, pairs, problems)
    }


def censored_seeds(frame, pairs, problems=sim.PROBLEMS) -> dict[str, int]:
    """Per criterion: seeds whose value is a bound or 0 rather than the exact log-ratio."""
    return {
        name: int(np.sum(lo != hi)) for name, lo, hi in _criterion_bounds(frame, pairs, problems)
    }


def _criterion_bounds(frame, pairs, problems):
    """(criterion name, per-seed lower and upper log-ratio bounds) for every criterion."""
    for p in problems:
        fp = frame[frame["problem"] == p]
        for d, g in pairs:
            lab = pair_label(d, g)
            for clock in CLOCKS:
                for x in ACCEL:
                    yield (f"faster-{clock} {x} {lab} {p}", *_ratio_bounds(fp, lab, clock, x))


def pd_min(series):
    """Element-wise minimum of aligned pandas Series (by seed)."""
    out = series[0]
    for s in series[1:]:
        out = out.combine(s, min)
    return out
