"""Enrollments are made by their transitions alone, and both read and write plain JSON."""

from __future__ import annotations

import dataclasses
import json

import pytest

from nextoffer.core.journeys import (
    DecisionResult,
    Enrollment,
    Enter,
    Event,
    JourneyError,
    Tick,
    Transition,
    advance,
    apply,
    replay,
)

from .conftest import ELIGIBLE, at, mortgage

JOURNEY = mortgage()


def history() -> tuple[Enrollment, list[Transition]]:
    """A customer entered, shown the lead, clicked it, and nominated the appointment."""
    steps = [Enter("c-1", at()), DecisionResult("lead", at(), shown=("mortgage-lead",)),
             Event("click", at(2), offer="mortgage-lead")]  # fmt: skip
    enrollment, transitions = None, []
    for arrival in steps:
        enrollment, actions = advance(JOURNEY, enrollment, arrival, context=ELIGIBLE)
        transitions += [a for a in actions if isinstance(a, Transition)]
    assert enrollment is not None
    return enrollment, transitions


def test_replaying_the_transitions_rebuilds_the_enrollment() -> None:
    enrollment, transitions = history()
    assert replay(transitions) == enrollment
    assert replay([]) is None


def test_an_enrollment_survives_json_unchanged() -> None:
    enrollment, _ = history()
    text = json.dumps(enrollment.to_dict())
    assert Enrollment.from_dict(json.loads(text)) == enrollment


def test_a_transition_survives_json_unchanged() -> None:
    _, transitions = history()
    for t in transitions:
        assert Transition.from_dict(json.loads(json.dumps(t.to_dict()))) == t


def test_the_json_text_is_the_plain_json() -> None:
    enrollment, transitions = history()
    assert json.loads(enrollment.to_json()) == enrollment.to_dict()
    assert Enrollment.from_json(enrollment.to_json()) == enrollment
    assert Enrollment.from_json(json.dumps(enrollment.to_dict())) == enrollment
    for t in transitions:
        assert json.loads(t.to_json()) == t.to_dict()


def test_times_are_written_in_utc() -> None:
    enrollment, _ = history()
    assert enrollment.to_dict()["entered_at"] == "2026-03-02T09:00:00Z"


def test_an_enrollment_that_does_not_fit_names_the_field() -> None:
    enrollment, _ = history()
    data = {**enrollment.to_dict(), "status": "lost"}
    with pytest.raises(JourneyError) as caught:
        Enrollment.from_dict(data)
    assert caught.value.field == "status"
    assert caught.value.message == "Input should be 'active', 'holdout' or 'exited'"
    with pytest.raises(JourneyError) as caught:
        Enrollment.from_json(json.dumps(data))
    assert (caught.value.field, caught.value.message) == (
        "status", "Input should be 'active', 'holdout' or 'exited'")  # fmt: skip


def test_a_transition_out_of_order_is_refused() -> None:
    _, transitions = history()
    with pytest.raises(JourneyError) as caught:
        replay([transitions[0], transitions[2]])
    assert (caught.value.field, caught.value.message) == (
        "seq", "transition 3: does not follow transition 1"
    )  # fmt: skip


def test_a_transition_back_in_time_is_refused() -> None:
    enrollment, transitions = history()
    late = dataclasses.replace(transitions[-1], seq=enrollment.seq + 1,
                               at=enrollment.updated_at.replace(year=2025))  # fmt: skip
    with pytest.raises(JourneyError) as caught:
        apply(enrollment, late)
    assert caught.value.message == f"transition {late.seq}: earlier than the transition before it"


def test_a_transition_from_another_step_is_refused() -> None:
    enrollment, transitions = history()
    wrong = dataclasses.replace(transitions[-1], seq=enrollment.seq + 1, from_step="lead")
    with pytest.raises(JourneyError) as caught:
        apply(enrollment, wrong)
    assert caught.value.field == "from_step"


def test_nothing_follows_an_exit_but_an_entry() -> None:
    enrollment, _ = history()
    progress = advance(JOURNEY, enrollment, Tick(at(200)))
    exited = progress.enrollment
    assert exited is not None
    assert exited.status == "exited"
    move = dataclasses.replace(progress.transitions[-1], seq=exited.seq + 1, kind="move",
                               to_step="lead")  # fmt: skip
    with pytest.raises(JourneyError) as caught:
        apply(exited, move)
    assert caught.value.message == (
        f"transition {move.seq}: a move of an enrollment that is not in the journey"
    )


def test_a_reentry_counts_the_entries_and_starts_afresh() -> None:
    enrollment, transitions = history()
    progress = advance(JOURNEY, enrollment, Tick(at(200)))
    again = advance(JOURNEY, progress.enrollment, Enter("c-1", at(400)), context=ELIGIBLE)
    assert again.enrollment is not None
    assert (again.enrollment.entries, again.enrollment.events) == (2, ())
    assert replay([*transitions, *progress.transitions, *again.transitions]) == again.enrollment
