"""A definition's fields are validated one by one, each error naming its field."""

from __future__ import annotations

from typing import Any

import pytest

from nextoffer.core.journeys import JourneyError, JourneySpec, compile_journey

from .conftest import DONE, GONE, LEAD, WAIT, small


def problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(JourneyError) as caught:
        compile_journey(data)
    return [(d.path, d.message) for d in caught.value.diagnostics]


def test_the_mortgage_definition_reads_back_as_it_was_written() -> None:
    from nextoffer.scenarios import mortgage_journey

    data = mortgage_journey()
    spec = JourneySpec.model_validate(data)
    assert JourneySpec.model_validate(spec.model_dump(mode="json")) == spec
    assert spec.model_dump(mode="json", exclude_defaults=True)["max_duration"] == "90d"


def test_an_unknown_step_type_is_named_with_the_known_ones() -> None:
    assert problems(small([DONE, {"id": "x", "type": "teleport"}])) == [
        ("steps[1].type", "unknown step type 'teleport' (known: branch, exit, offer, wait)")
    ]


def test_a_step_without_a_type_is_refused_at_its_type() -> None:
    assert problems(small([DONE, {"id": "x", "reason": "r"}])) == [
        ("steps[1].type", "a step needs 'type' (one of branch, exit, offer, wait)")
    ]


def test_a_missing_field_of_a_step_is_named_without_the_type_tag() -> None:
    assert problems(small([LEAD, WAIT, DONE, {"id": "gone", "type": "exit"}])) == [
        ("steps[3].reason", "Field required")
    ]


def test_an_unknown_field_is_refused() -> None:
    assert problems(small([{**DONE, "colour": "red"}])) == [
        ("steps[0].colour", "Extra inputs are not permitted")
    ]


def test_a_step_id_must_be_a_name_conditions_can_spell() -> None:
    assert problems(small([{**DONE, "id": "lead-1"}], start="done")) == [
        ("steps[0].id", "'lead-1' is not a step id: letters, digits and '_', starting with a "
                        "letter, at most 64 (conditions name it: journey.steps.<id>.events)")
    ]  # fmt: skip


def test_a_step_id_may_not_be_a_keyword_of_the_rule_language() -> None:
    assert problems(small([{**DONE, "id": "in"}], start="done")) == [
        ("steps[0].id", "'in' is a keyword of the rule language; a step id cannot be one")
    ]


def test_an_inbound_offer_step_needs_an_expiry() -> None:
    assert problems(small([{**LEAD, "mode": "inbound"}, WAIT, DONE, GONE])) == [
        ("steps[0]", "an inbound offer step needs 'expires_after'")
    ]


def test_an_outbound_offer_step_has_no_expiry() -> None:
    assert problems(small([{**LEAD, "expires_after": "1d"}, WAIT, DONE, GONE])) == [
        ("steps[0]", "'expires_after' and 'on_expired' are for inbound offer steps")
    ]


def test_an_offer_step_names_each_offer_once() -> None:
    assert problems(small([{**LEAD, "offers": ["mortgage", "mortgage"]}, WAIT, DONE, GONE])) == [
        ("steps[0]", "'offers' names an offer twice")
    ]


def test_retrying_a_blocked_offer_needs_the_delay() -> None:
    assert problems(small([{**LEAD, "on_blocked": {"action": "retry"}}, WAIT, DONE, GONE])) == [
        ("steps[0].on_blocked", "'retry' needs 'retry_after' (how long to wait before retrying)")
    ]


def test_a_delay_is_only_for_retrying() -> None:
    blocked = {"action": "skip", "retry_after": "1d"}
    assert problems(small([{**LEAD, "on_blocked": blocked}, WAIT, DONE, GONE])) == [
        ("steps[0].on_blocked", "'retry_after' is only for 'retry', not 'skip'")
    ]


def test_a_wait_has_a_duration_or_an_until_not_both() -> None:
    assert problems(small([LEAD, {**WAIT, "duration": "1d"}, DONE, GONE])) == [
        ("steps[1]", "a wait step has either 'duration' or 'until'")
    ]


def test_a_timeout_branch_is_for_a_wait_until_an_event() -> None:
    wait = {"id": "wait", "type": "wait", "duration": "1d", "next": "done", "on_timeout": "done"}
    assert problems(small([wait, DONE])) == [
        ("steps[0]", "'on_timeout' is for a wait 'until' an event")
    ]


def test_an_entry_that_nothing_checks_is_refused() -> None:
    assert problems(small([DONE], entry={"condition": "true"})) == [
        ("entry", "an entry needs 'events' or 'channels' (the arrivals that check it) or a "
                  "'segment', or no customer could ever enter")
    ]  # fmt: skip


def test_the_reentry_wait_goes_with_the_policy_after() -> None:
    assert problems(small([DONE], reentry={"policy": "after"})) == [
        ("reentry", "'wait' goes with the policy 'after', and only with it")
    ]


def test_a_customer_enters_once_under_the_policy_never() -> None:
    assert problems(small([DONE], reentry={"policy": "never", "max_entries": 3})) == [
        ("reentry", "with the policy 'never' a customer enters once")
    ]


def test_the_holdout_share_is_between_zero_and_one() -> None:
    assert problems(small([DONE], holdout_share=1.5)) == [
        ("holdout_share", "Input should be less than or equal to 1")
    ]


def test_every_field_level_problem_is_reported_at_once() -> None:
    data = small([{**LEAD, "mode": "inbound"}, {**WAIT, "duration": "1d"}, DONE, GONE],
                 holdout_share=-1, max_duration="forever")  # fmt: skip
    assert [path for path, _ in problems(data)] == ["steps[0]", "steps[1]", "max_duration",
                                                    "holdout_share"]  # fmt: skip
