"""The claim registry: each headline claim of the five papers as a runnable comparison.

A claim module defines a function ``run(ctx) -> ClaimResult`` decorated with
:func:`claim`.  Claim modules live in this package and are discovered by
:func:`all_claims`; importing one must do no work beyond defining things.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ParameterError
from .criteria import Judgement, verdict

SCALES = ("smoke", "cpu", "paper")
PAPERS = {
    "P19": "Park, Sohl-Dickstein, Le, Smith, ICML 2019 (arXiv 1905.03776)",
    "BG21": "Bradley & Gomez-Uribe, MLST 2022 (arXiv 2108.09507)",
    "SGW23": "Sclocchi, Geiger, Wyart, ICML 2023 (arXiv 2301.13703)",
    "UI25": "Umeda & Iiduka, TMLR 2025 (arXiv 2409.08770)",
    "KCL23": "Kaur, Cohen, Lipton, PMLR 187 2023 (arXiv 2206.10654)",
}


@dataclass
class ClaimResult:
    """What a claim returns: its judged criteria and the numbers that back them.

    The verdict is never chosen by a claim: it follows from ``criteria`` by the one rule
    of :func:`sgdnoise.experiments.criteria.verdict` (DESIGN.md §10).
    ``details`` is markdown placed in the report under the criteria table (tables,
    caveats).  Figures are registered through :meth:`RunContext.savefig`, not listed here.
    """

    summary: str
    criteria: list[Judgement]
    metrics: dict[str, float] = field(default_factory=dict)
    details: str = ""

    def __post_init__(self):
        self.criteria = list(self.criteria)
        if not self.criteria or not all(isinstance(j, Judgement) for j in self.criteria):
            raise ParameterError(
                "criteria", self.criteria, "a claim result needs a non-empty list of Judgements"
            )

    @property
    def verdict(self) -> str:
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


def claim(id: str, *, paper: str, statement: str, scales: tuple[str, ...] = SCALES):
    """Register ``run(ctx) -> ClaimResult`` as claim ``id``."""
    if paper not in PAPERS:
        raise ParameterError("paper", paper, f"must be one of {sorted(PAPERS)}")
    for s in scales:
        if s not in SCALES:
            raise ParameterError("scales", scales, f"each scale must be one of {SCALES}")

    def register(fn: Callable) -> Callable:
        if id in _REGISTRY and _REGISTRY[id].run.__module__ != fn.__module__:
            raise RuntimeError(f"claim {id!r} registered twice")
        _REGISTRY[id] = Claim(id=id, paper=paper, statement=statement, run=fn, scales=scales)
        return fn

    return register


def _discover() -> None:
    from .. import experiments

    for mod in pkgutil.iter_modules(experiments.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{experiments.__name__}.{mod.name}")


def all_claims() -> dict[str, Claim]:
    """Every registered claim, by id, in a stable order (paper, then id)."""
    _discover()
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[1].paper, kv[0])))


def get_claim(claim_id: str) -> Claim:
    claims = all_claims()
    if claim_id not in claims:
        raise ParameterError("claim", claim_id, "must be 'all' or one of " + ", ".join(claims))
    return claims[claim_id]
