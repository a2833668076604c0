"""The claim registry: each headline claim of the five papers as a runnable comparison.

A claim module defines a function ``run(ctx) -> ClaimResult`` decorated with
:func:`claim`.  Claim modules live in this package; importing one must do no work beyond
defining things.  Which claims exist, with their papers and statements, is known without
importing any of them from :mod:`._catalog` (``sgdnoise list`` reads only that);
:func:`get_claim` imports the one module it needs, :func:`all_claims` every module.
This module imports the criteria layer (scipy) only when a result is built.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ParameterError
from ._catalog import PAPERS, SCALES, Entry, entries


@dataclass
class ClaimResult:
    """What a claim returns: its judged criteria and the numbers that back them.

    The verdict is never chosen by a claim: it follows from ``criteria`` by the one rule
    of :func:`sgdnoise.experiments.criteria.verdict` (DESIGN.md §10).
    ``details`` is markdown placed in the report under the criteria table (tables,
    caveats).  Figures are registered through :meth:`RunContext.savefig`, not listed here.
    """

    summary: str
    criteria: list  # of criteria.Judgement
    metrics: dict[str, float] = field(default_factory=dict)
    details: str = ""

    def __post_init__(self):
        from .criteria import Judgement

        self.criteria = list(self.criteria)
        if not self.criteria or not all(isinstance(j, Judgement) for j in self.criteria):
            raise ParameterError(
                "criteria", self.criteria, "a claim result needs a non-empty list of Judgements"
            )

    @property
    def verdict(self) -> str:
        from .criteria import verdict

        return verdict(self.criteria)


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    statement: str
    run: Callable
    scales: tuple[str, ...] = SCALES

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "paper": self.paper,
            "scales": list(self.scales),
            "statement": self.statement,
        }


_REGISTRY: dict[str, Claim] = {}


def claim(
    id: str,
    *,
    paper: str | None = None,
    statement: str | None = None,
    scales: tuple[str, ...] | None = None,
):
    """Register ``run(ctx) -> ClaimResult`` as claim ``id``.

    ``paper``, ``statement`` and ``scales`` default to the claim's line in
    :mod:`._catalog` (where every claim must have one, so that ``sgdnoise list`` knows it
    without importing it); given here they must agree with it (a test checks)."""
    entry = entries().get(id)
    if paper is None or statement is None:
        if entry is None:
            raise ParameterError(
                "claim",
                id,
                "has no line in sgdnoise/experiments/_catalog.py: add an Entry there "
                "(or pass paper= and statement=)",
            )
        paper = entry.paper if paper is None else paper
        statement = entry.statement if statement is None else statement
    if scales is None:
        scales = entry.scales if entry is not None else SCALES
    if paper not in PAPERS:
        raise ParameterError("paper", paper, f"must be one of {sorted(PAPERS)}")
    for s in scales:
        if s not in SCALES:
            raise ParameterError("scales", scales, f"each scale must be one of {SCALES}")

    def register(fn: Callable) -> Callable:
        if id in _REGISTRY and _REGISTRY[id].run.__module__ != fn.__module__:
            raise RuntimeError(f"claim {id!r} registered twice")
        _REGISTRY[id] = Claim(id=id, paper=paper, statement=statement, run=fn, scales=tuple(scales))
        return fn

    return register


def _discover() -> None:
    from .. import experiments

    for mod in pkgutil.iter_modules(experiments.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{experiments.__name__}.{mod.name}")


def catalog() -> dict[str, Entry]:
    """Every claim by id (paper, then id) with its paper, statement, scales and data, read
    from :mod:`._catalog` without importing any claim module."""
    return entries()


def all_claims() -> dict[str, Claim]:
    """Every registered claim, by id, in a stable order (paper, then id).  Imports every
    claim module (use :func:`catalog` to list claims cheaply)."""
    _discover()
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[1].paper, kv[0])))


def get_claim(claim_id: str) -> Claim:
    """The claim ``claim_id``, importing only its own module (found in the catalog)."""
    known = entries()
    if claim_id not in known:
        raise ParameterError("claim", claim_id, "must be 'all' or one of " + ", ".join(known))
    if claim_id not in _REGISTRY:
        importlib.import_module(known[claim_id].module_path)
    if claim_id not in _REGISTRY:
        raise RuntimeError(
            f"claim {claim_id!r}: catalogued in module {known[claim_id].module_path}, "
            "which does not register it with @claim"
        )
    return _REGISTRY[claim_id]
