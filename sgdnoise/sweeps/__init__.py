"""Sweeps at scale: grid specs, a SQLite results store, local and Dask executors,
analysis and plots (DESIGN.md §6).

- :mod:`.spec`      TOML / dict sweep specs, validation, run keys;
- :mod:`.store`     the SQLite results store (WAL, one writer, resumable, pandas export);
- :mod:`.executors` local process pool and Dask distributed;
- :mod:`.runner`    :func:`run_sweep` (resume, progress bar);
- :mod:`.batching`  :class:`Batch`: several grid points as one task (batched ensembles);
- :mod:`.analysis`  optimum per group with seed spread, power-law fits, T_c, data collapse;
- :mod:`.plots`     phase-diagram heat maps, collapse plots, curves (matplotlib Figure API);
- :mod:`.report`    markdown + PNG report of a store;
- :mod:`.tasks`     sweepable experiments and their registry.

Importing this package is cheap: the submodules are loaded on first use.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "SweepSpec": "spec",
    "load_spec": "spec",
    "run_key": "spec",
    "Store": "store",
    "check_store": "store",
    "SCHEMA_VERSION": "store",
    "run_sweep": "runner",
    "SweepSummary": "runner",
    "Batch": "batching",
    "LocalExecutor": "executors",
    "DaskExecutor": "executors",
    "make_executor": "executors",
    "sweepable": "tasks",
    "write_report": "report",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
