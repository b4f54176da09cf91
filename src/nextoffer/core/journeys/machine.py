"""The step function: (journey version, enrollment, input at t) → (enrollment', actions).

``advance`` is pure: the same journey, enrollment, input and customer context always give
the same result, and nothing else is read (no clock, no randomness, no storage). What it
does with each input, in order:

1. ``Enter``: unless the customer is in the journey already or ``admit`` refuses the
   re-entry, they enter: in the holdout (no step, no offers), or at ``start``. A customer
   who meets an exit condition already enters and leaves at once.
2. Any other input for an enrollment that has left changes nothing, nor does an event from
   before the entry. An input's time is taken no earlier than the last transition.
3. Past the maximum duration, any input first ends the enrollment with ``max_duration``,
   at the moment its maximum duration ended.
4. An ``Event`` since entry of a type not seen before (in all, or about one of the journey's
   offers) is recorded (``observe``), for the ``journey.*`` names.
5. The exit conditions are checked, in order: the first that holds ends the journey at once
   with its reason, whatever the step (even in the middle of a wait).
6. A holdout enrollment stops here. Otherwise the current step's type reacts: to the event,
   to the tick (only when the enrollment is due), or to its decision's result (a result for
   another step or attempt is stale and changes nothing).

Moving to a step enters it at once: a branch passes on, an exit step leaves, an offer step
asks for its decision (``Decide``), a wait rests until its time. Every change is a
``Transition`` among the actions (in order, with the ``Decide`` and ``Exit`` actions where
they happen); the new enrollment is those transitions applied to the old one (``apply``),
so ``replay`` of the recorded transitions rebuilds it exactly.

The shell keeps ``enrollment.due_at`` indexed and sends a ``Tick`` when it falls due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..request import EARLIEST, LATEST
from .actions import Action, Decide, Exit
from .admission import admit
from .compile import Journey
from .errors import JourneyError
from .inputs import DecisionResult, Enter, Event, Input, Tick
from .names import journey_context
from .state import Enrollment, Phase, Transition, TransitionKind, apply
from .steps import STEP_TYPES, Leave, Onward, Reaction, Rest, StepContext

__all__ = ["Progress", "advance"]


class Progress(NamedTuple):
    """What ``advance`` returns: the enrollment after the input (None when there was none and
    the customer did not enter) and the actions, in order: the ``Transition`` records to
    append to the ledger, ``Decide`` for offer steps, ``Exit`` when the customer left."""

    enrollment: Enrollment | None
    actions: tuple[Action, ...]

    @property
    def transitions(self) -> tuple[Transition, ...]:
        return tuple(a for a in self.actions if isinstance(a, Transition))

    @property
    def decisions(self) -> tuple[Decide, ...]:
        return tuple(a for a in self.actions if isinstance(a, Decide))

    @property
    def due_at(self) -> dt.datetime | None:
        """When the enrollment next needs a tick (None: it has left, or never entered)."""
        return self.enrollment.due_at if self.enrollment is not None else None


def advance(
    journey: Journey,
    enrollment: Enrollment | None,
    arrival: Input,
    *,
    context: Mapping[str, Any] | None = None,
) -> Progress:
    """The enrollment after ``arrival``, and the actions for the shell.

    ``enrollment``: the customer's enrollment in this journey (their last one, for an
    ``Enter``; None before their first), on ``journey``'s version while it is active (an
    ``Enter`` may start a new version). ``context``: the customer's rule-language context (``build_context``), which
    exit and branch conditions read beside the ``journey.*`` names; without it they see
    only those names. ``JourneyError`` when the input's time has no offset or is out of
    range, or the enrollment is another journey's, customer's or version's."""
    at = _utc(arrival.at)
    if enrollment is not None:
        if enrollment.journey != journey.id:
            raise JourneyError.one("journey", f"the enrollment is in journey {enrollment.journey!r}, not {journey.id!r}")  # fmt: skip
        if (
            not isinstance(arrival, Enter)
            and enrollment.active
            and enrollment.version != journey.version
        ):
            raise JourneyError.one("version", f"the enrollment is on version {enrollment.version}, not {journey.version}")  # fmt: skip
        at = max(at, enrollment.updated_at)
    if isinstance(arrival, Enter):
        if enrollment is not None and enrollment.customer != arrival.customer:
            raise JourneyError.one("customer", f"the enrollment is customer {enrollment.customer!r}'s, not {arrival.customer!r}'s")  # fmt: skip
        run = _Run(journey, enrollment, arrival.customer, at, context or {})
        run.enter(arrival)
    elif enrollment is None or not enrollment.active:
        return Progress(enrollment, ())
    else:
        run = _Run(journey, enrollment, enrollment.customer, at, context or {})
        run.react(arrival)
    return Progress(run.enrollment, tuple(run.actions))


