"""Each step type is one registry entry: how it is entered and how it reacts."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from nextoffer.core.journeys import (
    STEP_TYPES,
    Decide,
    DecisionResult,
    Enrollment,
    Enter,
    Event,
    Exit,
    Journey,
    Progress,
    StepType,
    StepTypeName,
    Tick,
    advance,
)
from nextoffer.core.journeys.spec import ExitStep, OfferStep
from nextoffer.core.journeys.steps import Leave
from nextoffer.core.registry import UnknownEntryError

from .conftest import DONE, GONE, LEAD, WAIT, at, compiled


def run(journey: Journey, *inputs: Any, context: dict[str, Any] | None = None) -> Progress:
    """Feed the inputs in turn; the last input's progress."""
    enrollment: Enrollment | None = None
    progress = Progress(None, ())
    for arrival in inputs:
        progress = advance(journey, enrollment, arrival, context=context)
        enrollment = progress.enrollment
    return progress


def step_of(progress: Progress) -> tuple[str | None, str, str]:
    e = progress.enrollment
    assert e is not None
    return e.step, e.phase, e.status


ENTER = Enter("c-1", at())
SHOWN = DecisionResult("lead", at(), shown=("mortgage",), decision_id="d-1")
BLOCKED = DecisionResult("lead", at(), blocked="policies")


def with_lead(**lead: Any) -> Journey:
    return compiled([{**LEAD, **lead}, WAIT, DONE, GONE])


# -- the registry -------------------------------------------------------------------------


def test_the_registry_holds_exactly_the_step_types_the_spec_allows() -> None:
    assert sorted(STEP_TYPES) == sorted(get_args(StepTypeName))


def test_a_step_type_without_an_entry_is_refused_naming_the_field() -> None:
    with pytest.raises(UnknownEntryError) as caught:
        STEP_TYPES["teleport"]
    assert (caught.value.field, caught.value.message) == (
        "type", "unknown step type 'teleport' (known: branch, exit, offer, wait)"
    )  # fmt: skip


def test_an_entry_must_carry_the_model_of_its_own_type() -> None:
    with pytest.raises(AssertionError, match="step type 'exit' has the model of 'offer'"):
        StepType("exit", OfferStep, waits=False, targets=lambda s: (),
                 arrive=lambda ctx, s: Leave("x"))  # fmt: skip


def test_only_the_wait_step_type_breaks_a_cycle() -> None:
    assert [name for name in STEP_TYPES if STEP_TYPES[name].waits] == ["wait"]


def test_an_exit_entry_goes_nowhere() -> None:
    assert list(STEP_TYPES["exit"].targets(ExitStep(id="done", reason="r"))) == []


# -- offer --------------------------------------------------------------------------------


def test_entering_an_outbound_offer_step_asks_for_its_decision_now() -> None:
    progress = run(with_lead(placements=["email-hero"]), ENTER)
    assert progress.decisions == (
        Decide("j", 1, "c-1", 1, "lead", "email", ("email-hero",), ("mortgage",), "outbound", 1, at()),
    )  # fmt: skip
    assert step_of(progress) == ("lead", "deciding", "active")
    assert progress.due_at == at()


def test_a_tick_while_the_decision_is_awaited_asks_again_for_the_same_attempt() -> None:
    journey = with_lead()
    first = run(journey, ENTER)
    again = advance(journey, first.enrollment, Tick(at(hours=1)))
    assert again.transitions == ()
    assert again.enrollment == first.enrollment
    assert (
        [d.key for d in again.decisions] == [d.key for d in first.decisions] == ["j:c-1:1:lead:1"]
    )


def test_a_shown_decision_moves_on_and_records_the_decision() -> None:
    progress = run(with_lead(), ENTER, SHOWN)
    (move,) = progress.transitions
    assert (move.from_step, move.to_step, move.reason, move.decision_id) == (
        "lead",
        "wait",
        "shown",
        "d-1",
    )


