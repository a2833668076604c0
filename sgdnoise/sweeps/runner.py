"""Running a sweep: validate, resume, execute, record (DESIGN.md §6, §7).

:func:`run_sweep` validates everything before it writes anything (the spec, the executor
arguments, an existing store's schema version, a Dask scheduler's reachability), then:

1. records the session (spec, executor, versions) and inserts every grid point as a
   ``pending`` run (existing keys untouched, so nothing is ever doubled);
2. skips runs whose status is final (``done`` or ``diverged``) and runs the rest —
   ``pending``, ``failed`` and ``running`` (the last were in flight when an earlier
   coordinator was killed);
3. keeps about twice the executor's capacity in flight (marked ``running``), so a kill
   loses at most those, and commits each outcome as it arrives;
4. shows one progress bar: runs finished of the grid, failed and diverged counts, ETA.

With ``batch=Batch(...)`` (:mod:`sgdnoise.sweeps.batching`) the runs still pending are
grouped into tasks of several points each; "in flight" then counts tasks, every point of a
task in flight is marked ``running``, and each point's outcome is recorded under its key.

A store remembers each sweep name's worker and fixed settings (resolved: defaults
included).  Running the same name with a changed setting is refused with one line naming
the setting (``on_change="refuse"``, the default), or — with ``on_change="variant"`` —
recorded as the sweep ``NAME@2`` (``@3``...), whose runs the report shows apart with the
settings that differ.  A schema-1 store is migrated to the current run keys first.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ParameterError
from ..validation import choice
from .batching import Batch, check_batch, tasks
from .executors import DaskExecutor, LocalExecutor, make_executor
from .spec import (
    SweepSpec,
    canonical_json,
    function_identity,
    load_spec,
    resolve_params,
    run_key,
    worker_ref,
)
from .store import FINAL, STATUSES, Store, check_store

ON_CHANGE = ("refuse", "variant")


@dataclass
class SweepSummary:
    """What a sweep did: grid size, how many were already final, and the final counts."""

    store: str
    sweep: str
    executor: str
    total: int
    skipped: int
    ran: int
    counts: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    task_seconds: float = 0.0  # Σ of the runs' wall times, measured in the workers
    task_cpu_seconds: float = 0.0  # Σ of their process CPU times

    @property
    def complete(self) -> bool:
        """Every grid point has a final status (done or diverged)."""
        return sum(self.counts.get(s, 0) for s in FINAL) == self.total

    def line(self) -> str:
        c = self.counts
        return (
            f"sweep {self.sweep}: {self.total} runs ({self.skipped} already final, {self.ran} run"
            f" now): {c.get('done', 0)} done, {c.get('diverged', 0)} diverged, "
            f"{c.get('failed', 0)} failed in {self.wall_seconds:.1f} s → {self.store}"
        )


def run_sweep(
    spec,
    store,
    *,
    executor="local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    connect_timeout: float = 10.0,
    on_change: str = "refuse",
    batch: Batch | None = None,
) -> SweepSummary:
    """Run (or resume) the sweep ``spec`` into the SQLite file ``store``.

    ``spec``: a TOML path, a dict or a :class:`SweepSpec`.  ``executor``: ``"local"``
    (process pool of ``workers``), ``"dask"`` (a LocalCluster of ``workers`` processes, or
    the scheduler at ``scheduler``), or an already started executor object, which is
    then left running.  ``on_change``: what a changed fixed setting under a sweep name the
    store already holds does (module docstring).  ``batch``: group pending points into
    tasks (:class:`~sgdnoise.sweeps.batching.Batch`; None runs one point per task).
    Raises :class:`ParameterError` on bad input, with nothing written.
    """
    choice("on_change", on_change, ON_CHANGE)
    batch = check_batch(batch)
    spec = spec if isinstance(spec, SweepSpec) else load_spec(spec)
    keyed = [(run_key(spec.function, c), c) for c in spec.configs()]
    store = Path(store)
    if check_store(store) is None and not store.parent.is_dir():
        raise ParameterError("store", str(store), "its folder does not exist")
    if check_store(store) is not None:  # a changed setting is refused before any write
        with Store(store) as st:
            _sweep_name(spec, st, on_change)
    owns = not isinstance(executor, LocalExecutor | DaskExecutor)
    if owns:
        ex = make_executor(
            executor, workers=workers, scheduler=scheduler, connect_timeout=connect_timeout
        )
    else:
        ex = executor
    clean = False
    try:
        with Store.create_or_open(store) as st:
            st.lock()
            st.migrate(_rekey)
            summary = _execute(spec, keyed, st, ex, progress, on_change, batch)
        clean = True
        return summary
    finally:
        if owns:
            ex.close(wait=clean)


def _rekey(function: str, config: dict) -> tuple[str, str]:
    """A schema-1 run's (worker name, key) under the current keys."""
    name, _ = function_identity(function)
    try:
        return name, run_key(function, config)
    except ParameterError:  # a value its function no longer accepts: keyed as given
        payload = canonical_json({"function": name, "config": dict(config)})
        return name, hashlib.sha256(payload.encode()).hexdigest()


