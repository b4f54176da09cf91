"""Compiling checks a definition as a whole and names every field at fault."""

from __future__ import annotations

from typing import Any

import pytest

from nextoffer.core.journeys import JourneyError, compile_journey
from nextoffer.core.rules.types import FLOAT, STRING_LIST
from nextoffer.scenarios import mortgage_journey

from .conftest import CHANNELS, DONE, GONE, LEAD, OFFERS, SCHEMA, WAIT, mortgage, small


def problems(data: dict[str, Any], **catalog: Any) -> list[tuple[str, str]]:
    with pytest.raises(JourneyError) as caught:
        compile_journey(data, customer_schema=SCHEMA, **catalog)
    return [(d.path, d.message) for d in caught.value.diagnostics]


def branch(sid: str, condition: str, then: str, otherwise: str) -> dict[str, Any]:
    return {"id": sid, "type": "branch", "branches": [{"condition": condition, "next": then}],
            "otherwise": otherwise}  # fmt: skip


def test_the_mortgage_journey_compiles_against_the_bank_catalog() -> None:
    journey = mortgage()
    assert (journey.id, journey.version, journey.start) == ("mortgage", 1, "lead")
    assert journey.step_offers["appointment"] == frozenset({"mortgage-appointment"})
    # the steps' offers and the goal's: events about them are kept per offer
    assert journey.tracked_offers == frozenset(
        {"mortgage-lead", "mortgage-appointment", "mortgage"}
    )
    assert journey.goal_offers == frozenset({"mortgage"})
    without = compile_journey(small([LEAD, WAIT, DONE, GONE]))  # no goal: the steps' offers
    assert without.goal_offers == frozenset(LEAD["offers"])


def test_an_unknown_next_step_is_named_with_the_steps_there_are() -> None:
    assert problems(small([{**LEAD, "next": "foo"}, WAIT, DONE, GONE])) == [
        ("steps[0].next", "unknown step 'foo' (steps: lead, wait, done, gone)")
    ]


def test_an_unknown_branch_target_names_its_branch() -> None:
    steps = [{**LEAD, "next": "check"}, branch("check", "true", "nowhere", "done"), DONE]
    assert problems(small(steps)) == [
        ("steps[1].branches[0].next", "unknown step 'nowhere' (steps: lead, check, done)")
    ]


def test_an_unknown_start_is_named() -> None:
    assert problems(small([LEAD, WAIT, DONE, GONE], start="nowhere")) == [
        ("start", "unknown step 'nowhere' (steps: lead, wait, done, gone)")
    ]


def test_a_duplicate_step_id_points_at_the_first() -> None:
    assert problems(small([LEAD, WAIT, DONE, GONE, {**GONE, "reason": "again"}])) == [
        ("steps[4].id", "duplicate step id 'gone' (first at steps[3].id)")
    ]


def test_an_unreachable_step_is_named() -> None:
    orphan = {"id": "orphan", "type": "exit", "reason": "never"}
    assert problems(small([LEAD, WAIT, DONE, GONE, orphan])) == [
        ("steps[4].id", "step 'orphan' cannot be reached from the start 'lead'")
    ]


def test_steps_behind_a_broken_reference_are_not_also_called_unreachable() -> None:
    found = problems(small([{**LEAD, "next": "wiat"}, WAIT, DONE, GONE]))
    assert [path for path, _ in found] == ["steps[0].next"]


def test_a_cycle_of_branches_without_a_wait_is_refused_where_it_closes() -> None:
    steps = [branch("b1", 'customer.tier == "gold"', "b2", "lead"),
             branch("b2", "true", "b1", "done"), LEAD, WAIT, DONE, GONE]  # fmt: skip
    assert problems(small(steps)) == [
        ("steps[1].branches[0].next", "the steps b1 → b2 → b1 form a cycle without a wait step "
                                      "(it would loop forever within one input)")
    ]  # fmt: skip


def test_a_cycle_through_an_offer_step_but_no_wait_is_refused() -> None:
    steps = [{**LEAD, "next": "again"}, branch("again", "true", "lead", "done"), DONE]
    assert problems(small(steps)) == [
        ("steps[1].branches[0].next", "the steps lead → again → lead form a cycle without a "
                                      "wait step (it would loop forever within one input)")
    ]  # fmt: skip


def test_a_cycle_through_a_wait_is_allowed() -> None:
    steps = [LEAD, {**WAIT, "on_timeout": "again"},
             branch("again", '"lead" in journey.visited', "lead", "done"), DONE]  # fmt: skip
    assert compile_journey(small(steps)).steps.keys() == {"lead", "wait", "again", "done"}


def test_a_wait_until_must_name_an_offer_step() -> None:
    until = {"events": ["click"], "step": "done", "timeout": "7d"}
    assert problems(small([LEAD, {**WAIT, "until": until}, DONE, GONE])) == [
        ("steps[1].until.step", "'until' needs an offer step, and 'done' is a 'exit' step")
    ]


def test_a_wait_until_an_unknown_step_is_named() -> None:
    until = {"events": ["click"], "step": "nope", "timeout": "7d"}
    assert problems(small([LEAD, {**WAIT, "until": until}, DONE, GONE])) == [
        ("steps[1].until.step", "unknown step 'nope' (steps: lead, wait, done, gone)")
    ]