def _utc(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise JourneyError.one("at", "needs a time zone offset, such as 2026-03-08T14:30:00Z")
    if not EARLIEST <= at < LATEST:
        raise JourneyError.one("at", "must be from 1900-01-01 to before 3000-01-01 (UTC)")
    return at.astimezone(dt.UTC)


class _Run:
    """One input's work: the transitions it records, applied as they are recorded."""

    def __init__(
        self,
        journey: Journey,
        enrollment: Enrollment | None,
        customer_id: str,
        at: dt.datetime,
        customer: Mapping[str, Any],
    ) -> None:
        self.journey, self.enrollment, self.at = journey, enrollment, at
        self.customer_id, self.customer = customer_id, customer
        self.actions: list[Action] = []
        self.decision_id: str | None = None

    # -- recording --------------------------------------------------------------------------

    def transition(
        self,
        kind: TransitionKind,
        to_step: str | None,
        reason: str,
        *,
        phase: Phase = "",
        due_at: dt.datetime | None = None,
        attempt: int = 0,
        event: str | None = None,
        offer: str | None = None,
        holdout: bool = False,
    ) -> Transition:
        """The next transition of the enrollment (its seq, time, and step it leaves)."""
        e, j = self.enrollment, self.journey
        return Transition(
            journey=j.id,
            version=j.version,
            customer=self.customer_id,
            seq=(e.seq if e is not None else 0) + 1,
            at=self.at,
            kind=kind,
            from_step=e.step if e is not None and kind != "enter" else None,
            to_step=to_step,
            reason=reason,
            phase=phase,
            due_at=due_at,
            attempt=attempt,
            event=event,
            offer=offer,
            decision_id=self.decision_id,
            holdout=holdout,
        )

    def record(self, t: Transition) -> None:
        self.enrollment = apply(self.enrollment, t)
        self.actions.append(t)

    def due(self, enrollment: Enrollment, wake_at: dt.datetime | None) -> dt.datetime:
        """A step's wake-up time, no later than the end of the enrollment's journey."""
        end = enrollment.entered_at + self.journey.max_duration
        return end if wake_at is None or wake_at > end else wake_at

    def exit(self, reason: str) -> None:
        assert self.enrollment is not None
        step = self.enrollment.step
        self.record(self.transition("exit", None, reason))
        self.actions.append(Exit(self.journey.id, self.customer_id, step, reason, self.at))

    # -- entering ---------------------------------------------------------------------------

    def enter(self, arrival: Enter) -> None:
        previous = self.enrollment
        if previous is not None and previous.active:
            return
        if not admit(self.journey, previous, self.at).allowed:
            return
        end = self.at + self.journey.max_duration
        if arrival.holdout:
            self.record(self.transition("enter", None, "holdout", due_at=end, holdout=True))
            self.check_exits()
            return
        start = self.journey.start
        reason = self.exit_reason(apply(previous, self.transition("enter", start, "entered")))
        if reason is not None:  # already out: enters and leaves at once, without offers
            self.record(self.transition("enter", start, "entered", due_at=end))
            self.exit(reason)
            return
        self.go("enter", start, "entered")

    # -- reacting ---------------------------------------------------------------------------

    def react(self, arrival: Event | Tick | DecisionResult) -> None:
        enrollment = self.enrollment
        assert enrollment is not None
        if isinstance(arrival, Event) and _utc(arrival.at) < enrollment.entered_at:
            return  # not since entry
        end = enrollment.entered_at + self.journey.max_duration
        if self.at >= end:
            self.at = end  # it ended then, however late the input that notices it
            self.exit("max_duration")
            return
        if isinstance(arrival, DecisionResult):
            if enrollment.status != "active" or arrival.step != enrollment.step:
                return
            if arrival.attempt is not None and arrival.attempt != enrollment.attempt:
                return
            self.decision_id = arrival.decision_id
        if isinstance(arrival, Event):
            self.observe(arrival)
        if self.check_exits():
            return
        enrollment = self.enrollment
        assert enrollment is not None
        if enrollment.status != "active" or enrollment.step is None:
            return  # the holdout gets nothing
        step = self.journey.steps[enrollment.step]
        kind = STEP_TYPES[step.type]
        ctx = self.context(enrollment, step.id)
        reaction: Reaction | None = None
        if isinstance(arrival, Event):
            if kind.on_event is not None:
                reaction = kind.on_event(ctx, step, arrival)
        elif isinstance(arrival, Tick):
            due = enrollment.due_at
            if kind.on_tick is not None and due is not None and self.at >= due:
                reaction = kind.on_tick(ctx, step)
        elif kind.on_decision is not None:
            reaction = kind.on_decision(ctx, step, arrival)
        if reaction is not None:
            self.follow(enrollment, reaction)

    def observe(self, event: Event) -> None:
        """Record an event of a type not seen before since entry (in all, or about one of the
        journey's offers)."""
        enrollment = self.enrollment
        assert enrollment is not None
        offer = event.offer if event.offer in self.journey.tracked_offers else None
        seen = dict(enrollment.offer_events).get(offer, ()) if offer is not None else ()
        if event.type in enrollment.events and (offer is None or event.type in seen):
            return
        self.record(self.transition("observe", enrollment.step, "event", phase=enrollment.phase,
                                    due_at=enrollment.due_at, attempt=enrollment.attempt,
                                    event=event.type, offer=offer))  # fmt: skip

    def exit_reason(self, enrollment: Enrollment) -> str | None:
        """The reason of the first exit condition that holds now, if any."""
        if not self.journey.exits:
            return None
        j = self.journey
        ctx = {
            **self.customer,
            **journey_context(enrollment, self.at, j.step_offers, j.goal_offers),
        }
        for condition, reason in self.journey.exits:
            if condition(ctx):
                return reason
        return None

    def check_exits(self) -> bool:
        assert self.enrollment is not None
        reason = self.exit_reason(self.enrollment)
        if reason is not None:
            self.exit(reason)
        return reason is not None

    def context(self, enrollment: Enrollment, step: str) -> StepContext:
        j = self.journey
        return StepContext(
            enrollment, self.at, j.conditions[step], j.step_offers, self.customer, j.goal_offers
        )

    def follow(self, enrollment: Enrollment, reaction: Reaction) -> None:
        """Carry out the reaction of the step the customer rests at."""
        assert enrollment.step is not None
        if isinstance(reaction, Onward):
            self.go("move", reaction.to, reaction.reason, event=reaction.event, offer=reaction.offer)  # fmt: skip
        elif isinstance(reaction, Leave):
            self.exit(reaction.reason)
        else:
            due = self.due(enrollment, reaction.wake_at)
            if (reaction.phase, due, reaction.attempt) != (enrollment.phase, enrollment.due_at, enrollment.attempt):  # fmt: skip
                self.record(self.transition("stay", enrollment.step, reaction.reason,
                                            phase=reaction.phase, due_at=due,
                                            attempt=reaction.attempt))  # fmt: skip
            if reaction.ask:
                self.decide(enrollment.step)

    def go(
        self,
        kind: TransitionKind,
        to: str,
        reason: str,
        *,
        event: str | None = None,
        offer: str | None = None,
    ) -> None:
        """Enter step ``to``, and the steps it passes on to, until one rests or leaves."""
        for _ in range(len(self.journey.steps) + 1):
            preview = apply(self.enrollment,
                            self.transition(kind, to, reason, event=event, offer=offer))  # fmt: skip
            step = self.journey.steps[to]
            reaction = STEP_TYPES[step.type].arrive(self.context(preview, to), step)
            if isinstance(reaction, Rest):
                self.record(self.transition(kind, to, reason, event=event, offer=offer,
                                            phase=reaction.phase, attempt=reaction.attempt,
                                            due_at=self.due(preview, reaction.wake_at)))  # fmt: skip
                if reaction.ask:
                    self.decide(to)
                return
            self.record(self.transition(kind, to, reason, event=event, offer=offer,
                                        due_at=self.due(preview, None)))  # fmt: skip
            if isinstance(reaction, Leave):
                self.exit(reaction.reason)
                return
            kind, to, reason = "move", reaction.to, reaction.reason
            event, offer = reaction.event, reaction.offer
        raise AssertionError("a journey passed more steps in one input than it has")

    def decide(self, step: str) -> None:
        enrollment = self.enrollment
        assert enrollment is not None
        o = self.journey.offerings[step]
        self.actions.append(
            Decide(self.journey.id, self.journey.version, enrollment.customer, step,
                   enrollment.step_seq, o.channel, o.placements, o.offers, o.mode,
                   enrollment.attempt, self.at)
        )  # fmt: skip
