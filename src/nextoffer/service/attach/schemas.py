"""Attach rates as the service gives them: a refresh's outcome and every rate the engine uses.

Both are JSON documents that the API, the CLI and the dashboard read as they are, so they
are typed dictionaries: the service builds them once, in the order the API answers with.
"""

from __future__ import annotations

from typing import TypedDict

from ...core.learning.attach import Level

__all__ = ["RateRow", "Rates", "Refreshed"]


class Refreshed(TypedDict):
    """A refresh: the pitches counted, their impressions and accepts, whether the counts
    changed, the snapshot version published with them (None: nothing published), and the
    events' ``seq`` the counts now include (the watermark)."""

    pitches: int
    shown: int
    accepted: int
    changed: bool
    snapshot: str | None
    counted_up_to: int


class RateRow(TypedDict):
    """One attach rate: its level and key, counts, the raw rate, the shrunk estimate ``p``,
    its parent's, a credible interval (``low``, ``high``) and a maturity label."""

    level: Level
    offer: str | None
    rule: str | None
    channel: str | None
    category: str | None
    shown: int
    accepted: int
    raw: float | None
    p: float
    parent: float
    low: float
    high: float
    maturity: str


class Rates(TypedDict):
    """Every attach rate of a snapshot, at a credible interval ``interval``, with the
    shrinkage ``strength`` of its overall rate."""

    snapshot_version: str
    interval: float
    strength: float
    rates: list[RateRow]