def test_a_blocked_decision_skips_to_next_when_told() -> None:
    progress = run(with_lead(on_blocked={"action": "skip"}), ENTER, BLOCKED)
    assert [(t.to_step, t.reason) for t in progress.transitions] == [("wait", "skipped")]


def test_a_blocked_decision_exits_with_its_reason_when_told() -> None:
    progress = run(with_lead(on_blocked={"action": "exit", "reason": "capped"}), ENTER, BLOCKED)
    assert step_of(progress) == ("lead", "", "exited")
    assert progress.actions[-1] == Exit("j", "c-1", "lead", "capped", at())


def test_a_blocked_decision_is_retried_after_the_delay() -> None:
    journey = with_lead(on_blocked={"action": "retry", "retry_after": "1d", "max_retries": 2})
    blocked = run(journey, ENTER, BLOCKED)
    assert [(t.kind, t.reason, t.phase) for t in blocked.transitions] == [
        ("stay", "policies", "retrying")
    ]
    assert blocked.due_at == at(1)
    early = advance(journey, blocked.enrollment, Tick(at(hours=23)))
    assert early.actions == ()
    retried = advance(journey, blocked.enrollment, Tick(at(1)))
    assert [(t.kind, t.reason, t.attempt) for t in retried.transitions] == [("stay", "retry", 2)]
    assert [d.attempt for d in retried.decisions] == [2]


def test_retries_end_in_the_blocked_reason_after_the_last_one() -> None:
    journey = with_lead(on_blocked={"action": "retry", "retry_after": "1d", "max_retries": 1,
                                    "reason": "never_reached"})  # fmt: skip
    nothing = DecisionResult("lead", at(1), blocked="nothing_eligible")
    progress = run(journey, ENTER, BLOCKED, Tick(at(1)), nothing)
    assert step_of(progress) == ("lead", "", "exited")
    assert progress.enrollment is not None
    assert progress.enrollment.exit_reason == "never_reached"


def test_a_result_while_retrying_is_stale() -> None:
    journey = with_lead(on_blocked={"action": "retry", "retry_after": "1d"})
    blocked = run(journey, ENTER, BLOCKED)
    late = advance(journey, blocked.enrollment, SHOWN)
    assert late == Progress(blocked.enrollment, ())


def test_a_result_for_another_attempt_or_step_is_stale() -> None:
    journey = with_lead()
    entered = run(journey, ENTER)
    for stale in (DecisionResult("lead", at(), shown=("mortgage",), attempt=2),
                  DecisionResult("wait", at(), shown=("mortgage",))):  # fmt: skip
        assert advance(journey, entered.enrollment, stale) == Progress(entered.enrollment, ())


def test_an_inbound_offer_step_nominates_its_offers_until_it_expires() -> None:
    journey = with_lead(mode="inbound", expires_after="3d", on_expired="gone")
    entered = run(journey, ENTER)
    assert step_of(entered) == ("lead", "nominated", "active")
    assert [d.mode for d in entered.decisions] == ["inbound"]
    assert entered.due_at == at(3)
    expired = advance(journey, entered.enrollment, Tick(at(3)))
    assert [(t.to_step, t.reason) for t in expired.transitions] == [
        ("gone", "expired"),
        (None, "no_response"),
    ]


def test_an_inbound_offer_shown_when_the_customer_asks_moves_on() -> None:
    journey = with_lead(mode="inbound", expires_after="3d")
    progress = run(journey, ENTER, DecisionResult("lead", at(2), shown=("mortgage",)))
    assert step_of(progress) == ("wait", "waiting", "active")


def test_an_inbound_retry_is_due_no_later_than_the_expiry() -> None:
    journey = with_lead(mode="inbound", expires_after="1d",
                        on_blocked={"action": "retry", "retry_after": "2d"})  # fmt: skip
    blocked = run(journey, ENTER, DecisionResult("lead", at(hours=12), blocked="policies"))
    assert blocked.due_at == at(1)
    expired = advance(journey, blocked.enrollment, Tick(at(1)))
    assert [t.reason for t in expired.transitions][:1] == ["expired"]


