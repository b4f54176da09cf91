"""Checkout upsell, end to end through the core."""

from __future__ import annotations

import datetime as dt
from typing import Any

from nextoffer.core.decision import Contact, CustomerState, Snapshot, decide

from .conftest import request

STEAK_CART = {
    "items": [{"sku": "STEAK-01", "category": "main_course", "quantity": 2, "price": 1200.0}]
}
NEW_YORK = {"id": "S1", "timezone": "America/New_York"}


def checkout_request(**fields: Any) -> Any:
    base = {"customer": {"id": "guest-7"}, "cart": STEAK_CART, "channel": "pos", "store": NEW_YORK,
            "session_id": "s-1", "at": "2026-03-08T18:30:00Z"}  # fmt: skip
    return request(**{**base, **fields})


def test_steak_triggers_wine_ranked_by_ev_with_stable_tie_breakers(checkout: Snapshot) -> None:
    d = decide(checkout, checkout_request())
    assert [(r.id, r.revision) for r in d.rules_fired] == [
        ("steak-red-wine", 1),
        ("dessert-after-mains", 1),
    ]
    # the two glasses tie on priority, EV and attach rate: the offer id decides
    [slot] = d.placements
    assert [s.offer for s in slot.offers] == ["RED-WINE-01", "RED-WINE-02"]
    first, second = slot.offers
    assert first.score == second.score
    assert first.p == second.p
    assert first.rules == ("steak-red-wine",)
    assert first.ev is not None
    assert abs(first.ev - first.p * (380 - 150)) < 1e-9
    # the dessert rule has a lower priority: it ranks after both wines and finds no slot
    assert d.trace.reasons("DESSERT-01") == ["place: no free slot in the requested placements"]


def test_price_delta_cap_drops_an_expensive_item(checkout: Snapshot) -> None:
    d = decide(checkout, checkout_request())
    assert d.trace.reasons("PREMIUM-WINE-01") == [
        "gates: price_delta_cap: price 1500.00 > 35% of the cart total 2400.00 (840.00)"
    ]
    big = {
        "items": [{"sku": "STEAK-01", "category": "main_course", "quantity": 4, "price": 1200.0}]
    }
    assert (
        "PREMIUM-WINE-01"
        not in decide(checkout, checkout_request(cart=big)).trace.reasons("PREMIUM-WINE-01")[0]
    )


def test_three_declines_in_a_session_empty_every_later_decision(checkout: Snapshot) -> None:
    history: list[Contact] = []
    at = dt.datetime(2026, 3, 8, 18, 30, tzinfo=dt.UTC)
    shown_counts = []
    for step in range(5):
        moment = at + dt.timedelta(minutes=step)
        d = decide(
            checkout,
            checkout_request(at=moment.isoformat()),
            CustomerState(id="guest-7", history=tuple(history)),
        )
        shown_counts.append(len(d.offers()))
        for offer in d.offers()[:1]:  # the guest declines the first pitch each time
            history.append(
                Contact(offer=offer, channel="pos", at=moment, outcome="shown", session_id="s-1")
            )
            history.append(
                Contact(offer=offer, channel="pos", at=moment, outcome="declined", session_id="s-1")
            )
    assert shown_counts[:3] == [2, 2, 2]
    assert shown_counts[3:] == [0, 0]
    last = decide(checkout, checkout_request(at=(at + dt.timedelta(minutes=9)).isoformat()),
                  CustomerState(id="guest-7", history=tuple(history)))  # fmt: skip
    assert last.trace.reasons("RED-WINE-01") == [
        "policies: session_backoff: 3 declines this session (limit 3; scope: global)"
    ]
    # a new session starts afresh
    fresh = decide(
        checkout, checkout_request(session_id="s-2"), CustomerState(history=tuple(history))
    )
    assert fresh.offers()


def test_breakfast_rule_follows_the_stores_clock_across_daylight_saving(checkout: Snapshot) -> None:
    def breakfast(at: str) -> bool:
        d = decide(checkout, checkout_request(cart={"items": []}, at=at))
        return "breakfast" in [r.id for r in d.rules_fired]

    # 2026-03-08 02:00 is when New York moves from UTC-5 to UTC-4
    assert breakfast("2026-03-07T15:30:00Z")  # 10:30 EST
    assert not breakfast("2026-03-07T17:30:00Z")  # 12:30 EST
    assert breakfast("2026-03-08T14:30:00Z")  # 10:30 EDT
    assert not breakfast("2026-03-08T16:30:00Z")  # 12:30 EDT
    assert not breakfast("2026-03-08T15:30:00Z")  # 11:30 EDT (a fixed UTC-5 would say 10:30)
    d = decide(checkout, checkout_request(cart={"items": []}, at="2026-03-08T14:30:00Z"))
    assert d.offers() == ["COFFEE-01", "CROISSANT-01"]  # EV: 75 × 0.30 > 90 × 0.20


def test_items_already_in_the_cart_are_not_offered(checkout: Snapshot) -> None:
    cart = {
        "items": [*STEAK_CART["items"], {"sku": "RED-WINE-01", "category": "wine", "price": 380.0}]
    }
    d = decide(checkout, checkout_request(cart=cart))
    assert d.offers() == ["RED-WINE-02", "DESSERT-01"]
    assert d.trace.reasons("RED-WINE-01") == ["candidates: RED-WINE-01 is already in the cart"]
