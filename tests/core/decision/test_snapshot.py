"""Building a snapshot validates everything and reports every problem with its place."""

from __future__ import annotations

import pytest

from nextoffer.core.decision import SnapshotError, build_snapshot
from nextoffer.scenarios import bank_snapshot, checkout_snapshot


def test_scenarios_build() -> None:
    bank = build_snapshot(bank_snapshot())
    assert bank.version == "bank-1"
    assert sorted(bank.offers) == ["brokerage", "credit-card", "mortgage", "mortgage-appointment",
                                   "mortgage-lead", "savings-account"]  # fmt: skip
    # the mortgage journey's offers are closed: only its steps nominate them
    assert [o.id for o in bank.open_offers["in_app"]] == [
        "savings-account",
        "credit-card",
        "brokerage",
    ]
    shop = build_snapshot(checkout_snapshot())
    assert len(shop.index) == 3
    assert shop.open_offers["pos"] == ()


def test_every_problem_is_reported_with_its_place() -> None:
    data = checkout_snapshot()
    data["offers"][0]["eligibility"] = "customer.loyalti == 'gold'"
    data["offers"][1]["fit"] = "offer.price > 10 and cart.totl > 5"
    data["offers"][2]["sku"] = "NOPE"
    data["rules"][0]["offers"].append("GHOST")
    data["rules"][1]["trigger"] = "offer.price > 3"  # offer names are not visible in triggers
    data["channels"][0]["placements"][0]["fallback_offer"] = "GHOST"
    data["policies"].append({"id": "cap", "type": "frequency_cap", "limit": 1, "period": "day",
                             "scope": {"level": "category", "value": "shoes"}})  # fmt: skip
    data["attach"].append({"offer": "GHOST", "shown": 1, "accepted": 0})
    with pytest.raises(SnapshotError) as info:
        build_snapshot(data)
    found = {d.path: d.message for d in info.value.diagnostics}
    assert found["offers[0].eligibility.left"] == (
        "unknown name 'customer.loyalti' (did you mean 'customer.loyalty'?)"
    )
    assert found["offers[1].fit.operands[1].left"].startswith("unknown name 'cart.totl'")
    assert found["offers[2].sku"] == "unknown product 'NOPE'"
    assert found["rules[0].offers[3]"] == "unknown offer 'GHOST'"
    assert "rules[1].trigger.left" in found
    assert found["channels[0].placements[0].fallback_offer"] == "unknown offer 'GHOST'"
    assert found["policies[1].scope.value"] == "unknown category 'shoes'"
    assert found["attach[6].offer"] == "unknown offer 'GHOST'"
    # text conditions render with line, column and a caret
    assert "offers[0].eligibility.left: line 1, column 1: unknown name" in str(info.value)
    assert "^^^^^^^^^^^^^^^^" in str(info.value)


def test_field_errors_name_the_field() -> None:
    data = bank_snapshot()
    data["channels"][0]["scoring"]["weights"]["impact"] = 0.5
    data["offers"][0]["priority"] = 101
    data["policies"].append({"id": "x", "type": "cooldown"})
    with pytest.raises(SnapshotError) as info:
        build_snapshot(data)
    found = {d.path: d.message for d in info.value.diagnostics}
    assert found["channels[0].scoring.weights"] == (
        "propensity + relevance + impact + emphasis must sum to 1, got 1.2"
    )
    assert found["offers[0].priority"] == "Input should be less than or equal to 100"
    assert found["policies[3]"] == "a cooldown policy needs 'hours'"


def test_duplicates_are_reported() -> None:
    data = checkout_snapshot()
    data["offers"].append(dict(data["offers"][0]))
    data["channels"][1]["placements"][0]["id"] = "pos-upsell"
    with pytest.raises(SnapshotError) as info:
        build_snapshot(data)
    found = {d.path: d.message for d in info.value.diagnostics}
    assert found["offers[6].id"] == "duplicate offer id 'RED-WINE-01' (first at offers[0].id)"
    assert found["channels[1].placements[0].id"].startswith("duplicate placement id 'pos-upsell'")
