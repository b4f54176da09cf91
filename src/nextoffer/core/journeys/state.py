"""An enrollment (one customer in one journey version) and the transitions that make it.

Every change of an enrollment is a ``Transition``, a flat record the shell appends to the
ledger; ``apply(enrollment, transition)`` is the one function that changes an enrollment,
and the step function builds its new state by applying the transitions it records. So
``replay(transitions)``, from scratch, rebuilds exactly the state the step function
produced. Kinds of transition:

- ``enter``: the customer enters (at ``to_step``; in the holdout, at no step), ``entries``
  counts it;
- ``move``: from ``from_step`` to ``to_step`` (``reason``: ``shown``, ``skipped``,
  ``expired``, ``event``, ``elapsed``, ``timeout``, ``branches[i]``, ``otherwise``);
- ``stay``: the same step in another phase (``blocked``/``nothing_eligible`` → retrying,
  ``retry`` → asked again);
- ``observe``: an event of a type not seen before since entry (for ``journey.*`` names);
- ``exit``: the customer leaves (``reason``: an exit step's or exit condition's reason,
  ``max_duration``, or the ``on_blocked`` reason).

Every transition carries the enrollment's ``phase``, ``due_at`` and ``attempt`` after it.
The transitions of one customer in one journey are numbered from 1 (``seq``) across their
enrollments, and their times never go backwards; ``apply`` refuses a transition that does
not follow (``JourneyError``). Both records read and write plain JSON (``to_dict`` /
``from_dict``; ``to_json`` writes either as JSON text, ``Enrollment.from_json`` reads an
enrollment's), times as ISO 8601 in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import TypeAdapter, ValidationError

from ..rules import Diagnostic
from .errors import JourneyError

__all__ = [
    "Enrollment",
    "Phase",
    "Status",
    "Transition",
    "TransitionKind",
    "apply",
    "replay",
]

Status = Literal["active", "holdout", "exited"]
"""``active``: moving through the steps; ``holdout``: entered as a control customer (no step,
no offers) until an exit condition or the maximum duration ends it; ``exited``: left."""

Phase = Literal["", "deciding", "nominated", "retrying", "waiting"]
"""Where an active enrollment is within its step: an outbound offer step ``deciding`` (its
decision was asked for), an inbound one ``nominated`` (its offers wait for the customer's
request), an offer step ``retrying`` after a blocked decision, a wait step ``waiting``; ``""``
at a step that does not rest (a branch, an exit) and out of the steps."""

TransitionKind = Literal["enter", "move", "stay", "observe", "exit"]


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of an enrollment: a ledger row. ``phase``, ``due_at`` and ``attempt`` are
    the enrollment's after it; ``event``/``offer`` name an observed event (and the event that
    ended a wait); ``decision_id`` the decision whose result caused it; ``holdout`` marks an
    entry into the control group."""

    journey: str
    version: int
    customer: str
    seq: int
    at: dt.datetime
    kind: TransitionKind
    from_step: str | None
    to_step: str | None
    reason: str
    phase: Phase = ""
    due_at: dt.datetime | None = None
    attempt: int = 0
    event: str | None = None
    offer: str | None = None
    decision_id: str | None = None
    holdout: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The transition as plain JSON."""
        out: dict[str, Any] = _TRANSITION.dump_python(self, mode="json")
        return out

    def to_json(self) -> bytes:
        """``to_dict``'s form as JSON text (UTF-8), serialized at once: 1.2 us, where
        ``json.dumps(to_dict())`` takes 4.8 us."""
        return _TRANSITION.dump_json(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transition:
        """A transition from ``to_dict``'s form; ``JourneyError`` naming the field otherwise."""
        return _load(_TRANSITION, data)


