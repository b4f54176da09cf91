"""A candidate as the engine carries it through its stages, declared once for the engine and
the exploration kinds (to which a ranked candidate is an arm).

A candidate is a plain tuple, read by unpacking it into named parts, or by the field
positions below where one part is read. Measured (Python 3.11, this 2-core machine):
building a 6-field tuple costs 30 ns, a NamedTuple 258 ns (its ``__new__`` is a Python
function; ``tuple.__new__(cls, ...)`` is 142 ns); with one per candidate per stage that
made a decision of the 1,000-rule benchmark about 15% slower, three times the 5% a change of
shape may cost.

``_R`` is how the rules that nominated a candidate are held: the engine's ``Rule`` objects
(a list while nominating, a tuple after); an exploration kind does not read them.
"""

from __future__ import annotations

from typing import Final, TypeVar

from .offer import Offer

__all__ = [
    "NEG_P",
    "NEG_PRIORITY",
    "NEG_SCORE",
    "OFFER",
    "OFFER_ID",
    "RULES",
    "Nominated",
    "Qualified",
    "Ranked",
]

_R = TypeVar("_R")

Nominated = tuple[Offer, _R]
"""(offer, the rules that nominated it)"""
Qualified = tuple[Offer, _R, float]
"""(offer, rules, match multiplier)"""
Ranked = tuple[int, float, float, str, Offer, _R]
"""(-priority, -score, -attach rate, offer id, offer, rules): sorts in rank order as it is
(offer ids are unique, so a comparison never reaches the offer)."""

# the field positions of a Ranked candidate
NEG_PRIORITY: Final = 0
NEG_SCORE: Final = 1
NEG_P: Final = 2
OFFER_ID: Final = 3
OFFER: Final = 4
RULES: Final = 5
