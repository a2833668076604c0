"""Time to a stated ‖∇f‖², and the criteria of `ui25-acceleration` (UI25, arXiv 2409.08770).

A run reaches the target ε at its first record with chain-mean ‖∇f‖² ≤ ε; its cost is the
steps taken and the samples processed before that record.  A run that never reaches ε is
*censored*: its true cost exceeds what it ran.  The per-seed unit of every criterion is

    log cost(X) − log min over the baselines (i) constant, (i) cosine, (ii) of their cost,

and censoring is resolved so that it can never favour X: a censored baseline counts at its
full run (a lower bound on its cost, so the log-ratio is an upper bound), a censored X at
the longest run of the seed in that clock (so X is never "faster" than a baseline that
reached ε).
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


def criteria(pairs) -> list[Criterion]:
    """One direction criterion per problem, (δ, γ) pair, scheduler (iii)/(iv) and clock."""
    out = []
    for p in sim.PROBLEMS:
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


def units(frame, pairs) -> dict:
    """Per-seed log-ratios of :func:`criteria` from a frame with one row per run:
    ``problem``, ``pair`` (label; "" for (i), which has no δ, γ), ``scheduler``, ``seed``,
    ``steps``, ``samples`` (cost to ε), ``reached``, ``run_steps``, ``run_samples``."""
    data = {}
    for p in sim.PROBLEMS:
        fp = frame[frame["problem"] == p]
        for d, g in pairs:
            lab = pair_label(d, g)
            mine = fp[(fp["pair"] == lab) | (fp["pair"] == "")]
            for clock in CLOCKS:
                full = mine.set_index(["scheduler", "seed"])
                cost = full[clock].where(full["reached"], full[f"run_{clock}"])
                longest = full[f"run_{clock}"].groupby("seed").max()
                base = pd_min([cost.loc[b] for b in BASELINE])
                for x in ACCEL:
                    cx = full.loc[x]
                    cx = cx[clock].where(cx["reached"], longest.loc[cx.index])
                    common = base.index.intersection(cx.index)
                    v = np.log(cx[common] / base[common]).to_numpy()
                    data[f"faster-{clock} {x} {lab} {p}"] = v
    return data


def pd_min(series):
    """Element-wise minimum of aligned pandas Series (by seed)."""
    out = series[0]
    for s in series[1:]:
        out = out.combine(s, min)
    return out
