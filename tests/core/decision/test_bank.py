"""Bank cross-sell, end to end through the core (the seed's tutorial)."""

from __future__ import annotations

import dataclasses
import json

from nextoffer.core.decision import Snapshot, assignment, build_snapshot, decide
from nextoffer.scenarios import bank_snapshot

from .conftest import premium_36, request, shown_history, state


def test_worked_example_credit_card_first_savings_second(bank: Snapshot) -> None:
    assert assignment("bank-cross-sell-2026", "c-1") >= 0.10  # a treatment customer
    d = decide(bank, request(customer=premium_36(), channel="email"))
    assert not d.control
    assert [(p.placement, [s.offer for s in p.offers]) for p in d.placements] == [
        ("email-hero", ["credit-card"]),
        ("email-footer", ["savings-account"]),
    ]
    card, savings = d.placements[0].offers[0], d.placements[1].offers[0]
    # savings has the higher raw propensity, and is ranked down by its uplift estimate
    assert savings.p is not None
    assert card.p is not None
    assert savings.p > card.p
    assert (savings.tau, card.tau) == (-0.04, 0.05)
    assert (savings.uplift_segment, card.uplift_segment) == ("sure_thing", "persuadable")
    assert card.score is not None
    assert savings.score is not None
    assert card.score > savings.score
    assert card.probability == savings.probability == 1.0
    assert d.snapshot_version == "bank-1"


def test_without_the_uplift_term_savings_ranks_first(bank: Snapshot) -> None:
    plain = build_snapshot(bank_snapshot(uplift_weight=0.0))
    d = decide(plain, request(customer=premium_36(), channel="email"))
    assert d.offers() == ["savings-account", "credit-card"]
    with_uplift = decide(bank, request(customer=premium_36(), channel="email"))
    assert with_uplift.offers() == ["credit-card", "savings-account"]


def test_every_drop_is_explained(bank: Snapshot) -> None:
    d = decide(bank, request(customer=premium_36(), channel="email"))
    assert d.trace.detailed
    assert d.trace.reasons("brokerage") == [
        'qualify: eligibility is false: "VIP" in customer.segments or customer.balance >= 50000'
    ]
    [reason] = d.trace.reasons("mortgage")
    assert reason.startswith("gates: min_score: score 0.12")
    assert reason.endswith("< 0.15")
    stages = {s.stage: (s.entered, s.left) for s in d.trace.stages}
    assert stages["candidates"] == (4, 4)
    assert stages["qualify"] == (4, 3)
    assert stages["gates"] == (3, 2)
    assert stages["place"] == (2, 2)
    assert all(s.micros >= 0 for s in d.trace.stages)


def test_held_products_and_ineligible_tiers_are_not_offered(bank: Snapshot) -> None:
    customer = {
        "id": "c-2",
        "attributes": {"tier": "basic", "tenureMonths": 12, "hasCreditCard": True, "balance": 80000.0},
        "holdings": ["checking", "savings-account"],
    }  # fmt: skip
    d = decide(bank, request(customer=customer, channel="in_app"))
    # brokerage qualifies on balance, but its score stays under the minimum
    assert d.offers() == []
    assert d.trace.reasons("brokerage")[0].startswith("gates: min_score")
    assert d.trace.reasons("savings-account") == [
        "candidates: customer already holds savings-account"
    ]
    assert d.trace.reasons("credit-card")[0].startswith("qualify: eligibility is false")


def test_customer_total_cap_stops_a_fifth_contact(bank: Snapshot) -> None:
    three = state(history=shown_history(3))
    assert decide(bank, request(customer=premium_36(), channel="email"), three).offers()
    four = state(history=shown_history(4))
    d = decide(bank, request(customer=premium_36(), channel="email"), four)
    assert d.offers() == []
    assert d.trace.reasons("credit-card") == [
        "policies: total_cap: 4 of 4 contacts this month (scope: global)"
    ]
    # contacts older than the month no longer count
    old = state(history=shown_history(4, days_ago=31))
    assert decide(bank, request(customer=premium_36(), channel="email"), old).offers()


def test_state_supplies_attributes_holdings_and_per_customer_uplift(bank: Snapshot) -> None:
    s = state(
        id="c-1",
        attributes={"tier": "premium", "tenureMonths": 36, "hasCreditCard": False, "balance": 0.0},
        holdings=["checking"],
        cate={"credit-card": -0.09},
    )
    d = decide(bank, request(customer={"id": "c-1"}, channel="email"), s)
    # this customer's own estimate makes the card a poor pitch for them
    assert d.offers()[0] == "savings-account"
    card = [o for p in d.placements for o in p.offers if o.offer == "credit-card"]
    assert not card or card[0].tau == -0.09


def test_to_dict_is_the_decision_as_plain_data(bank: Snapshot) -> None:
    """The hand-written ``to_dict`` holds what ``dataclasses.asdict`` would (drops as records),
    as JSON: lists where the dataclasses hold tuples."""

    def as_json(data: object) -> object:
        return json.loads(json.dumps(data))

    for customer in (premium_36(), premium_36(id="c-3")):
        d = decide(bank, request(customer=customer, channel="email"))
        reference = dataclasses.asdict(d)
        reference["trace"]["drops"] = [drop._asdict() for drop in d.trace.drop_list()]
        reference["trace"].pop("blocks")  # the policy blocks are counted (metrics), not kept
        assert reference.pop("journeys") == ()  # written only for a journey's decision
        assert reference.pop("exploration") is None  # written only when the strategy explores
        assert d.to_dict() == as_json(reference)
        for stage in reference["trace"]["stages"]:
            del stage["micros"]
        assert d.to_dict(timings=False) == as_json(reference)
    assert d.offers()
    assert d.trace.drops
