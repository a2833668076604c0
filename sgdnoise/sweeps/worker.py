"""What runs on a worker: call the experiment on one config and package the outcome.

The outcome is a plain dict (picklable, executor-agnostic)::

    {"key", "status": "done" | "diverged" | "failed", "metrics": {name: float},
     "curves": {name: (x list, y list)}, "error": str | None,
     "seconds": wall time of the call, "cpu_seconds": process CPU time of the call,
     "worker": "host:pid"}

:func:`execute_batch` runs one task of several points (:mod:`sgdnoise.sweeps.batching`)
and returns one such outcome per point.

Workers never touch the store: the coordinating process is its only writer.  Any
exception from the experiment, or a return value that is not a dict of numbers, becomes
a ``failed`` outcome with the reason, never a crash of the sweep.
"""

from __future__ import annotations

import math
import os
import socket
import time
import traceback
from numbers import Real

FINAL_STATUSES = ("done", "diverged")
_cache: dict = {}


def _function(ref: str):
    fn = _cache.get(ref)
    if fn is None:
        from .spec import resolve_function

        fn = _cache[ref] = resolve_function(ref)
    return fn


def _as_float(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, Real):
        raise TypeError(f"metric {name!r} is {type(v).__name__}, not a number")
    return float(v)


def _curve(name: str, c) -> tuple[list, list]:
    if isinstance(c, dict):
        if set(c) != {"x", "y"}:
            raise TypeError(f"curve {name!r}: a dict curve has exactly the keys 'x' and 'y'")
        x = [float(v) for v in c["x"]]
        y = [float(v) for v in c["y"]]
        if len(x) != len(y):
            raise TypeError(f"curve {name!r}: x has {len(x)} points, y has {len(y)}")
    else:
        y = [float(v) for v in c]
        x = [float(i) for i in range(len(y))]
    return x, y


def normalize(result) -> dict:
    """Split an experiment's return value into status, float metrics and (x, y) curves."""
    if not isinstance(result, dict):
        raise TypeError(f"experiment returned {type(result).__name__}, not a dict of metrics")
    result = dict(result)
    status = result.pop("status", "done")
    if status not in FINAL_STATUSES:
        raise TypeError(f"status {status!r} is not one of {FINAL_STATUSES}")
    curves_raw = result.pop("curves", None) or {}
    if not isinstance(curves_raw, dict):
        raise TypeError("'curves' must be a dict of name -> curve")
    metrics = {str(k): _as_float(k, v) for k, v in result.items()}
    curves = {str(k): _curve(k, c) for k, c in curves_raw.items()}
    return {"status": status, "metrics": metrics, "curves": curves}


def execute(ref: str, key: str, config: dict) -> dict:
    """Run ``ref(**config)`` and return its outcome dict (see the module docstring)."""
    out = {"key": key, "error": None, "metrics": {}, "curves": {}}
    t0 = c0 = None
    try:
        fn = _function(ref)  # imported once per worker, outside the timed call
        t0, c0 = time.perf_counter(), time.process_time()
        out.update(normalize(fn(**config)))
    except Exception:  # noqa: BLE001 - any failure of the experiment is a recorded result
        out["status"] = "failed"
        out["error"] = traceback.format_exc(limit=20)[-20000:]
    if t0 is None:
        t0, c0 = time.perf_counter(), time.process_time()
    out["seconds"] = time.perf_counter() - t0
    out["cpu_seconds"] = time.process_time() - c0
    out["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return out


def execute_batch(ref: str, keys: list[str], configs: list[dict]) -> list[dict]:
    """Run the batched experiment ``ref(configs)`` once for several points (a task of a
    :class:`~sgdnoise.sweeps.batching.Batch`); one outcome dict per point, in order.

    ``ref`` returns one result per config: what the per-run worker would return, or an
    exception instance (that point alone is ``failed``, with the exception).  A result
    that is not a valid outcome fails that point; an exception raised by ``ref``, or a
    result list of the wrong length, fails every point with the traceback.  Each point's
    ``seconds``/``cpu_seconds`` are an equal share of the task's."""
    outs = [{"key": k, "error": None, "metrics": {}, "curves": {}} for k in keys]
    t0 = c0 = None
    try:
        fn = _function(ref)
        t0, c0 = time.perf_counter(), time.process_time()
        results = list(fn([dict(c) for c in configs]))
        if len(results) != len(configs):
            raise TypeError(f"{ref} returned {len(results)} results for {len(configs)} configs")
        for out, res in zip(outs, results):
            try:
                if isinstance(res, BaseException):
                    raise res
                out.update(normalize(res))
            except Exception:  # noqa: BLE001 - one point's failure is that point's record
                out.update(status="failed", error=traceback.format_exc(limit=20)[-20000:])
    except Exception:  # noqa: BLE001 - a failed task is a failed record for each point
        err = traceback.format_exc(limit=20)[-20000:]
        for out in outs:
            out.update(status="failed", error=err, metrics={}, curves={})
    if t0 is None:
        t0, c0 = time.perf_counter(), time.process_time()
    share = max(len(keys), 1)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    where = f"{socket.gethostname()}:{os.getpid()}"
    for out in outs:
        out.update(seconds=wall / share, cpu_seconds=cpu / share, worker=where)
    return outs


def failed_outcome(key: str, reason: str) -> dict:
    """The outcome recorded when the worker itself was lost (crash, killed, cancelled)."""
    return {
        "key": key,
        "status": "failed",
        "metrics": {},
        "curves": {},
        "error": reason,
        "seconds": math.nan,
        "cpu_seconds": math.nan,
        "worker": None,
    }
