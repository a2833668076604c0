"""Grouping grid points into one task: the sweeps' batching hook (issue 14).

A study whose runs are cheaper together than apart (networks trained as one batched
ensemble, simulations vectorised over a parameter) passes ``batch=Batch(...)`` to
:func:`~sgdnoise.sweeps.runner.run_sweep`.  The grid, the run keys and the store are those
of the per-run worker (``spec.function``); only the unit of work changes:

* the pending points are grouped by everything **but** the ``members`` axes (points of one
  group differ only in those, e.g. learning rate and seed), in grid order;
* each group is cut into the fewest tasks of at most ``size`` points, of sizes that differ
  by at most one (``size`` may depend on the group: a function of its first config);
* a task calls ``function(configs) -> results`` once on a worker; ``results[i]`` is what
  the per-run worker would return for ``configs[i]`` (a dict of metrics, optionally
  ``status`` and ``curves``), or an exception instance when that one point failed;
* each point's outcome is recorded under its own key as it is today.  A task that raises
  fails each of its points with the traceback; a worker lost mid-task fails each of them
  with the reason.  Each point is charged an equal share of the task's wall and CPU time.

Resume, kill-safety (the points of the tasks in flight are marked ``running`` before they
are submitted, so a kill loses at most those), the failed-run retry and reports are
therefore unchanged; ``batch=None`` is exactly the per-run sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral

from ..errors import ParameterError
from .spec import canonical_json, resolve_function

MAX_SIZE = 4096  # points per task: far above any useful ensemble, below a runaway


@dataclass(frozen=True)
class Batch:
    """How :func:`~sgdnoise.sweeps.runner.run_sweep` groups points into tasks.

    ``function``: ``"module:function"`` (or a registered name) of ``f(configs: list[dict])
    -> list[dict | Exception]``, one result per config, in order; it runs on the workers.
    ``members``: the axes whose values may differ inside one task (all other settings are
    shared by the task's points).  ``size``: the most points per task, an int, or a
    function ``g(config) -> int`` (or its ``"module:function"``) called in the
    coordinating process on each group's first config."""

    function: str
    members: tuple[str, ...]
    size: int | str | Callable[[dict], int] = 16

    def __post_init__(self):
        if not isinstance(self.function, str) or not self.function:
            raise ParameterError("batch.function", self.function, "must be 'module:function'")
        members = self.members
        if isinstance(members, str) or not all(isinstance(m, str) for m in members):
            raise ParameterError("batch.members", members, "must be a tuple of axis names")
        object.__setattr__(self, "members", tuple(members))
        s = self.size
        if isinstance(s, bool) or not (isinstance(s, int | str) or callable(s)):
            raise ParameterError("batch.size", s, "must be an int, a function or its reference")
        if isinstance(s, int):
            _check_size(s)


def _check_size(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SIZE:
        raise ParameterError("batch.size", n, f"must be an integer in [1, {MAX_SIZE}]")
    return n


def check_batch(batch: Batch | None) -> Batch | None:
    """Refuse a bad batching before a store is touched: the batched function (and a size
    given by reference) must import here."""
    if batch is None:
        return None
    if not isinstance(batch, Batch):
        raise ParameterError("batch", batch, "must be a sgdnoise.sweeps.Batch or None")
    resolve_function(batch.function)
    if isinstance(batch.size, str):
        resolve_function(batch.size)
    return batch


def group_key(config: dict, members: tuple[str, ...]) -> str:
    """What the points of one task share: the config without the member axes."""
    return canonical_json({k: v for k, v in config.items() if k not in members})


def tasks(batch: Batch | None, todo: list[tuple[str, dict]]) -> list[list[tuple[str, dict]]]:
    """The pending ``(key, config)`` points cut into tasks: one point each without a batch;
    else grouped by :func:`group_key` (groups in order of first appearance, points in grid
    order) and cut into the fewest even chunks of at most the group's size."""
    if batch is None:
        return [[kc] for kc in todo]
    groups: dict[str, list] = {}
    for k, c in todo:
        groups.setdefault(group_key(c, batch.members), []).append((k, c))
    size = batch.size
    if isinstance(size, str):
        size = resolve_function(size)
    out = []
    for items in groups.values():
        n = size if isinstance(size, int) else size(dict(items[0][1]))
        n = _check_size(int(n) if isinstance(n, Integral) and not isinstance(n, bool) else n)
        out.extend(even_chunks(items, n))
    return out


def even_chunks(items: list, most: int) -> list[list]:
    """``items`` cut into the fewest chunks of at most ``most``, their sizes differing by at
    most one (56 points at 18 a task: 14 + 14 + 14 + 14, not 18 + 18 + 18 + 2 — a batched
    task of 2 would gain little from batching)."""
    k = -(-len(items) // most)
    q, r = divmod(len(items), k)
    out, start = [], 0
    for i in range(k):
        stop = start + q + (1 if i < r else 0)
        out.append(items[start:stop])
        start = stop
    return out


__all__ = ["Batch", "MAX_SIZE", "check_batch", "even_chunks", "group_key", "tasks"]
