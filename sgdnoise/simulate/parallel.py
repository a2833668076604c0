"""The chunked, seed-deterministic parallelism every simulator shares.

Independent chains are cut into fixed chunks; chunk c owns the PCG64 stream
``SeedSequence(seed).spawn(n_chunks)[c]`` and is advanced by a nogil numba kernel.  The chunks
run on a thread pool, and since each depends on its own stream only, results depend on the
seed and never on the thread count.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..validation import integer


def resolve_threads(threads: int | None) -> int:
    """Validated worker-thread count (default: all cores)."""
    return integer("threads", threads if threads is not None else os.cpu_count() or 1, 1)


def chunk_streams(seed: int, n_chunks: int) -> list[np.random.Generator]:
    """One independent PCG64 generator per chunk, spawned from ``SeedSequence(seed)``."""
    return [
        np.random.Generator(np.random.PCG64(s))
        for s in np.random.SeedSequence(seed).spawn(n_chunks)
    ]


def run_chunks(work: Callable[[int], None], n_chunks: int, threads: int) -> None:
    """Call ``work(c)`` for every chunk, on ``threads`` threads (inline for one)."""
    if threads == 1 or n_chunks == 1:
        for c in range(n_chunks):
            work(c)
    else:
        with ThreadPoolExecutor(max_workers=threads) as ex:
            list(ex.map(work, range(n_chunks)))
