"""A journey's offer step asks the engine like any request: its offers become candidates
(an outbound step's alone) and pass every stage; the decision records the step."""

from __future__ import annotations

from nextoffer.core.decision import JourneyStep, Snapshot, build_snapshot, decide

from .conftest import premium_36, request, shown_history, state

LEAD = JourneyStep("mortgage-journey", 1, "lead", ("mortgage",), only=True)


def test_an_outbound_step_decides_among_its_own_offers_only(bank: Snapshot) -> None:
    plain = decide(bank, request(customer=premium_36(), channel="email"))
    assert plain.offers() == ["credit-card", "savings-account"]  # mortgage under min_score
    d = decide(bank, request(customer=premium_36(), channel="email"), journeys=[LEAD])
    stages = {s.stage: (s.entered, s.left) for s in d.trace.stages}
    assert stages["candidates"] == (1, 1)  # the rules and the open offers are not asked
    assert d.rules_fired == ()
    assert d.journeys == (LEAD,)
    # the step's offer still passes every stage: here, the minimum score
    assert d.offers() == []
    assert d.trace.reasons("mortgage")[0].startswith("gates: min_score")


def test_an_outbound_step_is_held_by_the_contact_policies(bank: Snapshot) -> None:
    card = JourneyStep("card-journey", 2, "pitch", ("credit-card",), only=True)
    d = decide(bank, request(customer=premium_36(), channel="email"), journeys=[card])
    assert d.offers() == ["credit-card"]
    capped = decide(
        bank, request(customer=premium_36(), channel="email"), state(history=shown_history(4)),
        journeys=[card],
    )  # fmt: skip
    assert capped.offers() == []
    assert (
        capped.trace.reasons("credit-card")[0]
        == "policies: total_cap: 4 of 4 contacts this month (scope: global)"
    )


def test_an_inbound_step_adds_its_offers_to_what_the_rules_nominate(bank: Snapshot) -> None:
    # brokerage made a closed offer: a candidate on the branch only through the journey
    closed = bank.spec.model_copy(
        update={
            "offers": tuple(
                o.model_copy(update={"open": False}) if o.id == "brokerage" else o
                for o in bank.spec.offers
            )
        }
    )
    snapshot = build_snapshot(closed)
    customer = premium_36(attributes={**premium_36()["attributes"], "balance": 90000.0})
    without = decide(snapshot, request(customer=customer, channel="branch"))
    assert without.trace.stages[0].entered == 3
    assert without.trace.reasons("brokerage") == []
    step = JourneyStep("wealth", 1, "desk", ("brokerage",))
    d = decide(snapshot, request(customer=customer, channel="branch"), journeys=[step])
    assert d.trace.stages[0].entered == 4  # the open offers stay candidates beside it
    assert d.offers() == without.offers() == ["credit-card", "savings-account"]
    # it went through qualification and scoring like the others, and the gate held it
    assert d.trace.reasons("brokerage") == ["gates: min_score: score 0.09735 < 0.15"]


def test_a_step_offer_gone_from_the_snapshot_is_dropped_and_named(bank: Snapshot) -> None:
    gone = JourneyStep("old", 3, "lead", ("retired-offer", "credit-card"), only=True)
    d = decide(bank, request(customer=premium_36(), channel="email"), journeys=[gone])
    assert d.offers() == ["credit-card"]
    assert d.trace.reasons("retired-offer") == [
        "candidates: journey old step lead: no offer 'retired-offer' in the snapshot"
    ]


def test_the_decision_records_the_step_in_its_data(bank: Snapshot) -> None:
    d = decide(bank, request(customer=premium_36(), channel="email"), journeys=[LEAD])
    assert d.to_dict()["journeys"] == [
        {"journey": "mortgage-journey", "version": 1, "step": "lead", "offers": ["mortgage"],
         "only": True}
    ]  # fmt: skip
    plain = decide(bank, request(customer=premium_36(), channel="email"))
    assert "journeys" not in plain.to_dict()  # decisions outside journeys are stored as before
