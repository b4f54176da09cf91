"""Step types: what each kind of step does, one registry entry per type.

A ``StepType`` says, for the steps of its spec model:

- ``targets``: the steps it may go to, with the field that names each (the graph that
  ``compile_journey`` checks: unknown ids, unreachable steps, cycles without a wait);
- ``waits``: whether it is a wait (every cycle of the graph must pass one);
- ``conditions``: the conditions it evaluates, compiled with the ``journey.*`` names;
- ``offering``: the channel, placements and offers it decides on (an offer step), checked
  against the catalog and named ``journey.steps.<id>.events`` in conditions;
- ``check``: what it requires of the other steps (a wait ``until`` needs an offer step);
- ``arrive``: what happens when a customer enters it: ``Rest`` there (in a phase, until a
  time, maybe asking for a decision), go ``Onward`` to another step, or ``Leave``;
- ``on_event``, ``on_tick`` (only when the enrollment is due), ``on_decision``: how it
  reacts while a customer rests there (None: it does not).

Adding a type is its spec model in ``spec.py`` (in ``StepSpec`` and ``StepTypeName``) and its
entry here; importing this module checks that the two agree, and a type without an entry is
refused when a journey is compiled (``UnknownEntryError``), never run as another.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, Literal, TypeVar, get_args

from pydantic import BaseModel

from ..registry import Registry
from ..rules import CompiledCondition
from .inputs import DecisionResult, Event
from .names import journey_context
from .spec import (
    BranchStep,
    ConditionInput,
    ExitStep,
    OfferStep,
    StepSpec,
    StepTypeName,
    WaitStep,
)
from .state import Enrollment, Phase

__all__ = ["STEP_TYPES", "Leave", "Offering", "Onward", "Reaction", "Rest", "StepContext",
           "StepType"]  # fmt: skip

S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Rest:
    """Stay at the step in ``phase`` until ``wake_at`` (None: no time of its own; the
    journey's maximum duration still applies), at ``attempt``; ``ask``: emit the step's
    ``Decide``. From a reaction, ``reason`` names the change (a ``stay`` transition); a rest
    that changes nothing records nothing (but still asks, when ``ask``)."""

    phase: Phase
    wake_at: dt.datetime | None
    attempt: int = 0
    reason: str = ""
    ask: bool = False


@dataclass(frozen=True, slots=True)
class Onward:
    """Go to step ``to`` for ``reason``; ``event``/``offer``: the event that caused it."""

    to: str
    reason: str
    event: str | None = None
    offer: str | None = None


@dataclass(frozen=True, slots=True)
class Leave:
    """Leave the journey for ``reason``."""

    reason: str


Reaction = Rest | Onward | Leave


@dataclass(frozen=True, slots=True)
class Offering:
    """What an offer step decides on: ``channel``, ``placements`` (empty: all), ``offers``."""

    channel: str
    placements: tuple[str, ...]
    offers: tuple[str, ...]
    mode: Literal["outbound", "inbound"]


class StepContext:
    """What a step's entry reads: the ``enrollment`` as it is (at the step), the time ``at``,
    the step's compiled ``conditions`` (in the order its entry's ``conditions`` gave them),
    each offer step's offers (``step_offers``) and the customer's context."""

    def __init__(
        self,
        enrollment: Enrollment,
        at: dt.datetime,
        conditions: tuple[CompiledCondition, ...],
        step_offers: Mapping[str, frozenset[str]],
        customer: Mapping[str, Any],
        goal: frozenset[str] = frozenset(),
    ) -> None:
        self.enrollment = enrollment
        self.at = at
        self.conditions = conditions
        self.step_offers = step_offers
        self._customer = customer
        self.goal = goal

    @cached_property
    def context(self) -> dict[str, Any]:
        """The customer's context with the ``journey.*`` names, as conditions read it."""
        names = journey_context(self.enrollment, self.at, self.step_offers, self.goal)
        return {**self._customer, **names}

    def holds(self, condition: CompiledCondition) -> bool:
        """Whether ``condition`` is true now (unknown is not)."""
        return condition(self.context)


def _none(step: Any) -> None:
    return None


def _nothing(step: Any) -> tuple[()]:
    return ()


def _no_problems(step: Any, steps: Mapping[str, StepSpec]) -> tuple[()]:
    return ()


@dataclass(frozen=True, slots=True)
class StepType(Generic[S]):
    """One step type: the registry's entry (see the module's docstring for each part)."""

    name: str
    model: type[S]
    waits: bool
    targets: Callable[[S], Iterable[tuple[str, str]]]
    arrive: Callable[[StepContext, S], Reaction]
    on_event: Callable[[StepContext, S, Event], Reaction | None] | None = None
    on_tick: Callable[[StepContext, S], Reaction | None] | None = None
    on_decision: Callable[[StepContext, S, DecisionResult], Reaction | None] | None = None
    conditions: Callable[[S], Iterable[tuple[str, ConditionInput]]] = field(default=_nothing)
    offering: Callable[[S], Offering | None] = field(default=_none)
    check: Callable[[S, Mapping[str, StepSpec]], Iterable[tuple[str, str]]] = field(
        default=_no_problems
    )

    def __post_init__(self) -> None:
        declared = self.model.model_fields["type"].default
        if declared != self.name:
            raise AssertionError(f"step type {self.name!r} has the model of {declared!r}")


# -- offer --------------------------------------------------------------------------------


def _offer_targets(step: OfferStep) -> Iterable[tuple[str, str]]:
    yield "next", step.next
    if step.on_expired is not None:
        yield "on_expired", step.on_expired


def _offering(step: OfferStep) -> Offering:
    return Offering(step.channel, step.placements, step.offers, step.mode)