def fixed_settings(spec: SweepSpec) -> tuple[str, dict]:
    """``(worker name, fixed settings)`` of a spec, resolved: the worker's defaults of every
    parameter no axis varies are included, so spelling a default out changes nothing."""
    name, fn = function_identity(spec.function)
    if fn is None:
        return name, dict(spec.fixed)
    resolved = resolve_params(fn, spec.fixed)
    return name, {k: v for k, v in resolved.items() if k not in spec.axes}


def _differs(old: dict, new: dict) -> tuple[str, object, object] | None:
    for k in sorted(set(old) | set(new)):
        if old.get(k, "<not set>") != new.get(k, "<not set>"):
            return k, old.get(k, "<not set>"), new.get(k, "<not set>")
    return None


def _sweep_name(spec: SweepSpec, st: Store, on_change: str) -> str:
    """The sweep name the runs are recorded under: ``spec.name`` when the store does not
    know it or knows it with the same worker and fixed settings; else refused, or (variant)
    the first ``NAME@k`` that matches or is free."""
    name, fixed = fixed_settings(spec)
    k, label = 1, spec.name
    while True:
        known = st.sweep_settings(label)
        if known is None:
            return label
        if known["function"] != name:
            diff = ("function", known["function"], name)
        else:
            diff = _differs(known["fixed"], fixed)
        if diff is None:
            return label
        if on_change == "refuse":
            what, old, new = diff
            raise ParameterError(
                "function" if what == "function" else f"fixed.{what}",
                new,
                f"sweep {spec.name!r} in {st.path} was run with {what} = {old!r}; its runs "
                "would be mixed: keep the setting, give this sweep a new name, use another "
                "store, or pass on_change='variant' (CLI: --variant) to keep them apart",
            )
        k += 1
        label = f"{spec.name}@{k}"


def _execute(
    spec: SweepSpec,
    keyed,
    st: Store,
    ex,
    progress: bool,
    on_change: str = "refuse",
    batch: Batch | None = None,
) -> SweepSummary:
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    sweep = _sweep_name(spec, st, on_change)
    name, fixed = fixed_settings(spec)
    st.record_sweep(sweep, name, fixed)
    session = st.begin_session(dict(spec.as_dict(), name=sweep), ex.kind, ex.capacity)
    st.add_runs(sweep, name, keyed)
    target = worker_ref(spec.function)
    status = st.statuses()
    todo = [(k, c) for k, c in keyed if status[k] not in FINAL]
    where = ex.describe() + (f", batched by {batch.function}" if batch is not None else "")
    ran = len(todo)
    summary = SweepSummary(str(st.path), sweep, where, len(keyed), len(keyed) - ran, ran)
    queue = iter(tasks(batch, todo))
    inflight: dict = {}  # future -> the keys of its task
    counts = dict.fromkeys(STATUSES, 0)
    bar = tqdm(
        total=len(keyed),
        initial=summary.skipped,
        desc=sweep,
        unit="run",
        disable=not progress,
        dynamic_ncols=True,
    )

    def fill():
        more = []
        if len(inflight) >= 2 * ex.capacity:
            return
        for task in queue:
            more.append(task)
            if len(inflight) + len(more) >= 2 * ex.capacity:
                break
        if more:
            # Marked before submission: a kill in between leaves them 'running' → re-run.
            st.mark_running([k for task in more for k, _ in task], session)
            for task in more:
                keys = [k for k, _ in task]
                if batch is None:
                    fut = ex.submit(target, keys[0], task[0][1])
                else:
                    fut = ex.submit_batch(batch.function, keys, [c for _, c in task])
                inflight[fut] = keys

    def collect(fut, keys) -> list[dict]:
        if batch is None:
            return [ex.outcome(fut, keys[0])]
        return ex.outcomes(fut, keys)

    try:
        fill()
        while inflight:
            done, _ = ex.wait(list(inflight), timeout=1.0)
            for fut in done:
                keys = inflight.pop(fut)
                for out in collect(fut, keys):
                    st.record(out, session)
                    counts[out["status"]] += 1
                    if math.isfinite(out["seconds"]):
                        summary.task_seconds += out["seconds"]
                        summary.task_cpu_seconds += out["cpu_seconds"]
                    bar.set_postfix(
                        failed=counts["failed"], diverged=counts["diverged"], refresh=False
                    )
                    bar.update(1)
            fill()
    finally:
        bar.close()
        if inflight:  # interrupted (Ctrl-C): what was in flight is simply not finished
            with st.con:
                st.con.executemany(
                    "UPDATE runs SET status='pending' WHERE key=? AND status='running'",
                    [(k,) for keys in inflight.values() for k in keys],
                )
    final = st.statuses([k for k, _ in keyed])
    summary.counts = {s: sum(1 for v in final.values() if v == s) for s in STATUSES}
    summary.wall_seconds = time.perf_counter() - t0
    return summary
