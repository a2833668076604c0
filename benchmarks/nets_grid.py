"""The P19 cpu grid both ways in one run: per-run (today's worker, one ``train`` per grid point,
evaluated every epoch) vs batched ensembles (``p19_points``: lr × seed members of one
(family, width, batch) trained at once, evaluated where the scores need it), issue 14.

The MLP families of the cpu grid (``all_families``: every family; the BN ResNet family's
members run one after another on CPU — the engine's exact loop of single-run kernels — so
batching has little to show there).  The batched way
trains each (family, width, batch) group as the sweep does: all its
``seeds`` × rates points (default: the cpu scale's 8 seeds, 56 points a group), cut into
the fewest even tasks of at most the ensemble size (:func:`sgdnoise.sweeps.batching.
even_chunks`).  The per-run way trains the first ``per_run_seeds`` of those seeds (default
2) — a run's cost does not depend on how many other seeds the grid has — and its time is
scaled by ``seeds / per_run_seeds`` to the same points (``per_run_seconds``; the measured
time is ``per_run_seconds_measured``).  Both ways run in this process on one thread (the
sweep's workers are single-threaded too), group by group, the two ways alternating first,
so that load on a shared machine hits both alike.  Figures:

* ``ratios.grid_batched_over_per_run`` — per-run wall / batched wall over the same points
  (target ≥ 4);
* ``fraction_of_peak[width]`` — the batched runs' useful float32 FLOP/s at that width
  (training: 6·B·Σ n_in·n_out per member-step, less the first layer's unneeded input
  gradient; evaluations: 2·Σ n_in·n_out per point) over the machine's float32 matmul peak
  measured around each group's batched run (median of six 1024³ products: the load on a
  shared machine drifts several-fold within a run) (target ≥ 0.4 for widths ≥ 128);
* ``max_abs_metric_difference`` — the largest difference between the two ways' late test
  accuracies on the points both ran (0 on CPU: members follow the single runs bit for bit);
* ``load_average`` — the machine's 1-minute load average at the start and the end.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
import torch


def matmul_rates(repeats: int = 7, n: int = 1024) -> list[float]:
    """float32 GFLOP/s of repeated n×n×n products on this thread."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        rates.append(2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return rates


def _macs(data_dim: int, width: int, depth: int, classes: int) -> tuple[int, int]:
    """(Σ n_in·n_out over the linear layers, the first layer's n_in·n_out)."""
    dims = [data_dim] + [width] * depth + [classes]
    return sum(a * b for a, b in zip(dims, dims[1:])), dims[0] * dims[1]


