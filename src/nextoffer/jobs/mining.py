"""Mined rules into the governance workflow, and the ledger's conversions as transactions.

A significant rule ``A → c`` becomes a proposal whose trigger is ``cart.has_sku(a₁) and …``
for the antecedent's items and whose offers are the catalog's product offers selling ``c``
(a rule whose consequent no offer sells cannot be pitched and is skipped). Its statistics
travel with it: support, confidence, lift, leverage, conviction, the counts, the holdout
p-value and BH q-value, the thresholds, the source and a few example baskets.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy.orm import Session

from ..core.learning.mining import MinedRule, MiningResult
from ..core.learning.significance import Significance
from ..service.catalog import service as catalog
from ..service.ledger import repository as ledger
from ..service.rules import service as governance
from .transactions import Basket, Filters, Transactions, basket_of

__all__ = ["ledger_transactions", "proposal_for", "propose_rules"]

EXAMPLES = 3  # example baskets kept with a proposal
EXAMPLE_ITEMS = 12  # items shown of each


def trigger_for(antecedent: tuple[str, ...]) -> str:
    return " and ".join(f"cart.has_sku({json.dumps(item)})" for item in antecedent)


def proposal_for(
    rule: MinedRule,
    offers: list[str],
    significance: Significance,
    result: MiningResult,
    data: Transactions,
) -> dict[str, Any]:
    key = (rule.antecedent, rule.consequent)
    examples = []
    for position in result.baskets_with((*rule.antecedent, rule.consequent), EXAMPLES):
        basket = sorted(data.baskets[position])
        examples.append(basket[:EXAMPLE_ITEMS] + (["…"] if len(basket) > EXAMPLE_ITEMS else []))
    stats = {
        **rule.statistics(finite=True),
        "baskets": rule.n,
        "p_value": significance.p_values[key],
        "q_value": significance.q_values[key],
        "fdr": significance.fdr,
        "min_count": result.min_count,
        "min_confidence": float(result.min_confidence),
        "source": data.source,
        "mined_at": dt.datetime.now(dt.UTC).isoformat(),
        "examples": examples,
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


def propose_rules(
    session: Session,
    actor: str,
    data: Transactions,
    result: MiningResult,
    significance: Significance,
) -> dict[str, int]:
    """Propose every significant rule of ``result``; returns what happened, by count."""
    by_sku: dict[str, list[str]] = {}
    for offer in catalog.list_items(session, "offer"):
        if offer.get("sku") is not None and offer.get("kind", "product") == "product":
            by_sku.setdefault(offer["sku"], []).append(offer["id"])
    counts = {"significant": 0, "created": 0, "updated": 0, "no_offer": 0}
    for rule in result.rules:
        if not significance.significant(rule.antecedent, rule.consequent):
            continue
        counts["significant"] += 1
        offers = by_sku.get(rule.consequent)
        if not offers:
            counts["no_offer"] += 1
            continue
        done = governance.propose(
            session, actor, proposal_for(rule, offers, significance, result, data)
        )
        counts["updated" if done.get("updated") else "created"] += 1
    return counts


def ledger_transactions(session: Session, filters: Filters | None = None) -> Transactions:
    """Baskets from the ledger's convert events.

    A convert event whose payload lists ``items`` (the skus of a checkout) is one basket;
    the other conversions of one session form a basket of the skus their offers sell.
    """
    keep = (filters or Filters()).item_filter()
    sku = {o["id"]: o.get("sku") or o["id"] for o in catalog.list_items(session, "offer")}
    baskets: list[Basket] = []
    sessions: dict[str, dict[str, None]] = {}
    out = Transactions([], "ledger")
    for row in ledger.conversions(session):
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
