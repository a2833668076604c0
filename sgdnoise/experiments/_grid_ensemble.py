"""Grid points as batched ensembles inside the sweeps store (issue 14).

:class:`EnsembleExecutor` is a :class:`~sgdnoise.sweeps.executors.LocalExecutor` that the
sweep runner drives as usual — it marks runs ``running``, submits them one by one, waits,
and records each outcome under the run's own key — but it trains the submitted runs of a
per-run worker that has an :class:`EnsemblePlan` together: runs whose configs differ only
in the plan's member axes (e.g. learning rate and seed) go, in chunks of the plan's
ensemble size, to one pool task that calls the plan's batched function once and returns
one outcome per member.  Keys, statuses, resume (a killed sweep re-runs what was
``running``), the failed-run policy and reports are therefore those of per-run sweeps;
only the work per pool task changes.  Other workers run one config per task as before.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from ..sweeps.executors import LocalExecutor
from ..sweeps.spec import canonical_json, resolve_function
from ..sweeps.worker import failed_outcome, normalize

_resolved: dict[str, Callable] = {}


def _function(ref: str) -> Callable:
    """The function ``ref`` names, imported once per process."""
    fn = _resolved.get(ref)
    if fn is None:
        fn = _resolved[ref] = resolve_function(ref)
    return fn


@dataclass(frozen=True)
class EnsemblePlan:
    """How to batch the runs of the per-run worker ``per_run`` (a ``module:function`` ref):
    ``batched`` (a ref) takes a list of configs that agree outside ``members`` and returns
    one result dict per config, each what ``per_run`` would return; ``size(config)`` (a ref
    to ``f(config) -> int``) is the most members per task; ``max_members`` bounds the runs
    the runner keeps in flight per worker process."""

    per_run: str
    batched: str
    size: str
    members: tuple[str, ...] = ("lr", "seed")
    max_members: int = 64


def group_key(config: dict, members: tuple[str, ...]) -> str:
    """What members of one ensemble share: the config without the member axes."""
    return canonical_json({k: v for k, v in config.items() if k not in members})


def run_chunk(batched: str, keys: list[str], configs: list[dict]) -> list[dict]:
    """Pool task: the batched function on ``configs``; one outcome dict per run (the format
    of :func:`sgdnoise.sweeps.worker.execute`), its wall and CPU time an equal share of the
    task's.  An exception fails every member with the traceback."""
    t0, c0 = time.perf_counter(), time.process_time()
    outs = [{"key": k, "error": None, "metrics": {}, "curves": {}} for k in keys]
    try:
        results = _function(batched)(configs)
        if len(results) != len(configs):
            raise TypeError(f"{batched} returned {len(results)} results for {len(configs)}")
        for out, res in zip(outs, results):
            try:
                out.update(normalize(res))
            except Exception:  # noqa: BLE001 - one bad member is that member's failure
                out["status"] = "failed"
                out["error"] = traceback.format_exc(limit=20)[-20000:]
    except Exception:  # noqa: BLE001 - a failed task is a recorded result per member
        err = traceback.format_exc(limit=20)[-20000:]
        for out in outs:
            out.update(status="failed", error=err, metrics={}, curves={})
    share = max(len(keys), 1)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    for out in outs:
        out["seconds"], out["cpu_seconds"] = wall / share, cpu / share
        out["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return outs


class EnsembleExecutor(LocalExecutor):
    """A local process pool that trains runs of planned workers as batched ensembles."""

    kind = "local-ensemble"

    def __init__(self, workers: int | None, plans: list[EnsemblePlan]):
        super().__init__(workers)
        self.plans = {p.per_run: p for p in plans}
        from ..sweeps import tasks

        # the runner may submit a registered worker by its name
        for name, ref in getattr(tasks, "BUILTIN", {}).items():
            if ref in self.plans:
                self.plans[name] = self.plans[ref]
        self._sizes: dict[str, Callable] = {}
        self._pending: list[tuple[EnsemblePlan, str, dict, cf.Future]] = []

    @property
    def capacity(self) -> int:
        # the runner keeps 2 × capacity runs in flight: enough for full ensembles per worker
        most = max((p.max_members for p in self.plans.values()), default=1)
        return self.workers * most

    def describe(self) -> str:
        return f"local process pool, {self.workers} workers, batched ensembles"

    def submit(self, ref: str, key: str, config: dict):
        plan = self.plans.get(ref)
        if plan is None:
            return super().submit(ref, key, config)
        fut: cf.Future = cf.Future()
        self._pending.append((plan, key, config, fut))
        return fut

    def _size(self, plan: EnsemblePlan, config: dict) -> int:
        fn = self._sizes.get(plan.size)
        if fn is None:
            fn = self._sizes[plan.size] = _function(plan.size)
        return max(1, min(plan.max_members, int(fn(config))))

    def _flush(self) -> None:
        """Dispatch the runs submitted since the last wait, grouped and chunked."""
        if not self._pending:
            return
        if self._broken:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._start()
        groups: dict[tuple[str, str], list] = {}
        for plan, key, config, fut in self._pending:
            groups.setdefault((plan.batched, group_key(config, plan.members)), []).append(
                (plan, key, config, fut)
            )
        self._pending = []
        for (batched, _), items in groups.items():
            size = self._size(items[0][0], items[0][2])
            for i in range(0, len(items), size):
                chunk = items[i : i + size]
                task = self._pool.submit(
                    run_chunk, batched, [k for _, k, _, _ in chunk], [c for _, _, c, _ in chunk]
                )
                task.add_done_callback(_resolver(self, [(k, f) for _, k, _, f in chunk]))

    def wait(self, futures, timeout: float | None):
        self._flush()
        return super().wait(futures, timeout)

    def close(self, wait: bool = True) -> None:
        for _, key, _, fut in self._pending:
            fut.set_result(failed_outcome(key, "cancelled before it was dispatched"))
        self._pending = []
        super().close(wait)


def _resolver(ex: EnsembleExecutor, members: list[tuple[str, cf.Future]]):
    """Callback of a chunk task: hand each member future its outcome (a lost worker fails
    each member with the reason, as the local pool does for a single run)."""

    def done(task: cf.Future) -> None:
        try:
            outs = task.result()
        except cf.process.BrokenProcessPool as e:
            ex._broken = True  # the next dispatch starts a new pool
            outs = [
                failed_outcome(k, f"a worker process died while this ensemble was in flight: {e}")
                for k, _ in members
            ]
        except cf.CancelledError:
            outs = [failed_outcome(k, "cancelled") for k, _ in members]
        except Exception as e:  # noqa: BLE001 - e.g. an unpicklable result
            outs = [failed_outcome(k, f"ensemble task failed: {e!r}") for k, _ in members]
        for (_, fut), out in zip(members, outs):
            fut.set_result(out)

    return done


__all__ = ["EnsembleExecutor", "EnsemblePlan", "group_key", "run_chunk"]
