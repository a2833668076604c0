"""Benchmark: simulated SGD steps per second of the event-driven perceptron simulator against
the plain step-by-step reference, measured in the same run (ISSUE 4, DESIGN.md §4.2).

For each repetition (seed):

1. the event-driven simulator runs a whole training (P = 4096, χ = 0, d = 16, αT = 100,
   B = 4) and is re-run with a checkpoint at 10% of its steps to get that state;
2. from that state both simulators run to the end (every training point fitted): the
   event-driven one and the plain reference (``sgdnoise.simulate.perceptron_reference``,
   which draws every batch and recomputes all P margins after each update);
3. steps/s = steps taken from the 10% state to the end / wall time.  Both continuations
   are independent draws of the same law, so the rates are compared, not the trajectories.

Reported: the median over repetitions of event rate / reference rate, and the pooled ratio
(all steps / all seconds of each method; steadier, since continuations differ a lot in steps
per update).  Target: ≥ 20x.  ``--grid`` also runs the cpu-scale ``sgw23-perceptron``
claim once and records its wall time.  Timings are noisy on a shared machine; numba
compilation is excluded by a warm-up run.

Usage: ``python benchmarks/perceptron.py [--quick] [--grid] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sgdnoise.simulate.perceptron import event_kernel, make_data, simulate  # noqa: E402
from sgdnoise.simulate.perceptron_reference import reference_kernel  # noqa: E402

TARGET = 20.0


def _kernel_seed(seed):
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0] % (2**31))


def measure(cfg, seed):
    """Rates of both simulators from the state at 10% of a full event-driven run (kernels
    timed alone: data generation and result packaging are outside the timings)."""
    P, d, B, alpha, T = cfg["P"], cfg["d"], cfg["B"], cfg["alpha"], cfg["T"]
    coef = T  # η/B = T
    Z, zperp = make_data(P, d, cfg["chi"], seed)
    none = np.zeros(0, np.int64)
    w = np.zeros(d)
    total, *_ = event_kernel(
        Z, zperp, w, 0, coef, B, alpha, _kernel_seed(seed), 2**62, 2**62, none, np.zeros((0, d))
    )
    s10 = int(0.1 * total)
    # same seed, same trajectory: the checkpoint holds Δw after s10 steps
    ck_w = np.zeros((1, d))
    event_kernel(
        Z,
        zperp,
        np.zeros(d),
        0,
        coef,
        B,
        alpha,
        _kernel_seed(seed),
        2**62,
        2**62,
        np.array([s10], np.int64),
        ck_w,
    )
    w10 = ck_w[0]

    w = w10.copy()
    t0 = time.perf_counter()
    ev_steps, ev_up, _, ev_st = event_kernel(
        Z,
        zperp,
        w,
        s10,
        coef,
        B,
        alpha,
        _kernel_seed(seed + 10_000),
        2**62,
        2**62,
        none,
        np.zeros((0, d)),
    )
    t_ev = time.perf_counter() - t0
    w = w10.copy()
    t0 = time.perf_counter()
    rf_steps, rf_up, rf_st = reference_kernel(
        Z, w, s10, coef, B, alpha, _kernel_seed(seed + 20_000), 2**62, none, np.zeros((0, d))
    )
    t_rf = time.perf_counter() - t0
    assert ev_st == 0 and rf_st == 0, "both continuations must end with every point fitted"
    ev_rate = (ev_steps - s10) / t_ev
    rf_rate = (rf_steps - s10) / t_rf
    return {
        "seed": seed,
        "total_steps_full_run": int(total),
        "start_step": s10,
        "event_steps": int(ev_steps - s10),
        "event_updates": int(ev_up),
        "event_seconds": t_ev,
        "event_steps_per_s": ev_rate,
        "reference_steps": int(rf_steps - s10),
        "reference_updates": int(rf_up),
        "reference_seconds": t_rf,
        "reference_steps_per_s": rf_rate,
        "ratio": ev_rate / rf_rate,
    }


def run_grid():
    from sgdnoise.experiments import reproduce

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rec = reproduce(
            "sgw23-perceptron", scale="cpu", out=Path(tmp) / "cpu", progress=False, device="cpu"
        )[0]
        return {
            "seconds": time.perf_counter() - t0,
            "verdict": rec["verdict"],
            "summary": rec["summary"],
        }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smallest settings (P = 512, 1 rep)")
    ap.add_argument("--grid", action="store_true", help="also time the cpu-scale claim")
    ap.add_argument("--json", type=Path, help="write the measured figures here")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    cfg = {"P": 4096, "chi": 0.0, "d": 16, "alpha": 1.0, "T": 100.0, "B": 4}
    reps = args.reps
    if args.quick:
        cfg["P"], reps = 512, 1
    # warm-up: compile (or load) both kernels outside the timings
    simulate(64, cfg["d"], cfg["chi"], cfg["T"], batch_size=cfg["B"], n_test=0)
    simulate(64, cfg["d"], cfg["chi"], cfg["T"], batch_size=cfg["B"], n_test=0, method="reference")
    rows = [measure(cfg, seed) for seed in range(reps)]
    for r in rows:
        print(
            f"seed {r['seed']}: event {r['event_steps_per_s']:.3e} steps/s "
            f"({r['event_steps']} steps, {r['event_seconds']:.3f} s), reference "
            f"{r['reference_steps_per_s']:.3e} steps/s ({r['reference_steps']} steps, "
            f"{r['reference_seconds']:.3f} s), ratio {r['ratio']:.1f}x"
        )
    ratio = statistics.median(r["ratio"] for r in rows)
    # pooled rates (all steps / all time) weigh each continuation by its length, which is
    # steadier than the per-seed ratios: continuations differ a lot in steps per update
    ev_pooled = sum(r["event_steps"] for r in rows) / sum(r["event_seconds"] for r in rows)
    rf_pooled = sum(r["reference_steps"] for r in rows) / sum(r["reference_seconds"] for r in rows)
    out = {
        "benchmark": "perceptron",
        "config": cfg,
        "window": "last 90% of the steps (from the state at 10% of a full run to the end)",
        "baseline": "plain step-by-step SGD (sgdnoise.simulate.perceptron_reference), "
        "continued from the same state in the same run",
        "event_steps_per_s": statistics.median(r["event_steps_per_s"] for r in rows),
        "reference_steps_per_s": statistics.median(r["reference_steps_per_s"] for r in rows),
        "ratio_event_over_reference": ratio,
        "pooled_event_steps_per_s": ev_pooled,
        "pooled_reference_steps_per_s": rf_pooled,
        "pooled_ratio": ev_pooled / rf_pooled,
        "target_ratio": TARGET,
        "meets_target": bool(ratio >= TARGET),
        "repetitions": rows,
        "quick": bool(args.quick),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    print(
        f"median speed-up {ratio:.1f}x, pooled {ev_pooled / rf_pooled:.1f}x "
        f"(target >= {TARGET:g}x at P = 4096)"
    )
    if args.grid and not args.quick:
        out["cpu_grid"] = run_grid()
        print(
            f"cpu-scale grid: {out['cpu_grid']['seconds']:.1f} s, "
            f"verdict {out['cpu_grid']['verdict']}"
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
