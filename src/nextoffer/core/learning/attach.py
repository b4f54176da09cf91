"""Attach rates: how often a pitch is accepted when shown, shrunk toward what is known above it.

A **pitch** is an offer made in some context: the offer alone, the offer nominated by one
rule (rule × offer), or the offer on one channel (offer × channel). Its raw rate
accepted ÷ shown is noisy when it has been shown a few times, so each level borrows from
the one above (hierarchical, empirical-Bayes shrinkage with Beta priors):

    global ← category ← offer ← rule × offer
                              ← offer × channel

Each estimate is the mean of a Beta posterior whose prior is centred on the parent's rate
and weighs ``strength`` showings (default 20)::

    p = (accepted + strength × parent) / (shown + strength)

The global rate's own prior is ``prior`` (default 5%). A pitch never shown gets its
parent's rate (cold start); one shown 20 times is halfway between its own rate and its
parent's; one shown thousands of times is almost exactly its own. The **credible interval**
is the Beta posterior's equal-tailed interval, and the **maturity** label says how much of
the estimate is the pitch's own evidence: ``cold start`` (never shown), ``immature`` (fewer
than 100 showings), ``maturing`` (fewer than 1,000), ``mature``.

>>> rates = estimate([Cell("wine", None, None, shown=100, accepted=30)], {"wine": "drinks"})
>>> round(rates.offer["wine"].p, 4), rates.offer["wine"].maturity
(0.2988, 'maturing')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["MATURITY", "AttachRate", "AttachRates", "Cell", "estimate", "maturity",
           "nominating_rules"]  # fmt: skip

Level = Literal["global", "category", "offer", "rule", "channel"]
MATURITY = ((100, "immature"), (1000, "maturing"))  # shown below the limit: the label


def nominating_rules(decision: Mapping[str, Any] | None) -> dict[str, str]:
    """The rule that nominated each offer a decision showed (as the ledger stores the
    decision): the first rule listed for it, in the order of the placements and their
    offers; an offer shown with no rule listed is not in the result.

    >>> nominating_rules({"placements": [{"offers": [{"offer": "wine", "rules": ["r2", "r1"]},
    ...                                              {"offer": "cake", "rules": []}]}]})
    {'wine': 'r2'}
    """
    rules: dict[str, str] = {}
    for placement in (decision or {}).get("placements", ()):
        for shown in placement.get("offers", ()):
            if shown.get("rules"):
                rules.setdefault(shown["offer"], shown["rules"][0])
    return rules


def maturity(shown: int) -> str:
    if shown == 0:
        return "cold start"
    for limit, label in MATURITY:
        if shown < limit:
            return label
    return "mature"


@dataclass(frozen=True, slots=True)
class Cell:
    """Showings and acceptances of one offer, nominated by ``rule`` (or none) on ``channel``
    (or any): the finest grain the ledger gives."""

    offer: str
    rule: str | None
    channel: str | None
    shown: int
    accepted: int


@dataclass(frozen=True, slots=True)
class AttachRate:
    level: Level
    key: tuple[str, ...]  # () global; (category,); (offer,); (rule, offer); (offer, channel)
    shown: int
    accepted: int
    p: float  # the posterior mean: the estimate the engine uses
    parent: float  # the rate it is shrunk toward
    strength: float

    @property
    def maturity(self) -> str:
        return maturity(self.shown)

    @property
    def raw(self) -> float | None:
        return self.accepted / self.shown if self.shown else None

    def posterior(self) -> tuple[float, float]:
        """The Beta posterior's parameters (a, b); its mean a ÷ (a + b) is ``p``."""
        a = self.accepted + self.strength * self.parent
        b = self.shown - self.accepted + self.strength * (1 - self.parent)
        return a, b

    def interval(self, level: float = 0.9) -> tuple[float, float]:
        """The equal-tailed credible interval of the Beta posterior."""
        from scipy.stats import beta

        a, b = self.posterior()
        tail = (1 - level) / 2
        low, high = beta.ppf([tail, 1 - tail], max(a, 1e-9), max(b, 1e-9))
        return float(low), float(high)


@dataclass(frozen=True, slots=True)
class AttachRates:
    overall: AttachRate
    category: dict[str, AttachRate] = field(default_factory=dict)
    offer: dict[str, AttachRate] = field(default_factory=dict)
    rule: dict[tuple[str, str], AttachRate] = field(default_factory=dict)  # (rule, offer)
    channel: dict[tuple[str, str], AttachRate] = field(default_factory=dict)  # (offer, channel)

    def all(self) -> list[AttachRate]:
        return [self.overall, *self.category.values(), *self.offer.values(),
                *self.rule.values(), *self.channel.values()]  # fmt: skip


def _add(totals: dict[tuple[str, ...], list[int]], key: tuple[str, ...], cell: Cell) -> None:
    t = totals.setdefault(key, [0, 0])
    t[0] += cell.shown
    t[1] += cell.accepted


def estimate(
    cells: Iterable[Cell],
    categories: Mapping[str, str | None],
    *,
    prior: float = 0.05,
    strength: float = 20.0,
) -> AttachRates:
    """Every level's estimate. ``categories`` maps each offer (also those never shown) to
    its category; an offer without one shrinks straight toward the global rate."""
    if not 0 <= prior <= 1:
        raise ValueError(f"prior: must be between 0 and 1, got {prior}")
    if not strength > 0:
        raise ValueError(f"strength: must be above 0, got {strength}")
    by: dict[str, dict[tuple[str, ...], list[int]]] = {
        k: {} for k in ("global", "category", "offer", "rule", "channel")
    }
    for cell in cells:
        if cell.accepted > cell.shown or cell.accepted < 0:
            raise ValueError(f"{cell.offer}: accepted must be between 0 and shown")
        _add(by["global"], (), cell)
        group = categories.get(cell.offer)
        if group is not None:
            _add(by["category"], (group,), cell)
        _add(by["offer"], (cell.offer,), cell)
        if cell.rule is not None:
            _add(by["rule"], (cell.rule, cell.offer), cell)
        if cell.channel is not None:
            _add(by["channel"], (cell.offer, cell.channel), cell)

    def rate(level: Level, key: tuple[str, ...], parent: float) -> AttachRate:
        shown, accepted = by[level].get(key, (0, 0))
        p = (accepted + strength * parent) / (shown + strength)
        return AttachRate(level, key, shown, accepted, p, parent, strength)

    overall = rate("global", (), prior)
    category = {
        c: rate("category", (c,), overall.p) for c in sorted({c for c in categories.values() if c})
    }
    offer = {}
    for o, c in categories.items():
        parent = category[c].p if c is not None else overall.p
        offer[o] = rate("offer", (o,), parent)
    rule = {(r, o): rate("rule", (r, o), offer[o].p) for (r, o) in by["rule"] if o in offer}
    channel = {
        (o, ch): rate("channel", (o, ch), offer[o].p) for (o, ch) in by["channel"] if o in offer
    }
    return AttachRates(overall, category, offer, rule, channel)