# -- wait ---------------------------------------------------------------------------------


def test_a_wait_for_a_duration_moves_on_when_it_has_passed() -> None:
    wait = {"id": "wait", "type": "wait", "duration": "2d", "next": "done"}
    journey = compiled([{**LEAD}, wait, DONE])
    waiting = run(journey, ENTER, SHOWN)
    assert waiting.due_at == at(2)
    assert advance(journey, waiting.enrollment, Tick(at(1))).actions == ()
    done = advance(journey, waiting.enrollment, Tick(at(2)))
    assert next((t.from_step, t.to_step, t.reason) for t in done.transitions) == (
        "wait",
        "done",
        "elapsed",
    )


def test_a_wait_until_ends_on_an_awaited_event_about_the_steps_offers() -> None:
    journey = with_lead()
    waiting = run(journey, ENTER, SHOWN)
    clicked = advance(journey, waiting.enrollment, Event("click", at(1), offer="mortgage"))
    moves = [(t.to_step, t.reason, t.event) for t in clicked.transitions if t.kind == "move"]
    assert moves == [("done", "event", "click")]


def test_a_wait_until_ignores_other_events_and_other_offers() -> None:
    journey = with_lead()
    waiting = run(journey, ENTER, SHOWN)
    for event in (Event("decline", at(1), offer="mortgage"), Event("click", at(1), offer="brokerage"),
                  Event("click", at(1))):  # fmt: skip
        after = advance(journey, waiting.enrollment, event)
        assert after.enrollment is not None
        assert (after.enrollment.step, after.enrollment.phase) == ("wait", "waiting")


def test_a_wait_until_times_out_to_its_timeout_step() -> None:
    journey = with_lead()
    waiting = run(journey, ENTER, SHOWN)
    timed_out = advance(journey, waiting.enrollment, Tick(at(7)))
    assert [(t.to_step, t.reason) for t in timed_out.transitions] == [
        ("gone", "timeout"),
        (None, "no_response"),
    ]


# -- branch and exit ----------------------------------------------------------------------


def branching(condition: str) -> Journey:
    check = {"id": "check", "type": "branch", "otherwise": "gone",
             "branches": [{"condition": condition, "next": "done"},
                          {"condition": "true", "next": "lead"}]}  # fmt: skip
    wait = {"id": "wait", "type": "wait", "duration": "1d", "next": "check"}
    return compiled([check, {**LEAD}, wait, DONE, GONE])


def test_a_branch_takes_the_first_branch_whose_condition_holds() -> None:
    progress = run(branching('customer.tier == "gold"'), ENTER, context={"customer.tier": "gold"})
    assert [(t.to_step, t.reason) for t in progress.transitions] == [
        ("check", "entered"),
        ("done", "branches[0]"),
        (None, "responded"),
    ]


def test_a_branch_falls_to_a_later_branch_or_otherwise() -> None:
    progress = run(branching('customer.tier == "gold"'), ENTER, context={"customer.tier": "basic"})
    assert [(t.to_step, t.reason) for t in progress.transitions] == [
        ("check", "entered"),
        ("lead", "branches[1]"),
    ]


def test_a_branch_reads_the_journeys_own_names() -> None:
    journey = branching('"lead" in journey.visited')
    first = run(journey, ENTER, SHOWN)
    assert step_of(first) == ("wait", "waiting", "active")
    second = advance(journey, first.enrollment, Tick(at(1)))
    assert [(t.to_step, t.reason) for t in second.transitions] == [
        ("check", "elapsed"),
        ("done", "branches[0]"),
        (None, "responded"),
    ]


def test_an_exit_step_leaves_with_its_reason() -> None:
    progress = run(compiled([DONE]), ENTER)
    assert progress.actions[-1] == Exit("j", "c-1", "done", "responded", at())
    assert step_of(progress) == ("done", "", "exited")
