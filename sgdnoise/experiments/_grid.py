"""The one grid skeleton of every claim (DESIGN.md §10, steps 2–3): a claim's sweep specs
run through :mod:`sgdnoise.sweeps` into the claim's own store ``ctx.out_dir /
"study.sqlite"`` (resumable, kill-safe) with an explicit failed-run policy, and come back
as one frame with an explicit status per run: ``done``, ``diverged``, ``capped`` (a run
stopped by a step/time cap: it has no fitted time, only a bound) or ``failed``.

Worker data live in :mod:`._netdata` (the one worker data cache).  Worker processes import
this module through the claim modules' sweepable functions; it imports torch only inside
functions, so importing a claim module does no work.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..errors import ParameterError


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
    once: :func:`run_grid` resumes the copy, running only what is missing, and reads back
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


FAILED_POLICIES = ("raise", "drop")
_BAD_INPUT = re.compile(r"^sgdnoise\.errors\.ParameterError: invalid (.+?)=(.*): (.*)$")


class _Shown(str):
    """A value already written as it should appear (``repr`` adds no quotes)."""

    def __repr__(self) -> str:
        return str(self)


def _reraise_bad_input(errors) -> None:
    """When a worker refused its input (a ParameterError, e.g. a data file that is missing or
    fails its checksum), raise that same one-line error here, so the user reads it instead of
    a worker's traceback (issue 16)."""
    for text in errors.dropna():
        last = str(text).strip().splitlines()[-1] if str(text).strip() else ""
        m = _BAD_INPUT.match(last)
        if m:
            raise ParameterError(m.group(1), _Shown(m.group(2)), m.group(3))


def run_grid(
    ctx,
    specs: list[dict],
    *,
    workers: int,
    failed: str = "raise",
    capped: str | None = None,
    store_name: str = "study.sqlite",
    ensemble=None,
):
    """Run each spec into ``ctx.out_dir/store_name`` on one process pool; the runs' frame.

    The pool is started once for all specs (a worker's torch import costs seconds).
    ``failed`` is the failed-run policy (a run whose experiment raised):

    * ``"raise"`` (default): RuntimeError naming the count and the first error — a claim
      must not give a verdict on a grid with holes it cannot explain;
    * ``"drop"``: the failed runs stay in the frame with status ``failed`` (the claim's
      criteria see fewer seeds and say so through their ``n``).

    ``capped``: the name of a boolean metric that marks a run stopped by its cap; such a
    done run gets status ``capped`` (criteria that need a fitted time must exclude it).
    ``ensemble``: :class:`~._grid_ensemble.EnsemblePlan` s — the runs of those per-run
    workers are trained as batched ensembles (the sweeps' :class:`~sgdnoise.sweeps.Batch`
    hook), recorded per run under the same keys.
    Returns ``(frame, summaries)``.
    """
    from ..validation import choice

    choice("failed", failed, FAILED_POLICIES)
    from ..sweeps import Store, run_sweep
    from ..sweeps.executors import LocalExecutor
    from ..sweeps.spec import load_spec, run_key
    from ._grid_ensemble import batch_for

    store = ctx.out_dir / store_name
    ex = LocalExecutor(workers)
    summaries = []
    try:
        for spec in specs:
            batch = batch_for(spec["function"], ensemble) if ensemble else None
            summaries.append(
                run_sweep(spec, store, executor=ex, progress=ctx.progress, batch=batch)
            )
    finally:
        ex.close()
    with Store(store) as st:
        df = st.to_frame()
    # only this claim's grid: a store adopted from a sibling claim may hold other runs
    keys = {run_key(sp.function, c) for sp in map(load_spec, specs) for c in sp.configs()}
    df = df[df["key"].isin(keys)].reset_index(drop=True)
    if capped is not None and capped in df:
        hit = (df["status"] == "done") & df[capped].fillna(0).astype(bool)
        df.loc[hit, "status"] = "capped"
    bad = df[df["status"] == "failed"]
    if len(bad) and failed == "raise":
        _reraise_bad_input(bad["error"])
        raise RuntimeError(
            f"{len(bad)} of {len(df)} runs failed; first error:\n{bad['error'].iloc[0]}"
        )
    return df, summaries
