"""``nextoffer demo``: the two scenarios of DESIGN.md, as far as the product is built.

Today it runs the decision engine on both scenarios (the bank's worked example with and
without the uplift term, the monthly contact cap, a checkout with EV ranking, the price cap
and session back-off), shows upsell triggers matched through the trigger index (including a
breakfast rule across the US daylight-saving change of 2026-03-08), and a mistyped rule
rejected with an error that points.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.table import Table

from ..core.decision import CustomerState, build_snapshot, decide
from ..core.request import Request
from ..core.rules import (
    CompiledCondition,
    CustomerSchema,
    Environment,
    RuleError,
    TriggerIndex,
    build_context,
)
from ..scenarios import bank_snapshot, checkout_snapshot
from .decide import decision_table, print_trace
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
    """The worked example: credit card first, savings second, because of uplift."""
    customer = {
        "id": "c-1",
        "attributes": {"tier": "premium", "tenureMonths": 36, "hasCreditCard": False, "balance": 12000.0},
        "holdings": ["checking"],
    }  # fmt: skip
    request = Request.model_validate(
        {"customer": customer, "channel": "email", "at": "2026-03-08T14:30:00Z"}
    )
    out.print("\n[bold]Bank cross-sell[/]: a 36-month premium customer without a credit card")
    with_uplift = decide(build_snapshot(bank_snapshot()), request)
    out.print(decision_table(with_uplift, "PRIE with uplift weight Wu = 0.2"))
    plain = decide(build_snapshot(bank_snapshot(uplift_weight=0.0)), request)
    out.print(decision_table(plain, "the same customer with Wu = 0: savings ranks first"))
    history = [
        {"offer": "savings-account", "channel": "email", "outcome": "shown",
         "at": f"2026-03-0{day}T09:00:00Z"}
        for day in (1, 3, 5, 7)
    ]  # fmt: skip
    capped = decide(
        build_snapshot(bank_snapshot()),
        request,
        CustomerState.model_validate({"history": history}),
    )
    out.print("after 4 contacts this month, a fifth is stopped:")
    print_trace(capped)


def _checkout() -> None:
    snapshot = build_snapshot(checkout_snapshot())
    base = {
        "customer": {"id": "guest-7"},
        "cart": {"items": [{"sku": "STEAK-01", "category": "main_course", "quantity": 2, "price": 1200.0}]},
        "channel": "pos",
        "store": {"id": "S1", "timezone": "America/New_York"},
        "session_id": "s-1",
        "at": "2026-03-08T22:30:00Z",
    }  # fmt: skip
    out.print("\n[bold]Checkout upsell[/]: two steaks on the POS, ranked by expected value")
    first = decide(snapshot, Request.model_validate(base))
    out.print(
        decision_table(first, "steak -> red wine (the premium bottle is over 35% of the cart)")
    )
    print_trace(first)
    declines = [
        {"offer": offer, "channel": "pos", "outcome": outcome, "session_id": "s-1",
         "at": f"2026-03-08T22:2{i}:00Z"}
        for i, offer in enumerate(["RED-WINE-01", "RED-WINE-02", "DESSERT-01"])
        for outcome in ("shown", "declined")
    ]  # fmt: skip
    later = decide(
        snapshot, Request.model_validate(base), CustomerState.model_validate({"history": declines})
    )
    out.print("after three declines in the session, nothing more is pitched:")
    print_trace(later)


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
    _checkout()
    _shop()
    _errors()