def test_a_branch_condition_fails_with_the_rule_languages_message_and_place() -> None:
    steps = [{**LEAD, "next": "check"},
             branch("check", 'journey.steps.led.events contains "click"', "done", "done"), DONE]  # fmt: skip
    with pytest.raises(JourneyError) as caught:
        compile_journey(small(steps), customer_schema=SCHEMA)
    assert caught.value.field == "steps[1].branches[0].condition.subject"
    assert str(caught.value) == (
        "steps[1].branches[0].condition.subject: line 1, column 1: unknown name "
        "'journey.steps.led.events' (did you mean 'journey.steps.lead.events'?)\n"
        '  journey.steps.led.events contains "click"\n'
        "  ^^^^^^^^^^^^^^^^^^^^^^^^"
    )


def test_an_exit_condition_is_type_checked_against_the_customer_schema() -> None:
    data = small([LEAD, WAIT, DONE, GONE],
                 exit_conditions=[{"condition": "customer.tier > 3", "reason": "x"}])  # fmt: skip
    assert problems(data) == [
        ("exit_conditions[0].condition.left", "'>' needs numbers or dates, not string")
    ]


def test_the_entry_condition_cannot_read_the_journeys_own_names() -> None:
    data = small([LEAD, WAIT, DONE, GONE],
                 entry={"condition": "journey.days > 3", "channels": ["email"]})  # fmt: skip
    assert problems(data) == [("entry.condition.left", "unknown name 'journey.days'")]


def test_a_segment_is_checked_like_the_entry() -> None:
    data = small([LEAD, WAIT, DONE, GONE],
                 entry={"condition": "true", "segment": "customer.tenure >= 1"})  # fmt: skip
    assert problems(data) == [
        ("entry.segment.left",
         "unknown name 'customer.tenure' (did you mean 'customer.tenureMonths'?)")
    ]  # fmt: skip


def test_a_condition_may_be_written_as_json() -> None:
    condition = {"kind": "in", "element": {"kind": "literal", "value": "click"},
                 "container": {"kind": "name", "path": "journey.steps.lead.events"}}  # fmt: skip
    steps = [{**LEAD, "next": "check"}, branch("check", "true", "done", "done"), DONE]
    steps[1]["branches"][0]["condition"] = condition
    journey = compile_journey(small(steps))
    assert journey.conditions["check"][0].text == '"click" in journey.steps.lead.events'


def test_unknown_offers_and_channels_are_named_against_the_catalog() -> None:
    steps = [{**LEAD, "offers": ["mortgage", "nope"], "channel": "fax"}, WAIT, DONE, GONE]
    assert problems(small(steps), offers=OFFERS, channels=CHANNELS) == [
        ("steps[0].offers[1]", "unknown offer 'nope'"),
        ("steps[0].channel", "unknown channel 'fax' (channels: branch, email, in_app)"),
    ]


def test_a_placement_must_be_one_of_the_steps_channel() -> None:
    steps = [{**LEAD, "placements": ["in_app-banner"]}, WAIT, DONE, GONE]
    assert problems(small(steps), offers=OFFERS, channels=CHANNELS) == [
        ("steps[0].placements[0]", "unknown placement 'in_app-banner' on channel 'email' "
                                   "(placements: email-footer, email-hero)")
    ]  # fmt: skip


def test_without_a_catalog_offers_and_channels_are_not_checked() -> None:
    steps = [{**LEAD, "offers": ["anything"], "channel": "fax"}, WAIT, DONE, GONE]
    assert compile_journey(small(steps)).offerings["lead"].channel == "fax"


def test_every_problem_across_the_definition_is_reported_at_once() -> None:
    steps = [{**LEAD, "offers": ["nope"]}, {**WAIT, "on_timeout": "nowhere"}, DONE, GONE,
             branch("check", "customer.tier > 1", "done", "done")]  # fmt: skip
    data = small(steps, exit_conditions=[{"condition": "journey.dayz > 1", "reason": "x"}])
    assert [path for path, _ in problems(data, offers=OFFERS)] == [
        "steps[1].on_timeout",
        "exit_conditions[0].condition.left",
        "steps[4].branches[0].condition.left",
        "steps[0].offers[0]",
    ]


def test_the_journey_names_are_typed_per_offer_step() -> None:
    names = mortgage().names
    assert names["journey.days"] == FLOAT
    assert names["journey.steps.lead.events"] == STRING_LIST
    assert sorted(n for n in names if n.startswith("journey.steps.")) == [
        "journey.steps.appointment.events",
        "journey.steps.appointment_app.events",
        "journey.steps.lead.events",
        "journey.steps.reminder.events",
    ]


def test_a_compiled_journey_knows_which_arrivals_check_its_entry() -> None:
    journey = mortgage()
    assert journey.checks_channel("in_app")
    assert not journey.checks_channel("email")
    assert not journey.checks_event("click")


def test_the_goal_names_offers_of_the_catalog() -> None:
    assert mortgage().spec.goal == ("mortgage",)
    found = problems({**mortgage_journey(), "goal": ["mortgage", "yacht"]}, offers=OFFERS)
    assert found == [("goal[1]", "unknown offer 'yacht'")]
