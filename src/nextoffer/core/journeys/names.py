"""The journey's own names, which branch and exit conditions read beside the customer's.

    journey.days               float         days since the customer entered the journey
    journey.step_days          float         days since they entered the step they are at
    journey.events             list[string]  the types of the events about the customer
                                             since they entered (any offer, or none)
    journey.visited            list[string]  the ids of the steps entered since then
    journey.steps.<id>.events  list[string]  for each offer step: the types of the events
                                             about that step's offers since entry
    journey.goal.events        list[string]  the types of the events about the journey's
                                             goal offers since entry (``goal``; by default
                                             its offer steps' offers)

"Clicked or accepted the lead" is ``"click" in journey.steps.lead.events or "accept" in
journey.steps.lead.events``; "was reminded already" is ``"reminder" in journey.visited``.
An event is about a step's offers when its offer is one of them, whichever decision showed
it: two steps that offer the same offer see the same events. Entry and segment conditions
do not see these names (the customer is not in the journey yet).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from ..rules.types import FLOAT, STRING_LIST, Type
from .state import Enrollment

__all__ = ["journey_context", "journey_names"]

_DAY = 86400.0


def journey_names(offer_steps: Iterable[str]) -> dict[str, Type]:
    """The names and types of ``journey.*`` for a journey with these offer steps."""
    names: dict[str, Type] = {
        "journey.days": FLOAT,
        "journey.step_days": FLOAT,
        "journey.events": STRING_LIST,
        "journey.visited": STRING_LIST,
        "journey.goal.events": STRING_LIST,
    }
    for step in offer_steps:
        names[f"journey.steps.{step}.events"] = STRING_LIST
    return names


def journey_context(
    enrollment: Enrollment,
    at: dt.datetime,
    step_offers: Mapping[str, frozenset[str]],
    goal: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The values of ``journey.*`` for ``enrollment`` at ``at`` (lists as frozensets, as the
    rule language's context holds them); ``step_offers``: each offer step's offers;
    ``goal``: the goal's offers."""
    by_offer = dict(enrollment.offer_events)
    ctx: dict[str, Any] = {
        "journey.days": (at - enrollment.entered_at).total_seconds() / _DAY,
        "journey.step_days": (at - enrollment.step_entered_at).total_seconds() / _DAY,
        "journey.events": frozenset(enrollment.events),
        "journey.visited": frozenset(enrollment.visited),
        "journey.goal.events": frozenset(
            kind for offer in goal for kind in by_offer.get(offer, ())
        ),
    }
    for step, offers in step_offers.items():
        ctx[f"journey.steps.{step}.events"] = frozenset(
            kind for offer in offers for kind in by_offer.get(offer, ())
        )
    return ctx
