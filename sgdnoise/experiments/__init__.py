"""Claims: each puts a theory prediction beside a simulation or a training measurement
and returns a verdict (DESIGN.md §4, §9).  Imports theory, simulate and nets."""

from .registry import SCALES, Claim, ClaimResult, all_claims, claim, get_claim
from .runner import RunContext, reproduce

__all__ = [
    "SCALES",
    "Claim",
    "ClaimResult",
    "RunContext",
    "all_claims",
    "claim",
    "get_claim",
    "reproduce",
]
