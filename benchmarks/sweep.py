"""Sweep overhead: many ~0.25 s tasks of real SGD through the local pool and through Dask.

Each task is :func:`sgdnoise.sweeps.tasks.noisy_quadratic_sgd` (minibatch SGD on a
least-squares problem) with its number of steps calibrated in this process so that one
task takes about ``--task-seconds``.  Every task has its own seed, so every one is a
distinct run with its own record in the store.

For each executor the sweep runs into a fresh SQLite store and we report

    overhead = wall · workers / Σ task time − 1,

where ``wall`` is the sweep's wall time (store writes, scheduling and the progress
bookkeeping included; executor start-up reported separately) and ``Σ task time`` the sum of
the tasks' wall times measured inside the workers — the baseline, measured in the same
run.  Because the coordinator shares the cores with the workers, its own CPU time is
reported too, as a fraction of the tasks' CPU time.  The same tasks through a bare
``ProcessPoolExecutor.map`` (no store, no runner) give
a second baseline that separates our machinery from what the OS and the pool cost anyway.

    python benchmarks/sweep.py [--tasks 400] [--task-seconds 0.25] [--workers N]
                               [--executors local,dask,raw] [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sgdnoise.sweeps import DaskExecutor, LocalExecutor, run_sweep  # noqa: E402
from sgdnoise.sweeps.executors import default_workers  # noqa: E402
from sgdnoise.sweeps.tasks import noisy_quadratic_sgd  # noqa: E402
from sgdnoise.sweeps.worker import execute  # noqa: E402

FIXED = {"lr": 0.05, "batch": 8, "dim": 8, "n_train": 256}


def calibrate(target: float) -> int:
    """Steps for one task to take about ``target`` seconds here, now."""
    steps = 2000
    for _ in range(4):
        t0 = time.perf_counter()
        noisy_quadratic_sgd(steps=steps, record_every=steps, seed=0, **FIXED)
        dt = time.perf_counter() - t0
        steps = max(50, int(steps * target / max(dt, 1e-4)))
        if abs(dt - target) < 0.1 * target:
            break
    return steps


def spec_for(n: int, steps: int, name: str) -> dict:
    return {
        "name": name,
        "function": "noisy-quadratic",
        "fixed": {**FIXED, "steps": steps, "record_every": max(1, steps // 10)},
        "product": {"seed": list(range(n))},
    }


def run_store(kind: str, n: int, steps: int, workers: int, folder: Path) -> dict:
    t0 = time.perf_counter()
    if kind == "local":
        ex = LocalExecutor(workers)
        ex.warm()
    else:
        ex = DaskExecutor(workers)
    started = time.perf_counter() - t0
    try:
        c0 = time.process_time()
        s = run_sweep(spec_for(n, steps, kind), folder / f"{kind}.db", executor=ex, progress=False)
        coord = time.process_time() - c0
    finally:
        ex.close()
    assert s.complete, s.line()
    return _figures(
        kind, s.wall_seconds, s.task_seconds, s.task_cpu_seconds, coord, workers, n, started
    )


def run_raw(n: int, steps: int, workers: int) -> dict:
    """The same tasks through a bare spawn pool: no store, no runner."""
    spec = spec_for(n, steps, "raw")
    cfgs = [{**spec["fixed"], "seed": s} for s in spec["product"]["seed"]]
    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(int, range(workers)))  # start the workers before timing
        started = time.perf_counter() - t0
        t1, c1 = time.perf_counter(), time.process_time()
        outs = list(pool.map(execute, ["noisy-quadratic"] * n, [str(i) for i in range(n)], cfgs))
        wall = time.perf_counter() - t1
        coord = time.process_time() - c1
    assert all(o["status"] == "done" for o in outs)
    task = sum(o["seconds"] for o in outs)
    cpu = sum(o["cpu_seconds"] for o in outs)
    return _figures("raw", wall, task, cpu, coord, workers, n, started)


def _figures(kind, wall, task_sum, cpu_sum, coord_cpu, workers, n, started) -> dict:
    return {
        "executor": kind,
        "tasks": n,
        "workers": workers,
        "startup_seconds": round(started, 3),
        "wall_seconds": round(wall, 3),
        "task_seconds_sum": round(task_sum, 3),
        "mean_task_seconds": round(task_sum / n, 4),
        "task_cpu_seconds_sum": round(cpu_sum, 3),
        # < 1 when other processes took CPU from the tasks (a shared machine)
        "task_cpu_over_wall": round(cpu_sum / task_sum, 4),
        # CPU the coordinating process used (store, scheduling; the Dask scheduler thread of a
        # LocalCluster included): on shared cores it is taken from the workers, which the
        # wall-based overhead does not see.
        "coordinator_cpu_seconds": round(coord_cpu, 3),
        "coordinator_cpu_over_task_cpu": round(coord_cpu / cpu_sum, 4),
        "tasks_per_second": round(n / wall, 3),
        "overhead": round(wall * workers / task_sum - 1, 4),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=400)
    p.add_argument("--task-seconds", type=float, default=0.25)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--executors", default="local,dask,raw")
    p.add_argument("--quick", action="store_true", help="16 tasks of 0.02 s (smoke test)")
    p.add_argument("--json", default=None, help="write the measured figures here")
    a = p.parse_args(argv)
    if a.quick:
        a.tasks, a.task_seconds = 16, 0.02
    workers = a.workers or default_workers()
    kinds = [k for k in a.executors.split(",") if k]
    load0 = os.getloadavg()
    steps = calibrate(a.task_seconds)
    print(
        f"{a.tasks} tasks of ~{a.task_seconds} s ({steps} SGD steps), {workers} workers; "
        f"load average {load0[0]:.2f} on {os.cpu_count()} cores"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            if kind == "raw":
                r = run_raw(a.tasks, steps, workers)
            else:
                r = run_store(kind, a.tasks, steps, workers, Path(tmp))
            results[kind] = r
            print(
                f"{kind:>5}: wall {r['wall_seconds']:.2f} s, Σ task {r['task_seconds_sum']:.2f} s"
                f" (mean {r['mean_task_seconds']:.3f} s), {r['tasks_per_second']:.2f} tasks/s,"
                f" overhead {100 * r['overhead']:.1f}% (start-up {r['startup_seconds']:.2f} s;"
                f" task CPU/wall {r['task_cpu_over_wall']:.2f}; coordinator CPU"
                f" {100 * r['coordinator_cpu_over_task_cpu']:.1f}% of task CPU)"
            )
    load1 = os.getloadavg()
    ratios = {
        f"{k}_overhead": {
            "value": r["overhead"],
            "baseline": "sum of the tasks' own wall times (measured in the workers) / workers",
        }
        for k, r in results.items()
    }
    for k in ("local", "dask"):
        if k in results and "raw" in results:
            ratios[f"{k}_wall_over_raw_pool"] = {
                "value": round(results[k]["wall_seconds"] / results["raw"]["wall_seconds"], 4),
                "baseline": "the same tasks through a bare ProcessPoolExecutor.map, same run",
            }
    print(f"load average after: {load1[0]:.2f}")
    if a.json:
        Path(a.json).write_text(
            json.dumps(
                {
                    "benchmark": "sweep",
                    "tasks": a.tasks,
                    "target_task_seconds": a.task_seconds,
                    "calibrated_steps": steps,
                    "workers": workers,
                    "cpu_count": os.cpu_count(),
                    "load_average_before": load0,
                    "load_average_after": load1,
                    "python": platform.python_version(),
                    "results": results,
                    "ratios": ratios,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
