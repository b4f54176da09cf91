"""The step function: entering, the holdout, exit conditions, the maximum duration, time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from nextoffer.core.journeys import (
    DecisionResult,
    Enrollment,
    Enter,
    Event,
    Exit,
    Journey,
    JourneyError,
    Progress,
    Tick,
    advance,
    compile_journey,
)
from nextoffer.core.rules import CustomerSchema

from .conftest import DONE, GONE, LEAD, WAIT, at, compiled, small

CONVERTED = {"condition": '"convert" in journey.steps.lead.events', "reason": "converted"}
OPTED_OUT = {"condition": "customer.optedOut", "reason": "opted_out"}
SCHEMA_EXTRA = CustomerSchema(attributes={"optedOut": "bool"})


def journey_with_exits(**changes: Any) -> Journey:
    data = small([LEAD, WAIT, DONE, GONE], exit_conditions=[CONVERTED, OPTED_OUT], **changes)
    return compile_journey(data, customer_schema=SCHEMA_EXTRA)


JOURNEY = journey_with_exits()
ENTER = Enter("c-1", at())
SHOWN = DecisionResult("lead", at(), shown=("mortgage",))


def waiting() -> Enrollment:
    enrollment = advance(JOURNEY, advance(JOURNEY, None, ENTER).enrollment, SHOWN).enrollment
    assert enrollment is not None
    assert (enrollment.step, enrollment.phase) == ("wait", "waiting")
    return enrollment


# -- entering -----------------------------------------------------------------------------


def test_entering_records_the_entry_at_the_start_step() -> None:
    progress = advance(JOURNEY, None, ENTER)
    (entry,) = progress.transitions
    assert (entry.kind, entry.seq, entry.from_step, entry.to_step, entry.reason) == (
        "enter", 1, None, "lead", "entered"
    )  # fmt: skip
    assert progress.enrollment is not None
    assert (progress.enrollment.entered_at, progress.enrollment.entries) == (at(), 1)


def test_a_holdout_customer_is_recorded_as_entered_and_gets_no_offers() -> None:
    progress = advance(JOURNEY, None, Enter("c-1", at(), holdout=True))
    assert [(t.kind, t.to_step, t.reason, t.holdout) for t in progress.actions] == [
        ("enter", None, "holdout", True)
    ]  # fmt: skip
    enrollment = progress.enrollment
    assert enrollment is not None
    assert (enrollment.status, enrollment.holdout, enrollment.step) == ("holdout", True, None)
    assert enrollment.due_at == at(30)


def test_a_holdout_customer_never_gets_a_decision() -> None:
    enrollment = advance(JOURNEY, None, Enter("c-1", at(), holdout=True)).enrollment
    for arrival in (Tick(at(1)), Event("click", at(1), offer="mortgage"),
                    DecisionResult("lead", at(1), shown=("mortgage",))):  # fmt: skip
        progress = advance(JOURNEY, enrollment, arrival)
        assert progress.decisions == ()
        assert progress.enrollment is not None
        assert progress.enrollment.status == "holdout"


def test_a_holdout_customer_leaves_on_an_exit_condition_like_the_others() -> None:
    enrollment = advance(JOURNEY, None, Enter("c-1", at(), holdout=True)).enrollment
    progress = advance(JOURNEY, enrollment, Event("convert", at(3), offer="mortgage", value=900))
    assert progress.actions[-1] == Exit("j", "c-1", None, "converted", at(3))
    assert progress.enrollment is not None
    assert (progress.enrollment.status, progress.enrollment.holdout) == ("exited", True)


def test_entering_again_while_in_the_journey_changes_nothing() -> None:
    enrollment = waiting()
    assert advance(JOURNEY, enrollment, Enter("c-1", at(1))) == Progress(enrollment, ())


def test_a_customer_who_meets_an_exit_condition_enters_and_leaves_without_an_offer() -> None:
    progress = advance(JOURNEY, None, ENTER, context={"customer.optedOut": True})
    assert [(t.kind, t.reason) for t in progress.transitions] == [("enter", "entered"),
                                                                  ("exit", "opted_out")]  # fmt: skip
    assert progress.decisions == ()


def test_a_reentry_the_policy_refuses_changes_nothing() -> None:
    exited = advance(JOURNEY, waiting(), Tick(at(7))).enrollment
    assert exited is not None
    assert exited.status == "exited"
    assert advance(JOURNEY, exited, Enter("c-1", at(8))) == Progress(exited, ())


def test_a_reentry_the_policy_allows_starts_a_new_enrollment() -> None:
    journey = journey_with_exits(reentry={"policy": "after_exit"})
    exited = advance(journey, advance(journey, None, ENTER).enrollment,
                     DecisionResult("lead", at(), blocked="policies")).enrollment  # fmt: skip
    progress = advance(journey, exited, Enter("c-1", at(8)))
    assert progress.enrollment is not None
    assert (progress.enrollment.entries, progress.enrollment.step) == (2, "lead")
    assert exited is not None
    assert progress.transitions[0].seq == exited.seq + 1


# -- exit conditions ----------------------------------------------------------------------


def test_an_exit_condition_ends_the_journey_at_once_mid_wait() -> None:
    progress = advance(JOURNEY, waiting(), Event("convert", at(2), offer="mortgage", value=900))
    assert [(t.kind, t.reason) for t in progress.transitions] == [("observe", "event"),
                                                                  ("exit", "converted")]  # fmt: skip
    assert progress.actions[-1] == Exit("j", "c-1", "wait", "converted", at(2))
    assert progress.due_at is None


def test_an_exit_condition_on_the_customer_ends_it_on_a_tick_that_is_not_due() -> None:
    progress = advance(JOURNEY, waiting(), Tick(at(1)), context={"customer.optedOut": True})
    assert progress.enrollment is not None
    assert progress.enrollment.exit_reason == "opted_out"


def test_the_first_exit_condition_that_holds_gives_the_reason() -> None:
    event = Event("convert", at(2), offer="mortgage")
    progress = advance(JOURNEY, waiting(), event, context={"customer.optedOut": True})
    assert progress.enrollment is not None
    assert progress.enrollment.exit_reason == "converted"


# -- the maximum duration -----------------------------------------------------------------


def test_an_enrollment_is_never_due_after_its_maximum_duration() -> None:
    journey = journey_with_exits(max_duration="3d")  # shorter than the 7-day wait
    enrollment = advance(journey, advance(journey, None, ENTER).enrollment, SHOWN).enrollment
    assert enrollment is not None
    assert enrollment.due_at == at(3)


def test_the_maximum_duration_ends_the_journey_when_it_passed_however_late_noticed() -> None:
    journey = journey_with_exits(max_duration="3d")
    enrollment = advance(journey, advance(journey, None, ENTER).enrollment, SHOWN).enrollment
    progress = advance(journey, enrollment, Tick(at(10)))
    assert [(t.kind, t.reason, t.at) for t in progress.transitions] == [("exit", "max_duration", at(3))]  # fmt: skip


def test_an_event_after_the_maximum_duration_only_ends_the_journey() -> None:
    journey = journey_with_exits(max_duration="3d")
    enrollment = advance(journey, advance(journey, None, ENTER).enrollment, SHOWN).enrollment
    progress = advance(journey, enrollment, Event("click", at(4), offer="mortgage"))
    assert [(t.kind, t.reason) for t in progress.transitions] == [("exit", "max_duration")]


# -- after the exit -----------------------------------------------------------------------


@pytest.mark.parametrize("arrival", [Tick(at(8)), Event("click", at(8), offer="mortgage"),
                                     DecisionResult("wait", at(8), shown=("mortgage",))])  # fmt: skip
def test_an_exited_enrollment_never_acts_again(arrival: Any) -> None:
    exited = advance(JOURNEY, waiting(), Tick(at(7))).enrollment
    assert advance(JOURNEY, exited, arrival) == Progress(exited, ())


# -- events -------------------------------------------------------------------------------


def test_an_event_type_is_recorded_once_per_offer_since_entry() -> None:
    first = advance(JOURNEY, waiting(), Event("impression", at(1), offer="mortgage"))
    assert [(t.kind, t.event, t.offer) for t in first.transitions] == [("observe", "impression", "mortgage")]  # fmt: skip
    again = advance(JOURNEY, first.enrollment, Event("impression", at(2), offer="mortgage"))
    assert again == Progress(first.enrollment, ())


def test_an_event_about_an_offer_outside_the_journey_counts_only_in_all_events() -> None:
    progress = advance(JOURNEY, waiting(), Event("click", at(1), offer="brokerage"))
    assert progress.enrollment is not None
    assert (progress.enrollment.events, progress.enrollment.offer_events) == (("click",), ())


def test_an_event_before_the_entry_changes_nothing() -> None:
    enrollment = waiting()
    assert advance(JOURNEY, enrollment, Event("click", at(-1), offer="mortgage")) == Progress(enrollment, ())  # fmt: skip


# -- time and inputs ----------------------------------------------------------------------


def test_an_input_older_than_the_last_transition_is_taken_at_it() -> None:
    enrollment = advance(
        JOURNEY, waiting(), Event("impression", at(2), offer="mortgage")
    ).enrollment
    progress = advance(JOURNEY, enrollment, Event("click", at(1), offer="mortgage"))
    assert {t.at for t in progress.transitions} == {at(2)}


def test_times_in_another_offset_are_kept_in_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    progress = advance(JOURNEY, None, Enter("c-1", dt.datetime(2026, 3, 2, 10, 0, tzinfo=paris)))
    assert progress.enrollment is not None
    assert progress.enrollment.entered_at == at()
    assert progress.enrollment.entered_at.tzinfo is dt.UTC


def test_a_time_without_an_offset_is_refused() -> None:
    with pytest.raises(JourneyError) as caught:
        advance(JOURNEY, None, Enter("c-1", dt.datetime(2026, 3, 2, 9, 0)))
    assert (caught.value.field, caught.value.message) == (
        "at", "needs a time zone offset, such as 2026-03-08T14:30:00Z"
    )  # fmt: skip


def test_an_enrollment_on_another_version_is_refused() -> None:
    other = compile_journey(small([LEAD, WAIT, DONE, GONE]), version=2)
    with pytest.raises(JourneyError) as caught:
        advance(other, waiting(), Tick(at(1)))
    assert (caught.value.field, caught.value.message) == (
        "version", "the enrollment is on version 1, not 2"
    )  # fmt: skip


def test_an_enrollment_of_another_journey_is_refused() -> None:
    other = compiled([LEAD, WAIT, DONE, GONE], id="other")
    with pytest.raises(JourneyError) as caught:
        advance(other, waiting(), Tick(at(1)))
    assert caught.value.message == "the enrollment is in journey 'j', not 'other'"


def test_entering_another_customers_enrollment_is_refused() -> None:
    with pytest.raises(JourneyError) as caught:
        advance(JOURNEY, waiting(), Enter("c-2", at(1)))
    assert caught.value.field == "customer"


def test_without_a_context_conditions_see_only_the_journeys_names() -> None:
    progress = advance(JOURNEY, waiting(), Tick(at(1)))
    assert progress == Progress(progress.enrollment, ())
