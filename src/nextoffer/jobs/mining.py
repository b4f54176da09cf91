"""Mined rules as proposals, and conversions as transactions: plain data in, plain data out.

A significant rule ``A → c`` becomes a proposal whose trigger is ``cart.has_sku(a₁) and …``
for the antecedent's items and whose offers are the catalog's product offers selling ``c``
(a rule whose consequent no offer sells cannot be pitched and is skipped). Its statistics
travel with it: support, confidence, lift, leverage, conviction, the counts, the holdout
p-value and BH q-value, the thresholds, the source and a few example baskets.

Reading the ledger and writing the proposals is the shell's (``service.rules.mining``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from ..core.learning.mining import MinedRule, MiningResult
from ..core.learning.significance import Significance
from .transactions import Basket, Filters, Transactions, basket_of

__all__ = ["EXAMPLES", "Conversion", "Examples", "examples_in", "offers_by_sku", "proposal_for",
           "proposals_for", "transactions_of", "trigger_for"]  # fmt: skip

EXAMPLES = 3  # example baskets kept with a proposal
EXAMPLE_ITEMS = 12  # items shown of each


class Conversion(Protocol):
    """One convert event of the ledger, as far as mining reads it."""

    @property
    def payload(self) -> Mapping[str, Any] | None: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def offer_id(self) -> str | None: ...


def trigger_for(antecedent: tuple[str, ...]) -> str:
    """The trigger of a mined rule: the cart holds every item of its antecedent."""
    return " and ".join(f"cart.has_sku({json.dumps(item)})" for item in antecedent)


Examples = Callable[[tuple[str, ...]], list[Sequence[str]]]
"""The first ``EXAMPLES`` baskets (in the order read) holding every one of some items."""


def examples_in(result: MiningResult, data: Transactions) -> Examples:
    """Example baskets from the baskets in memory that ``result`` was mined from."""

    def examples(items: tuple[str, ...]) -> list[Sequence[str]]:
        return [data.baskets[p] for p in result.baskets_with(items, EXAMPLES)]

    return examples


def proposal_for(
    rule: MinedRule,
    offers: list[str],
    significance: Significance,
    result: MiningResult,
    source: str,
    examples: Examples,
) -> dict[str, Any]:
    """The proposal of one mined rule nominating ``offers``, with its statistics."""
    key = (rule.antecedent, rule.consequent)
    shown = []
    for basket in map(sorted, examples((*rule.antecedent, rule.consequent))):
        shown.append(basket[:EXAMPLE_ITEMS] + (["…"] if len(basket) > EXAMPLE_ITEMS else []))
    stats = {
        **rule.statistics(finite=True),
        "baskets": rule.n,
        "p_value": significance.p_values[key],
        "q_value": significance.q_values[key],
        "fdr": significance.fdr,
        "min_count": result.min_count,
        "min_confidence": float(result.min_confidence),
        "source": source,
        "mined_at": dt.datetime.now(dt.UTC).isoformat(),
        "examples": shown,
    }
    return {
        "trigger": trigger_for(rule.antecedent),
        "offers": offers,
        "description": (
            f"Mined: {' & '.join(rule.antecedent)} → {rule.consequent} "
            f"(confidence {rule.confidence:.0%}, lift {rule.lift:.2f}, {rule.count:,} baskets)"
        ),
        "stats": stats,
    }


def offers_by_sku(offers: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The product offers selling each sku, from the catalog's offers."""
    by_sku: dict[str, list[str]] = {}
    for offer in offers:
        if offer.get("sku") is not None and offer.get("kind", "product") == "product":
            by_sku.setdefault(offer["sku"], []).append(offer["id"])
    return by_sku


def proposals_for(
    result: MiningResult,
    significance: Significance,
    source: str,
    examples: Examples,
    by_sku: Mapping[str, list[str]],
) -> tuple[list[dict[str, Any]], int, int]:
    """The proposal of every significant rule of ``result`` that an offer can pitch; and how
    many rules were significant, and how many of those no offer sells."""
    out, significant, no_offer = [], 0, 0
    for rule in result.rules:
        if not significance.significant(rule.antecedent, rule.consequent):
            continue
        significant += 1
        offers = by_sku.get(rule.consequent)
        if not offers:
            no_offer += 1
            continue
        out.append(proposal_for(rule, offers, significance, result, source, examples))
    return out, significant, no_offer


def transactions_of(
    conversions: Iterable[Conversion], sku: Mapping[str, str], filters: Filters | None = None
) -> Transactions:
    """Baskets from the ledger's convert events (``sku``: the sku each offer sells).

    A convert event whose payload lists ``items`` (the skus of a checkout) is one basket;
    the other conversions of one session form a basket of the skus their offers sell.
    """
    keep = (filters or Filters()).item_filter()
    baskets: list[Basket] = []
    sessions: dict[str, dict[str, None]] = {}
    out = Transactions([], "ledger")
    for row in conversions:
        payload = row.payload or {}
        items = payload.get("items")
        if isinstance(items, list):
            basket = basket_of(str(i) for i in items if isinstance(i, str | int) and keep(str(i)))
            if basket:
                baskets.append(basket)
            else:
                out.dropped["empty baskets"] += 1
        elif row.session_id is not None and row.offer_id is not None:
            item = sku.get(row.offer_id, row.offer_id)
            if keep(item):
                sessions.setdefault(row.session_id, {})[item] = None
        else:
            out.dropped["conversions without items or session"] += 1
    out.baskets = baskets + [tuple(s) for s in sessions.values()]
    return out
