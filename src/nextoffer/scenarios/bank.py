"""Bank cross-sell: checking, savings, credit card, mortgage, brokerage.

Four cross-sell offers qualify on holdings and tier, surface on email, in-app and branch
(each channel couples its placements partially), and are ranked by PRIE with an uplift
weight of 0.2. A customer gets at most 4 contacts a month across all offers, and 10% of
customers are a holdout that gets no cross-sell.

Savings has the highest raw propensity (30% of those shown open one) but a negative uplift
estimate (τ = −0.04: they would open it anyway), so with the uplift term the credit card
(τ = +0.05) ranks first for a customer who qualifies for both.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import yaml

__all__ = ["BANK_SCHEMA", "MORTGAGE_JOURNEY", "bank_snapshot", "mortgage_journey"]

MORTGAGE_JOURNEY = "mortgage_journey.yaml"
"""The bank's mortgage journey definition (issue 19), a file of this package."""

BANK_SCHEMA: dict[str, str] = {
    "tier": "string",
    "tenureMonths": "int",
    "hasCreditCard": "bool",
    "balance": "float",
}

_CHANNELS = ("email", "in_app", "branch")


def bank_snapshot(*, version: str = "bank-1", uplift_weight: float = 0.2) -> dict[str, Any]:
    """The bank's snapshot data; ``uplift_weight`` is Wu of the PRIE scoring on every channel."""
    scoring = {
        "strategy": "prie",
        "weights": {
            "propensity": 0.4,
            "relevance": 0.1,
            "impact": 0.3,
            "emphasis": 0.2,
            "uplift": uplift_weight,
        },
        "uplift_scale": 0.1,
    }
    return {
        "version": version,
        "customer_schema": {"attributes": BANK_SCHEMA},
        "products": [
            {"sku": "checking", "name": "Checking account", "category": "deposits", "price": 60, "cost": 20},
            {"sku": "savings-account", "name": "Savings account", "category": "deposits", "price": 140, "cost": 20},
            {"sku": "credit-card", "name": "Credit card", "category": "cards", "price": 210, "cost": 60},
            {"sku": "mortgage", "name": "Mortgage", "category": "lending", "price": 1400, "cost": 500},
            {"sku": "brokerage", "name": "Brokerage account", "category": "investments", "price": 260, "cost": 80},
        ],
        "offers": [
            {
                "id": "savings-account", "sku": "savings-account", "open": True, "emphasis": 0.5,
                "channels": list(_CHANNELS),
                "eligibility": "customer.tenureMonths >= 6",
            },
            {
                "id": "credit-card", "sku": "credit-card", "open": True, "emphasis": 0.6,
                "channels": list(_CHANNELS),
                "eligibility": 'customer.tier in ["premium", "gold"] and not customer.hasCreditCard',
            },
            {
                "id": "mortgage", "sku": "mortgage", "open": True, "emphasis": 0.5,
                "channels": ["email", "branch"],
                "eligibility": 'customer.tier in ["premium", "gold"] and customer.tenureMonths >= 24',
            },
            {
                "id": "brokerage", "sku": "brokerage", "open": True, "emphasis": 0.4,
                "channels": list(_CHANNELS),
                "eligibility": '"VIP" in customer.segments or customer.balance >= 50000',
            },
            # the mortgage journey's offers (``mortgage_journey.yaml``): closed, so that only
            # the journey's steps nominate them; ranked first where they are nominated; a
            # category of their own (advice, not lending: their attach rate is not the
            # mortgage's)
            {
                "id": "mortgage-lead", "kind": "action", "value": 900, "category": "advice",
                "open": False, "priority": 80, "emphasis": 0.9, "channels": ["email"],
                "eligibility": 'customer.tier in ["premium", "gold"] and customer.tenureMonths >= 24',
            },
            {
                "id": "mortgage-appointment", "kind": "action", "value": 900,
                "category": "advice", "open": False, "priority": 80, "emphasis": 0.9,
                "channels": ["branch", "in_app"],
                "eligibility": 'customer.tier in ["premium", "gold"] and customer.tenureMonths >= 24',
            },
        ],
        "channels": [
            {"id": "email", "coupling": "partial", "scoring": scoring,
             "placements": [{"id": "email-hero"}, {"id": "email-footer"}]},
            {"id": "in_app", "coupling": "partial", "scoring": scoring,
             "placements": [{"id": "in_app-banner"}, {"id": "in_app-feed", "slots": 2}]},
            {"id": "branch", "coupling": "partial", "scoring": scoring,
             "placements": [{"id": "branch-desk", "slots": 2}]},
        ],
        "policies": [
            {"id": "monthly-contacts", "type": "total_cap", "limit": 4, "period": "month", "priority": 90},
            {"id": "card-cooldown", "type": "cooldown", "hours": 72,
             "scope": {"level": "offer", "value": "credit-card"}},
            {"id": "opt-outs", "type": "do_not_contact", "priority": 100},
        ],
        "holdout": {"experiment": "bank-cross-sell-2026", "share": 0.10},
        "attach": [
            {"offer": "savings-account", "shown": 1000, "accepted": 300},
            {"offer": "credit-card", "shown": 1000, "accepted": 180},
            {"offer": "mortgage", "shown": 1000, "accepted": 8},
            {"offer": "brokerage", "shown": 500, "accepted": 10},
        ],
        "uplift": [
            {"offer": "savings-account", "tau": -0.04, "segment": "sure_thing"},
            {"offer": "credit-card", "tau": 0.05, "segment": "persuadable"},
            {"offer": "mortgage", "tau": 0.01},
            {"offer": "brokerage", "tau": 0.02},
        ],
    }  # fmt: skip


def mortgage_journey() -> dict[str, Any]:
    """The bank's mortgage journey definition, as plain data (``mortgage_journey.yaml``).

    Its steps offer the closed action offers ``mortgage-lead`` (e-mail) and
    ``mortgage-appointment`` (branch and in-app) of ``bank_snapshot``."""
    data: dict[str, Any] = yaml.safe_load(
        files("nextoffer.scenarios").joinpath(MORTGAGE_JOURNEY).read_text(encoding="utf-8")
    )
    return data
