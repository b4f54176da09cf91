"""``nextoffer demo``: the two scenarios of DESIGN.md, as far as the product is built.

Today this shows the rule language at work: the bank's offer conditions and the shop's
upsell triggers are compiled against their customer schema, evaluated on sample requests
(including a breakfast rule across the US daylight-saving change of 2026-03-08), matched
through the trigger index, and a mistyped rule is rejected with an error that points.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.table import Table

from ..core.request import Request
from ..core.rules import (
    CompiledCondition,
    CustomerSchema,
    Environment,
    RuleError,
    TriggerIndex,
    build_context,
)
from .output import out

BANK_SCHEMA = CustomerSchema(
    attributes={
        "tier": "string",
        "tenureMonths": "int",
        "hasCreditCard": "bool",
        "hasSavings": "bool",
        "hasMortgage": "bool",
        "hasBrokerage": "bool",
        "balance": "float",
    }
)

BANK_OFFERS = {
    "credit-card": 'not customer.hasCreditCard and customer.tier in ["premium", "gold"]',
    "savings-account": "not customer.hasSavings and customer.tenureMonths >= 6",
    "mortgage": 'not customer.hasMortgage and customer.tier in ["premium", "gold"] '
    "and customer.tenureMonths >= 24",
    "brokerage": 'not customer.hasBrokerage and "VIP" in customer.segments',
}

BANK_CUSTOMERS = {
    "demo-premium-36": {
        "tier": "premium", "tenureMonths": 36, "hasCreditCard": False, "hasSavings": False,
        "hasMortgage": True, "hasBrokerage": False, "balance": 18250.0,
    },
    "demo-basic-3": {
        "tier": "basic", "tenureMonths": 3, "hasCreditCard": True, "hasSavings": False,
        "hasMortgage": False, "hasBrokerage": False, "balance": 420.0,
    },
}  # fmt: skip

SHOP_RULES = {
    "steak-red-wine": 'cart.has_sku("STEAK-01")',
    "wine-cheese-board": 'any item in cart.items: item.category == "wine" and item.price > 30',
    "two-mains-dessert": 'count(item in cart.items: item.category == "main_course") >= 2',
    "big-cart-delivery": "cart.count >= 2 and cart.total > 2400",
    "breakfast-coffee": "local_time.hour between 6 and 11",
    "app-only-vip": 'channel == "in_app" and "VIP" in customer.segments',
    "downtown-stores": 'store.id in ["S1", "S2"] and not cart.has_category("dessert")',
}

SHOP_CARTS: dict[str, dict[str, Any]] = {
    "steak dinner, 10:30 New York (DST day)": {
        "items": [
            {"sku": "STEAK-01", "category": "main_course", "quantity": 2, "price": 1200.0},
        ],
        "store": {"id": "S1", "timezone": "America/New_York"},
        "at": "2026-03-08T14:30:00Z",
    },
    "wine and two mains, 12:30 New York": {
        "items": [
            {"sku": "BURG-02", "category": "main_course", "quantity": 1, "price": 18.5},
            {"sku": "PASTA-07", "category": "main_course", "quantity": 1, "price": 16.0},
            {"sku": "WINE-RIOJA", "category": "wine", "quantity": 1, "price": 42.0},
        ],
        "store": {"id": "S2", "timezone": "America/New_York"},
        "at": "2026-03-09T16:30:00Z",
    },
    "dessert only, 10:30 the day before (EST)": {
        "items": [{"sku": "TIRAMISU", "category": "dessert", "quantity": 1, "price": 7.5}],
        "store": {"id": "S3", "timezone": "America/New_York"},
        "at": "2026-03-07T15:30:00Z",
    },
}


def _mark(value: bool) -> str:
    return "[green]yes[/]" if value else "[dim]no[/]"


def _bank() -> None:
    env = Environment(customer=BANK_SCHEMA)
    offers = {offer: env.compile(text) for offer, text in BANK_OFFERS.items()}
    table = Table(title="Bank cross-sell: offer eligibility (rule language)")
    table.add_column("offer")
    table.add_column("eligibility condition")
    for customer_id in BANK_CUSTOMERS:
        table.add_column(customer_id, justify="center")
    contexts = []
    for customer_id, attributes in BANK_CUSTOMERS.items():
        request = Request.model_validate(
            {
                "customer": {"id": customer_id, "attributes": attributes, "segments": ["VIP"]},
                "channel": "email",
                "at": "2026-03-08T14:30:00Z",
            }
        )
        contexts.append(build_context(request, BANK_SCHEMA))
    for offer, condition in offers.items():
        table.add_row(offer, condition.text, *(_mark(condition(ctx)) for ctx in contexts))
    out.print(table)


def _shop() -> None:
    env = Environment(offer_names=False)
    rules: list[tuple[str, CompiledCondition]] = [
        (rule_id, env.compile(text)) for rule_id, text in SHOP_RULES.items()
    ]
    index = TriggerIndex(rules)
    table = Table(title="Checkout upsell: triggers that fire (through the trigger index)")
    table.add_column("cart")
    table.add_column("local time")
    table.add_column("rules that fire")
    for label, spec in SHOP_CARTS.items():
        request = Request.model_validate(
            {
                "customer": {"id": "shop-guest", "segments": ["VIP"]},
                "cart": {"items": spec["items"]},
                "channel": "in_app",
                "store": spec["store"],
                "session_id": "demo-session",
                "at": spec["at"],
            }
        )
        ctx = build_context(request)
        local = f"{ctx['local_time.hour']:02d}:{ctx['local_time.minute']:02d}"
        fired = index.match(ctx)
        table.add_row(label, local, ", ".join(fired) or "[dim]none[/]")
    out.print(table)
    out.print(
        f"{len(index)} rules indexed; {index.always_checked} checked for every request, "
        "the rest only when the cart or request holds what they need."
    )


def _errors() -> None:
    env = Environment(customer=BANK_SCHEMA)
    mistyped = 'customer.tenureMonth >= 36 and customer.tier == "premium"'
    out.print("\nA mistyped condition is rejected before anything runs:")
    try:
        env.compile(mistyped)
    except RuleError as exc:
        out.print(str(exc), markup=False)


def demo() -> None:
    """Run the demo: both scenarios of nextoffer, as far as they are built."""
    out.rule("[bold]nextoffer demo[/]")
    out.print(f"generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n")
    _bank()
    _shop()
    _errors()
