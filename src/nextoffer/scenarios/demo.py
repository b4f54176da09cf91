"""The demo's data: both scenarios in one catalog, generated customers and carts, and traffic.

Nothing is read from files: customers, carts and outcomes are drawn from a seeded random
generator, so every run of ``nextoffer demo`` makes the same data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .bank import bank_snapshot
from .checkout import checkout_snapshot

__all__ = [
    "BANK_CHANNELS",
    "DEMO_EXPLORATION",
    "MORTGAGE_TRUTH",
    "SHOP_TRUTH",
    "STORES",
    "WORKED_EXAMPLE",
    "JourneyTruth",
    "bank_customers",
    "demo_snapshot",
    "shop_requests",
    "true_effect",
]

BANK_CHANNELS = ["email", "in_app", "branch"]
STORES = [("S1", "America/New_York"), ("S2", "Europe/Paris"), ("S3", "Asia/Tokyo")]
WORKED_EXAMPLE = {
    "id": "demo-premium-36",
    "attributes": {"tier": "premium", "tenureMonths": 36, "hasCreditCard": False, "balance": 12000.0},
    "holdings": ["checking"],
    "segments": [],
}  # fmt: skip


# the strategies' exploration in the demo's traffic (``demo_snapshot(exploring=True)``): the
# shop's upsell tries another qualified offer one time in ten, the bank's e-mail draws its
# attach rates and τ from their posteriors
DEMO_EXPLORATION: dict[str, dict[str, Any]] = {
    "pos": {"kind": "epsilon_greedy", "epsilon": 0.1},
    "kiosk": {"kind": "epsilon_greedy", "epsilon": 0.1},
    "email": {"kind": "thompson"},
}


def demo_snapshot(version: str = "demo-1", *, exploring: bool = False) -> dict[str, Any]:
    """The bank and the shop in one snapshot: the bank's monthly cap and its holdout apply
    to the bank's channels, the shop's session back-off to the shop's. ``exploring``: the
    channels of ``DEMO_EXPLORATION`` explore (what ``nextoffer demo`` publishes); otherwise
    every channel is greedy."""
    bank, shop = bank_snapshot(), checkout_snapshot()
    if exploring:
        for channel in bank["channels"] + shop["channels"]:
            if channel["id"] in DEMO_EXPLORATION:
                channel["exploration"] = dict(DEMO_EXPLORATION[channel["id"]])
    for p in bank["policies"]:
        if p["type"] == "total_cap":
            p["scope"] = {"level": "channel", "values": BANK_CHANNELS}
    for p in shop["policies"]:
        p["scope"] = {"level": "channel", "values": [c["id"] for c in shop["channels"]]}
    bank["holdout"]["channels"] = BANK_CHANNELS
    schema = {**bank["customer_schema"]["attributes"], **shop["customer_schema"]["attributes"]}
    return {
        "version": version,
        "customer_schema": {"attributes": schema},
        "products": bank["products"] + shop["products"],
        "offers": bank["offers"] + shop["offers"],
        "rules": shop["rules"],
        "channels": bank["channels"] + shop["channels"],
        "policies": bank["policies"] + shop["policies"],
        "guardrails": shop["guardrails"],
        "holdout": bank["holdout"],
        "attach": bank["attach"] + shop["attach"],
        # no per-offer τ: the demo learns each customer's from its own simulated traffic
        "uplift": [],
    }


# The simulator's truth for the shop: how often a pitched upsell is taken. It is not what the
# snapshot's attach counts say (``checkout_snapshot``'s prior): the premium wine sells better
# than its 5 in 100 and dessert worse, so a strategy that explores learns what a greedy one
# cannot, and an estimate built on the snapshot's rates alone (the direct method) is biased.
SHOP_TRUTH: dict[str, float] = {
    "RED-WINE-01": 0.25,
    "RED-WINE-02": 0.22,
    "PREMIUM-WINE-01": 0.14,
    "DESSERT-01": 0.12,
    "COFFEE-01": 0.30,
    "CROISSANT-01": 0.20,
}


def true_effect(customer: dict[str, Any], offer: str) -> tuple[float, float]:
    """The simulator's truth for a bank customer and offer: (base rate, effect τ).

    The base rate is how often the customer takes the product unprompted (the control
    group's rate); τ is what the pitch adds. Customers of 30 months or more open savings
    accounts on their own, and a pitch puts some off (τ = −0.05); newer ones are persuaded
    (+0.12). The card persuades premium customers (+0.20), not gold ones (0); the mortgage
    only those with savings of 40,000 or more; brokerage VIPs.
    """
    a = customer.get("attributes", {})
    tenure = a.get("tenureMonths", 0)
    if offer == "savings-account":
        return (0.45, -0.05) if tenure >= 30 else (0.15, 0.12)
    if offer == "credit-card":
        return 0.10, 0.20 if a.get("tier") == "premium" else 0.0
    if offer == "mortgage":
        return 0.02, 0.04 if a.get("balance", 0) >= 40_000 else 0.0
    if offer == "brokerage":
        return 0.03, 0.08 if "VIP" in customer.get("segments", ()) else 0.01
    return 0.05, 0.0


@dataclass(frozen=True)
class JourneyTruth:
    """The simulator's truth for the mortgage journey (``mortgage_journey.yaml``): how often
    a customer clicks an e-mail lead (within ``click_days``), how often a responder comes to
    the branch (within ``visit_days``), how often anyone takes a mortgage unprompted within
    the ``days`` simulated (``base``), and what being offered the appointment adds
    (``effect``)."""

    click: float = 0.35
    click_days: int = 6
    visit: float = 0.8
    visit_days: int = 10
    base: float = 0.03
    effect: float = 0.30
    days: int = 60


MORTGAGE_TRUTH = JourneyTruth()


def bank_customers(rng: random.Random, n: int) -> Iterator[dict[str, Any]]:
    """The worked-example customer, then ``n`` generated ones."""
    yield WORKED_EXAMPLE
    for i in range(n):
        holdings = [
            "checking",
            *rng.sample(["savings-account", "credit-card", "mortgage"], rng.randrange(0, 2)),
        ]
        yield {
            "id": f"bank-{i:04d}",
            "attributes": {
                "tier": rng.choice(["basic", "basic", "gold", "premium"]),
                "tenureMonths": rng.randrange(1, 72),
                "hasCreditCard": "credit-card" in holdings,
                "balance": float(rng.randrange(100, 90_000)),
            },
            "holdings": holdings,
            "segments": ["VIP"] if rng.random() < 0.1 else [],
        }


def shop_requests(rng: random.Random, n: int) -> Iterator[dict[str, Any]]:
    """Carts at the three stores, at all hours (local time differs by store)."""
    menu = [("STEAK-01", "main_course", 1200.0), ("DESSERT-01", "dessert", 220.0),
            ("COFFEE-01", "drinks", 90.0), ("CROISSANT-01", "bakery", 120.0),
            ("RED-WINE-01", "wine", 380.0)]  # fmt: skip
    for i in range(n):
        items = [{"sku": sku, "category": cat, "price": price, "quantity": rng.randrange(1, 3)}
                 for sku, cat, price in rng.sample(menu, rng.randrange(1, 3))]  # fmt: skip
        store, zone = rng.choice(STORES)
        yield {
            "customer": {"id": f"guest-{rng.randrange(300):03d}"},
            "cart": {"items": items},
            "channel": rng.choice(["pos", "kiosk"]),
            "store": {"id": store, "timezone": zone},
            "session_id": f"sess-{i // 3:05d}",
        }
