"""The journey's own names, as branch and exit conditions read them."""

from __future__ import annotations

import pytest

from nextoffer.core.journeys import (
    DecisionResult,
    Enter,
    Event,
    advance,
    journey_context,
    journey_names,
)
from nextoffer.core.rules.types import FLOAT, STRING_LIST

from .conftest import ELIGIBLE, at, mortgage

JOURNEY = mortgage()


def test_every_offer_step_gets_its_events_name() -> None:
    assert journey_names(["lead"]) == {
        "journey.days": FLOAT,
        "journey.step_days": FLOAT,
        "journey.events": STRING_LIST,
        "journey.visited": STRING_LIST,
        "journey.goal.events": STRING_LIST,
        "journey.steps.lead.events": STRING_LIST,
    }


def test_the_context_holds_time_events_and_the_path_since_entry() -> None:
    enrollment = None
    for arrival in (Enter("c-1", at()), DecisionResult("lead", at(), shown=("mortgage-lead",)),
                    Event("impression", at(1), offer="mortgage-lead"),
                    Event("login", at(1, 12))):  # fmt: skip
        enrollment = advance(JOURNEY, enrollment, arrival, context=ELIGIBLE).enrollment
    assert enrollment is not None
    ctx = journey_context(enrollment, at(2), JOURNEY.step_offers)
    assert ctx["journey.days"] == pytest.approx(2.0)
    assert ctx["journey.step_days"] == pytest.approx(2.0)
    assert ctx["journey.events"] == frozenset({"impression", "login"})
    assert ctx["journey.visited"] == frozenset({"lead", "wait_lead"})
    # the reminder offers the lead's offer: it sees the same events
    assert ctx["journey.steps.lead.events"] == ctx["journey.steps.reminder.events"] == frozenset({"impression"})  # fmt: skip
    assert ctx["journey.steps.appointment.events"] == frozenset()
