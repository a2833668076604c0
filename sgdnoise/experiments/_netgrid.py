"""Shared plumbing of the network-grid claims (P19 width, BG21 CIFAR): data cached per
worker process, late-training averages, and running a claim's sweep specs into the
claim's own store ``ctx.out_dir / "study.sqlite"``.

Worker processes import this module (through the claim modules' sweepable functions);
it imports torch only inside functions, so importing a claim module does no work.
"""

from __future__ import annotations

import math

import numpy as np

_DATA: dict = {}


def cached_data(
    *,
    dataset: str,
    data_dir: str,
    n_train: int,
    n_test: int,
    data_seed: int,
    image_size: int,
    device: str,
    domain_shift: dict | None = None,
):
    """The (optionally domain-shifted, then downsampled) dataset, loaded once per process.

    Every run of a sweep uses the same subset (``data_seed``), so a worker loads it once;
    the key holds every argument, so runs with other data never share a copy.
    """
    key = (
        dataset,
        data_dir,
        n_train,
        n_test,
        data_seed,
        image_size,
        device,
        None if domain_shift is None else tuple(sorted(domain_shift.items())),
    )
    if key not in _DATA:
        from ..nets import load_dataset
        from ..nets.shifts import domain_shifted, downsample

        data = load_dataset(
            dataset,
            data_dir=data_dir,
            n_train=n_train or None,  # 0 in a spec = the whole set (specs hold no None)
            n_test=n_test or None,
            seed=data_seed,
            device=device,
            download=False,
        )
        if domain_shift is not None:
            data = domain_shifted(data, **domain_shift)
        while len(_DATA) >= 2:  # a dataset and its shifted twin: memory stays bounded
            _DATA.pop(next(iter(_DATA)))
        _DATA[key] = downsample(data, image_size)
    return _DATA[key]


def late_mean(history: list[dict], name: str, fraction: float) -> float:
    """Mean of ``name`` over the last ``fraction`` of the evaluations (at least one): the
    "late in training" average that P19 score runs by (constant SGD never settles, so one
    final value carries the step-to-step fluctuation)."""
    vals = [r[name] for r in history if name in r]
    if not vals:
        return math.nan
    k = max(1, int(round(fraction * len(vals))))
    return float(np.mean(vals[-k:]))


def set_threads(threads: int) -> None:
    """Pin torch's intra-op threads in a worker (tiny nets: more threads only add overhead)."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def adopt_sibling_store(ctx, sibling: str) -> bool:
    """Start this claim's store as a copy of claim ``sibling``'s, when that claim's finished
    folder lies beside this one (as ``sgdnoise reproduce all`` writes them) and this claim
    has no store yet.  Claims that read one grid (p19-width and p19-bmax) then train it
    once: :func:`run_specs` resumes the copy, running only what is missing, and reads back
    only the runs of the claim's own specs (so a sibling run at another scale or on other
    data adds unused rows, never wrong ones).  The sibling's store is only read.
    Returns True when a store was adopted."""
    import sqlite3
    from contextlib import closing

    dst = ctx.out_dir / "study.sqlite"
    final = ctx.out_dir.with_name(ctx.out_dir.name.removesuffix(".partial"))
    src = final.parent / sibling / "study.sqlite"
    if dst.exists() or not src.is_file() or final.name == sibling:
        return False
    with closing(sqlite3.connect(src)) as a, closing(sqlite3.connect(dst)) as b:
        a.backup(b)  # consistent even with the sibling's WAL file beside it
    return True


def run_specs(ctx, specs: list[dict], *, workers: int):
    """Run each spec into ``ctx.out_dir/study.sqlite`` on one process pool; the runs' frame.

    The pool is started once for all specs (a worker's torch import costs seconds).
    Raises RuntimeError when a run failed (an exception inside the experiment): a claim
    must not give a verdict on a grid with holes it cannot explain.
    """
    from ..sweeps import Store, run_sweep
    from ..sweeps.executors import LocalExecutor
    from ..sweeps.spec import load_spec, run_key

    store = ctx.out_dir / "study.sqlite"
    ex = LocalExecutor(workers)
    summaries = []
    try:
        for spec in specs:
            summaries.append(run_sweep(spec, store, executor=ex, progress=ctx.progress))
    finally:
        ex.close()
    with Store(store) as st:
        df = st.to_frame()
    # only this claim's grid: a store adopted from a sibling claim may hold other runs
    keys = {run_key(sp.function, c) for sp in map(load_spec, specs) for c in sp.configs()}
    df = df[df["key"].isin(keys)].reset_index(drop=True)
    failed = df[df["status"] == "failed"]
    if len(failed):
        raise RuntimeError(
            f"{len(failed)} of {len(df)} runs failed; first error:\n{failed['error'].iloc[0]}"
        )
    return df, summaries