def bench_grid(
    data_dir,
    device,
    quick: bool,
    seeds: int | None = None,
    per_run_seeds: int | None = None,
    all_families: bool = False,
) -> dict:
    from sgdnoise.experiments import _p19_grid as g
    from sgdnoise.sweeps.batching import even_chunks

    torch.set_num_threads(1)
    load = [os.getloadavg()[0]]
    s = g.SETTINGS["cpu"]
    n_seeds = seeds or (1 if quick else s.seeds)
    n_pr = min(per_run_seeds or 2, n_seeds)
    # the MLP families: on CPU the BN ResNet family's members run one after another through
    # single-run kernels (the engine's LoopStack), so batching has little to show there
    fams = tuple(f for f in s.families if f.arch == "mlp" or all_families)
    fams = fams if not quick else fams[:1]
    widths_of = (lambda f: f.widths[:1]) if quick else (lambda f: f.widths)
    epochs = 2 if quick else s.epochs
    rates = matmul_rates()
    fixed = dict(
        dataset=s.dataset, data_dir=str(data_dir), n_train=s.n_train, n_test=s.n_test,
        image_size=s.image_size, data_seed=0, epochs=epochs, depth=s.depth,
        late_fraction=s.late_fraction, device=device.type, threads=1,
    )  # fmt: skip
    per_run_s = per_run_measured = batched_s = 0.0
    by_width: dict[int, list[float]] = {}
    by_group: dict[str, dict] = {}
    worst = 0.0
    groups = 0
    for f in fams:
        n_train = getattr(f, "n_train", None) or s.n_train
        f_seeds = min(n_seeds, getattr(f, "seeds", None) or n_seeds)
        for w in widths_of(f):
            for b in getattr(f, "batches", None) or s.batches:
                configs = [
                    dict(fixed, n_train=n_train, arch=f.arch, parameterization=f.parameterization,
                         batch_norm=f.batch_norm, width=w, lr=float(lr), batch=b, seed=seed)
                    for lr in f.lrs
                    for seed in range(f_seeds)
                ]  # fmt: skip
                sample = [c for c in configs if c["seed"] < n_pr]
                size = g.p19_size(configs[0])
                g.p19_points(configs[:1])  # data cached and kernels warm for both ways

                def batched(configs=configs, size=size):
                    out = []
                    for chunk in even_chunks(configs, size):
                        out += g.p19_points(chunk)
                    return out

                def per_run(configs=sample):
                    return [g.p19_point(**c) for c in configs]

                order = (batched, per_run) if groups % 2 == 0 else (per_run, batched)
                times, res = {}, {}
                for fn in order:
                    if fn is batched:  # the peak under the load of this moment
                        local = matmul_rates(3)
                    t0 = time.perf_counter()
                    res[fn.__name__] = fn()
                    times[fn.__name__] = time.perf_counter() - t0
                    if fn is batched:
                        local += matmul_rates(3)
                rates += local
                groups += 1
                scaled = times["per_run"] * len(configs) / len(sample)
                per_run_s += scaled
                per_run_measured += times["per_run"]
                batched_s += times["batched"]
                both = [a for c, a in zip(configs, res["batched"]) if c["seed"] < n_pr]
                for a, c in zip(both, res["per_run"]):
                    x, y = a["test_acc_late"], c["test_acc_late"]
                    if not (np.isnan(x) and np.isnan(y)):
                        worst = max(worst, abs(x - y))
                # useful FLOPs of the batched way: steps until each member stopped
                macs, first = _macs(3 * s.image_size**2, w, s.depth, 10)
                per_step = 6 * b * macs - 2 * b * first
                steps = [
                    (r.get("diverged_step") if "diverged_step" in r else None)
                    for r in res["batched"]
                ]
                n_steps = sum(st if st is not None else epochs * -(-n_train // b) for st in steps)
                late = g._late_epochs(epochs, s.late_fraction)
                evals = sum((len(late) * s.n_test + n_train) for st in steps if st is None)
                flops = n_steps * per_step + evals * 2 * macs
                acc = by_width.setdefault(w, [0.0, 0.0])
                acc[0] += flops
                acc[1] += times["batched"] * statistics.median(local) * 1e9
                by_group[f"{f.name} k={w} B={b}"] = {
                    "points": len(configs),
                    "ensemble_size": size,
                    "per_run_seconds": scaled,
                    "batched_seconds": times["batched"],
                    "ratio": scaled / times["batched"],
                }
                print(
                    f"grid {f.name} k={w} B={b}: {len(configs)} runs, ensemble {size}, "
                    f"per-run {scaled:.2f} s ({len(sample)} measured), "
                    f"batched {times['batched']:.2f} s, ratio {scaled / times['batched']:.2f}",
                    flush=True,
                )
    rates += matmul_rates()
    peak = statistics.median(rates)
    # per width: useful FLOPs over Σ (batched time × the peak timed around that group), as
    # the load on a shared machine drifts by several times within one run
    frac = {str(w): fl / cap for w, (fl, cap) in sorted(by_width.items())}
    load.append(os.getloadavg()[0])
    return {
        "runs": sum(g_["points"] for g_ in by_group.values()),
        "families": [f.name for f in fams],
        "seeds": n_seeds,
        "per_run_seeds": n_pr,
        "per_run_seconds_measured": per_run_measured,
        "by_group": by_group,
        "load_average": load,
        "epochs": epochs,
        "per_run_seconds": per_run_s,
        "batched_seconds": batched_s,
        "ratio": per_run_s / batched_s,
        "ratios": {"grid_batched_over_per_run": per_run_s / batched_s},
        "peak_gflops": peak,
        "peak_gflops_samples": rates,
        "fraction_of_peak": frac,
        "max_abs_metric_difference": worst,
        "baseline": "the per-run sweep's worker p19_point on the same grid points, same thread "
        "(timed on the first per_run_seeds seeds, scaled to all)",
        "target": ">= 4 (wall); fraction_of_peak >= 0.4 for widths >= 128",
        "load_note": "a shared machine: peak and both ways are measured under the same load, "
        "alternating which way runs first per group",
    }
