"""Claims: each puts a theory prediction beside a simulation or a training measurement
and returns a verdict (DESIGN.md §4, §9).  Imports theory, simulate and nets.

Importing this package is cheap: the names below are loaded on first use (PEP 562), so
``sgdnoise list`` (which reads only :mod:`._catalog`) imports no scipy, numba or torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SCALES": "registry",
    "Claim": "registry",
    "ClaimResult": "registry",
    "all_claims": "registry",
    "catalog": "registry",
    "claim": "registry",
    "get_claim": "registry",
    "RunContext": "runner",
    "reproduce": "runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