def _expiry(ctx: StepContext, step: OfferStep) -> dt.datetime | None:
    if step.expires_after is None:
        return None
    return ctx.enrollment.step_entered_at + step.expires_after


def _ask(ctx: StepContext, step: OfferStep, attempt: int, reason: str = "") -> Rest:
    if step.mode == "outbound":  # due at once: a tick asks again until the result arrives
        return Rest("deciding", ctx.at, attempt, reason, ask=True)
    return Rest("nominated", _expiry(ctx, step), attempt, reason, ask=True)


def _offer_arrive(ctx: StepContext, step: OfferStep) -> Reaction:
    return _ask(ctx, step, 1)


def _offer_tick(ctx: StepContext, step: OfferStep) -> Reaction | None:
    enrollment, expiry = ctx.enrollment, _expiry(ctx, step)
    if expiry is not None and ctx.at >= expiry:
        return Onward(step.on_expired or step.next, "expired")
    if enrollment.phase == "retrying":
        return _ask(ctx, step, enrollment.attempt + 1, "retry")
    if enrollment.phase == "deciding":  # the result never came: ask again, changing nothing
        return Rest("deciding", enrollment.due_at, enrollment.attempt, ask=True)
    return None


def _offer_decision(ctx: StepContext, step: OfferStep, result: DecisionResult) -> Reaction | None:
    enrollment = ctx.enrollment
    if enrollment.phase not in ("deciding", "nominated"):
        return None  # a result while retrying answers an attempt already done
    if result.shown:
        return Onward(step.next, "shown")
    blocked = step.on_blocked
    if blocked.action == "skip":
        return Onward(step.next, "skipped")
    if blocked.action == "exit" or enrollment.attempt > blocked.max_retries:
        return Leave(blocked.reason)
    assert blocked.retry_after is not None
    wake = ctx.at + blocked.retry_after
    expiry = _expiry(ctx, step)
    if expiry is not None:
        wake = min(wake, expiry)
    return Rest("retrying", wake, enrollment.attempt, result.outcome)


# -- wait ---------------------------------------------------------------------------------


def _wait_targets(step: WaitStep) -> Iterable[tuple[str, str]]:
    yield "next", step.next
    if step.on_timeout is not None:
        yield "on_timeout", step.on_timeout


def _wait_length(step: WaitStep) -> dt.timedelta:
    if step.until is not None:
        return step.until.timeout
    assert step.duration is not None
    return step.duration


def _wait_arrive(ctx: StepContext, step: WaitStep) -> Reaction:
    return Rest("waiting", ctx.at + _wait_length(step))


def _wait_event(ctx: StepContext, step: WaitStep, event: Event) -> Reaction | None:
    until = step.until
    if (
        until is not None
        and event.type in until.events
        and event.offer in ctx.step_offers.get(until.step, ())
    ):
        return Onward(step.next, "event", event.type, event.offer)
    return None


def _wait_tick(ctx: StepContext, step: WaitStep) -> Reaction | None:
    if ctx.at < ctx.enrollment.step_entered_at + _wait_length(step):
        return None
    if step.until is None:
        return Onward(step.next, "elapsed")
    return Onward(step.on_timeout or step.next, "timeout")


def _wait_check(step: WaitStep, steps: Mapping[str, StepSpec]) -> Iterable[tuple[str, str]]:
    if step.until is None:
        return
    target = steps.get(step.until.step)
    if target is None:
        known = ", ".join(steps)
        yield "until.step", f"unknown step {step.until.step!r} (steps: {known})"
    elif STEP_TYPES[target.type].offering(target) is None:
        yield (
            "until.step",
            f"'until' needs an offer step, and {target.id!r} is a {target.type!r} step",
        )


# -- branch -------------------------------------------------------------------------------


def _branch_targets(step: BranchStep) -> Iterable[tuple[str, str]]:
    for i, branch in enumerate(step.branches):
        yield f"branches[{i}].next", branch.next
    yield "otherwise", step.otherwise


def _branch_conditions(step: BranchStep) -> Iterable[tuple[str, ConditionInput]]:
    for i, branch in enumerate(step.branches):
        yield f"branches[{i}].condition", branch.condition


def _branch_arrive(ctx: StepContext, step: BranchStep) -> Reaction:
    for i, (branch, condition) in enumerate(zip(step.branches, ctx.conditions, strict=True)):
        if ctx.holds(condition):
            return Onward(branch.next, f"branches[{i}]")
    return Onward(step.otherwise, "otherwise")


# -- exit ---------------------------------------------------------------------------------


def _exit_arrive(ctx: StepContext, step: ExitStep) -> Reaction:
    return Leave(step.reason)


STEP_TYPES: Registry[StepType[Any]] = Registry(
    "step type",
    "type",
    (
        (t.name, t)
        for t in (
            StepType(
                "offer",
                OfferStep,
                waits=False,
                targets=_offer_targets,
                arrive=_offer_arrive,
                on_tick=_offer_tick,
                on_decision=_offer_decision,
                offering=_offering,
            ),
            StepType(
                "wait",
                WaitStep,
                waits=True,
                targets=_wait_targets,
                arrive=_wait_arrive,
                on_event=_wait_event,
                on_tick=_wait_tick,
                check=_wait_check,
            ),
            StepType(
                "branch",
                BranchStep,
                waits=False,
                targets=_branch_targets,
                arrive=_branch_arrive,
                conditions=_branch_conditions,
            ),
            StepType("exit", ExitStep, waits=False, targets=_nothing, arrive=_exit_arrive),
        )
    ),
)
STEP_TYPES.agree(get_args(StepTypeName))
STEP_TYPES.agree(model.model_fields["type"].default for model in get_args(get_args(StepSpec)[0]))
