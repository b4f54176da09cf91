"""Uplift segments: what an offer does for a customer, from τ, its interval and the base rate.

- **persuadable**: τ > +0.05 — the offer makes them buy;
- **sure thing**: −0.05 ≤ τ ≤ +0.05 — the offer changes little;
- **lost cause**: τ < −0.05 and a low base rate — unlikely to buy either way;
- **sleeping dog**: τ < −0.05, a high base rate, and the whole interval below zero — the
  offer puts off someone who would have bought;
- **uncertain**: the interval straddles a threshold (the data cannot tell which side), or a
  would-be sleeping dog whose interval does not lie below zero.

Without an interval, τ alone decides (and a sleeping dog cannot be told: uncertain).

>>> Thresholds().segment(0.08, (0.06, 0.11), base_rate=0.2)
'persuadable'
>>> Thresholds().segment(-0.09, (-0.2, -0.01), base_rate=0.6)
'uncertain'
>>> Thresholds().segment(-0.09, (-0.2, -0.06), base_rate=0.6)
'sleeping_dog'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SEGMENTS", "Thresholds"]

SEGMENTS = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog", "uncertain")


@dataclass(frozen=True)
class Thresholds:
    """``persuade``: τ above it is persuadable; ``harm``: τ below it harms (both ends of the
    sure-thing band); ``high_base_rate``: a base rate at or above it is high."""

    persuade: float = 0.05
    harm: float = -0.05
    high_base_rate: float = 0.2

    def __post_init__(self) -> None:
        if not self.harm <= self.persuade:
            raise ValueError("harm must not exceed persuade")

    def segment(
        self, tau: float, interval: tuple[float, float] | None = None, base_rate: float = 0.0
    ) -> str:
        lo, hi = interval if interval is not None else (tau, tau)
        if interval is not None and any(lo < x < hi for x in (self.persuade, self.harm)):
            return "uncertain"
        if tau > self.persuade:
            return "persuadable"
        if tau >= self.harm:
            return "sure_thing"
        if base_rate < self.high_base_rate:
            return "lost_cause"
        return "sleeping_dog" if interval is not None and hi < 0 else "uncertain"
