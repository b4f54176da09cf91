"""Checkout upsell: a restaurant's cart, rules such as "steak → red wine", EV ranking.

Triggers look at cart contents, item count, categories and the time of day in the store's
time zone; candidates are ranked by expected value (attach rate × margin) with stable
tie-breakers. Guardrails: after 3 declines in a session nothing more is pitched; nothing
costing more than 35% of the cart total; nothing below the minimum score.
"""

from __future__ import annotations

from typing import Any

__all__ = ["checkout_snapshot"]


def checkout_snapshot(*, version: str = "checkout-1") -> dict[str, Any]:
    """The restaurant's snapshot data (prices in the shop's currency)."""
    products = [
        ("STEAK-01", "Rib-eye steak", "main_course", 1200, 480),
        ("RED-WINE-01", "Rioja, glass", "wine", 380, 150),
        ("RED-WINE-02", "Malbec, glass", "wine", 380, 150),
        ("PREMIUM-WINE-01", "Barolo, bottle", "wine", 1500, 600),
        ("DESSERT-01", "Crème brûlée", "dessert", 220, 60),
        ("COFFEE-01", "Espresso", "drinks", 90, 15),
        ("CROISSANT-01", "Croissant", "bakery", 120, 30),
    ]
    return {
        "version": version,
        "customer_schema": {"attributes": {"loyalty": "string"}},
        "products": [
            {"sku": sku, "name": name, "category": cat, "price": price, "cost": cost}
            for sku, name, cat, price, cost in products
        ],
        "offers": [
            {"id": sku, "sku": sku, "channels": ["pos", "kiosk"]}
            for sku, *_ in products if sku != "STEAK-01"
        ],
        "rules": [
            {"id": "steak-red-wine", "trigger": 'cart.has_sku("STEAK-01")',
             "offers": ["RED-WINE-01", "RED-WINE-02", "PREMIUM-WINE-01"], "priority": 60},
            {"id": "dessert-after-mains", "priority": 40,
             "trigger": 'cart.has_category("main_course") and not cart.has_category("dessert")',
             "offers": ["DESSERT-01"]},
            {"id": "breakfast", "trigger": "local_time.hour between 6 and 10",
             "offers": ["COFFEE-01", "CROISSANT-01"], "priority": 50},
        ],
        "channels": [
            {"id": "pos", "placements": [{"id": "pos-upsell", "slots": 2}],
             "scoring": {"strategy": "expected_value"}},
            {"id": "kiosk", "coupling": "atomic", "scoring": {"strategy": "expected_value"},
             "placements": [{"id": "kiosk-main"}, {"id": "kiosk-side"}]},
        ],
        "policies": [
            {"id": "session-backoff", "type": "session_backoff", "declines": 3, "priority": 100},
        ],
        "guardrails": {"min_score": 0.15, "max_price_share": 0.35},
        "attach": [
            {"rule": "steak-red-wine", "offer": "RED-WINE-01", "shown": 200, "accepted": 50},
            {"rule": "steak-red-wine", "offer": "RED-WINE-02", "shown": 200, "accepted": 50},
            {"rule": "steak-red-wine", "offer": "PREMIUM-WINE-01", "shown": 100, "accepted": 5},
            {"offer": "DESSERT-01", "shown": 300, "accepted": 60},
            {"offer": "COFFEE-01", "shown": 400, "accepted": 120},
            {"offer": "CROISSANT-01", "shown": 400, "accepted": 80},
        ],
    }  # fmt: skip