@dataclass(frozen=True, slots=True)
class Enrollment:
    """One customer in one journey version: the state the step function reads and returns.

    ``step`` is where they are (after an exit: where they left; None in the holdout);
    ``entered_at`` / ``step_entered_at`` when they entered the journey and the step;
    ``updated_at`` the time of the last transition; ``due_at`` when the enrollment next needs
    a tick (a wait's end, a retry, an inbound offer's expiry, the maximum duration; None once
    exited); ``attempt`` the offer step's try (1 for the first decision). ``events`` and
    ``offer_events`` are the event types seen since entry, in all and per offer the journey
    names (sorted): bounded by the event types times the journey's offers. ``visited``: the
    steps entered since entry, in the order first entered. ``entries`` counts the customer's
    entries into this journey (for re-entry); ``seq`` the transitions applied so far, and
    ``step_seq`` the one that entered the current step (it tells two visits of a step apart).
    """

    journey: str
    version: int
    customer: str
    status: Status
    holdout: bool
    step: str | None
    phase: Phase
    attempt: int
    entered_at: dt.datetime
    step_entered_at: dt.datetime
    updated_at: dt.datetime
    due_at: dt.datetime | None
    events: tuple[str, ...] = ()
    offer_events: tuple[tuple[str, tuple[str, ...]], ...] = ()
    visited: tuple[str, ...] = ()
    exit_reason: str | None = None
    exited_at: dt.datetime | None = None
    entries: int = 1
    seq: int = 1
    step_seq: int = 1

    @property
    def active(self) -> bool:
        """In the journey (moving through it, or in its holdout), not exited."""
        return self.status != "exited"

    def to_dict(self) -> dict[str, Any]:
        """The enrollment as plain JSON."""
        out: dict[str, Any] = _ENROLLMENT.dump_python(self, mode="json")
        return out

    def to_json(self) -> bytes:
        """``to_dict``'s form as JSON text (UTF-8), serialized at once: 1.9 us, where
        ``json.dumps(to_dict())`` takes 6.8 us."""
        return _ENROLLMENT.dump_json(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Enrollment:
        """An enrollment from ``to_dict``'s form; ``JourneyError`` naming the field otherwise."""
        return _load(_ENROLLMENT, data)

    @classmethod
    def from_json(cls, text: str | bytes) -> Enrollment:
        """An enrollment from ``to_json``'s text, parsed and checked at once (3.0 us, where
        ``from_dict(json.loads(text))`` takes 5.9 us); ``JourneyError`` naming the field
        otherwise."""
        try:
            return _ENROLLMENT.validate_json(text, strict=False)
        except ValidationError as exc:
            raise _problems(exc) from None


_TRANSITION = TypeAdapter(Transition)
_ENROLLMENT = TypeAdapter(Enrollment)
T = TypeVar("T")


def _load(adapter: TypeAdapter[T], data: Mapping[str, Any]) -> T:
    try:
        return adapter.validate_python(dict(data), strict=False)
    except ValidationError as exc:
        raise _problems(exc) from None


def _problems(exc: ValidationError) -> JourneyError:
    return JourneyError(
        [
            Diagnostic(err["msg"], ".".join(str(part) for part in err["loc"]) or "$")
            for err in exc.errors(include_url=False)
        ]
    )


def _added(kinds: tuple[str, ...], kind: str) -> tuple[str, ...]:
    return kinds if kind in kinds else tuple(sorted((*kinds, kind)))


def _refuse(field: str, t: Transition, message: str) -> JourneyError:
    return JourneyError.one(field, f"transition {t.seq}: {message}")


def apply(enrollment: Enrollment | None, t: Transition) -> Enrollment:
    """The enrollment after transition ``t`` (``enrollment`` is None before the first entry,
    or the customer's last enrollment in the journey before a re-entry)."""
    before = enrollment.seq if enrollment is not None else 0
    if t.seq != before + 1:
        raise _refuse("seq", t, f"does not follow transition {before}")
    if t.kind == "enter":
        if enrollment is not None:
            if enrollment.active:
                raise _refuse("kind", t, "an entry while the customer is in the journey")
            if (enrollment.journey, enrollment.customer) != (t.journey, t.customer):
                raise _refuse("journey", t, "an entry into another journey or for another customer")
            if t.at < enrollment.updated_at:
                raise _refuse("at", t, "earlier than the transition before it")
        return Enrollment(
            journey=t.journey,
            version=t.version,
            customer=t.customer,
            status="holdout" if t.holdout else "active",
            holdout=t.holdout,
            step=t.to_step,
            phase=t.phase,
            attempt=t.attempt,
            entered_at=t.at,
            step_entered_at=t.at,
            updated_at=t.at,
            due_at=t.due_at,
            visited=(t.to_step,) if t.to_step is not None else (),
            entries=enrollment.entries + 1 if enrollment is not None else 1,
            seq=t.seq,
            step_seq=t.seq,
        )
    if enrollment is None or not enrollment.active:
        raise _refuse("kind", t, f"a {t.kind} of an enrollment that is not in the journey")
    if (enrollment.journey, enrollment.version, enrollment.customer) != (
        t.journey,
        t.version,
        t.customer,
    ):
        raise _refuse("version", t, "of another journey version or customer")
    if t.at < enrollment.updated_at:
        raise _refuse("at", t, "earlier than the transition before it")
    if t.from_step != enrollment.step:
        raise _refuse(
            "from_step",
            t,
            f"from step {t.from_step!r}, but the enrollment is at {enrollment.step!r}",
        )
    e = enrollment
    step, step_entered_at, step_seq, visited = e.step, e.step_entered_at, e.step_seq, e.visited
    events, offer_events = e.events, e.offer_events
    status, exit_reason, exited_at = e.status, e.exit_reason, e.exited_at
    if t.kind == "move":
        if t.to_step is None:
            raise _refuse("to_step", t, "a move needs the step it goes to")
        step, step_entered_at, step_seq = t.to_step, t.at, t.seq
        if step not in visited:
            visited = (*visited, step)
    elif t.kind == "observe":
        if t.event is None:
            raise _refuse("event", t, "an observe needs the event's type")
        events = _added(events, t.event)
        if t.offer is not None:
            by_offer = dict(offer_events)
            by_offer[t.offer] = _added(by_offer.get(t.offer, ()), t.event)
            offer_events = tuple(sorted(by_offer.items()))
    elif t.kind == "exit":
        status, exit_reason, exited_at = "exited", t.reason, t.at
    # one constructor call, not dataclasses.replace: apply runs for every transition
    return Enrollment(e.journey, e.version, e.customer, status, e.holdout, step, t.phase,
                      t.attempt, e.entered_at, step_entered_at, t.at, t.due_at, events,
                      offer_events, visited, exit_reason, exited_at, e.entries, t.seq,
                      step_seq)  # fmt: skip


def replay(transitions: Iterable[Transition]) -> Enrollment | None:
    """The enrollment the transitions of one customer in one journey make, applied in order
    from scratch (None when there are none)."""
    enrollment: Enrollment | None = None
    for t in transitions:
        enrollment = apply(enrollment, t)
    return enrollment
