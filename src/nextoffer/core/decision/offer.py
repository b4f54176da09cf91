"""A compiled offer: what the decision path reads of an offer, built once with the snapshot.

It lives apart from the snapshot so that the stages that read offers (contact policies,
scoring) import it without importing the snapshot that compiles them: the arrows point one
way, snapshot → policies, scoring → offer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..rules import CompiledCondition
from ..rules.compiler import Evaluator

__all__ = ["Offer"]


@dataclass(frozen=True, slots=True, eq=False)
class Offer:
    """A compiled offer. ``margin`` is price − cost for a product, ``value`` for an action."""

    id: str
    kind: str
    sku: str | None
    name: str
    category: str | None
    price: float | None
    margin: float
    impact: float
    priority: int
    emphasis: float
    eligibility: CompiledCondition | None
    fit: CompiledCondition | None
    match: tuple[tuple[CompiledCondition, float], ...]
    match_total: float
    channels: frozenset[str] | None
    placements: frozenset[str] | None
    open: bool
    status: str
    offer_ctx: dict[str, Any] = field(repr=False)
    reads_offer: bool = field(repr=False)
    # (evaluator, the reason when it is false, the reason when it is unknown), for the trace
    checks: tuple[tuple[Evaluator, str, str], ...] = field(default=(), repr=False)
    unconditional: bool = False  # no eligibility, fit or match condition
    p: float = 0.0
    rule_p: dict[str, float] = field(default_factory=dict, repr=False)
    channel_p: dict[str, float] = field(default_factory=dict, repr=False)
    tau: float | None = None
    segment: str | None = None
