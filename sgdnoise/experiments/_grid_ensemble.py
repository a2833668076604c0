"""Grid points as batched ensembles inside the sweeps store (issue 14).

An :class:`EnsemblePlan` says how the runs of one per-run worker train together: runs whose
configs differ only in the plan's member axes (e.g. learning rate and seed) go, in chunks
of the plan's ensemble size, to one task that calls the plan's batched function once and
returns one result per run.  :func:`~._grid.run_grid` hands each plan to the sweeps as
their public batching hook (:class:`sgdnoise.sweeps.Batch`), so keys, statuses, resume (a
killed sweep re-runs what was ``running``), the failed-run policy and reports are those of
per-run sweeps; only the work per task changes.  Sweeps of other workers run one config
per task as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..sweeps.batching import Batch
from ..sweeps.spec import function_identity, resolve_function


@dataclass(frozen=True)
class EnsemblePlan:
    """How to batch the runs of the per-run worker ``per_run`` (a ``module:function`` ref
    or a registered name): ``batched`` (a ref) takes a list of configs that agree outside
    ``members`` and returns one result dict per config, each what ``per_run`` would
    return; ``size(config)`` (a ref to ``f(config) -> int``) is the most members per task,
    capped at ``max_members``."""

    per_run: str
    batched: str
    size: str
    members: tuple[str, ...] = ("lr", "seed")
    max_members: int = 64

    def batch(self) -> Batch:
        """This plan as the sweeps' batching hook."""
        size_of: Callable[[dict], int] = resolve_function(self.size)
        cap = int(self.max_members)

        def size(config: dict) -> int:
            return max(1, min(cap, int(size_of(config))))

        return Batch(function=self.batched, members=tuple(self.members), size=size)


def shared_settings(configs: list[dict], members) -> dict:
    """The settings every config of one ensemble task shares: the first config without the
    member axes ``members``; a config that differs elsewhere is refused (the batched
    workers' one check that their members can train together)."""
    from ..errors import ParameterError

    members = tuple(members)
    shared = {k: v for k, v in configs[0].items() if k not in members}
    for other in configs[1:]:
        if {k: v for k, v in other.items() if k not in members} != shared:
            raise ParameterError(
                "configs", other, f"must differ from the first only in {', '.join(members)}"
            )
    return shared


def batch_for(function: str, plans) -> Batch | None:
    """The batching of a spec whose worker is ``function`` (a ref or a registered name):
    the matching plan's, or None (one run per task)."""
    name, _ = function_identity(function)
    for plan in plans or ():
        if function_identity(plan.per_run)[0] == name:
            return plan.batch()
    return None


def run_chunk(batched: str, keys: list[str], configs: list[dict]) -> list[dict]:
    """One ensemble task, as coordinators started before the sweeps' hook submitted it
    (their pool workers import this name from here): :func:`~sgdnoise.sweeps.worker.
    execute_batch`."""
    from ..sweeps.worker import execute_batch

    return execute_batch(batched, keys, configs)


__all__ = ["EnsemblePlan", "batch_for", "run_chunk", "shared_settings"]
