"""Claims: each puts a theory prediction beside a simulation or a training measurement
and returns a verdict (DESIGN.md §4, §9).  Imports theory, simulate and nets.

Importing this package is cheap: the names below are loaded on first use (PEP 562), so
``sgdnoise list`` (which reads only :mod:`._catalog`) imports no scipy, numba or torch.
"""

from __future__ import annotations

from .._lazy import lazy_exports

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

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
