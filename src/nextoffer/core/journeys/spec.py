"""A journey definition as it is written (JSON or YAML), validated field by field.

Everything here is a frozen Pydantic model that refuses unknown fields; ``compile_journey``
then checks what spans several of them (the step graph, conditions against the customer
schema, offers and channels against the catalog). Durations are text such as ``"7d"`` or
``"1d12h"`` (``duration.py``). The mortgage journey of the bank scenario, in YAML::

    id: mortgage
    name: Mortgage lead to branch appointment
    entry:
      condition: 'customer.tier in ["premium", "gold"] and "mortgage" not in customer.holdings'
      channels: [in_app]
      segment: 'customer.tenureMonths >= 24'
    start: lead
    steps:
      - {id: lead, type: offer, channel: email, offers: [mortgage], next: wait_lead}
      - {id: wait_lead, type: wait, next: responded, on_timeout: responded,
         until: {events: [click, accept], step: lead, timeout: 7d}}
      - {id: responded, type: branch, otherwise: reminder, branches: [
          {condition: '"click" in journey.steps.lead.events', next: appointment}]}
      ...
    exit_conditions: [{condition: '"convert" in journey.steps.lead.events', reason: converted}]
    max_duration: 60d
    holdout_share: 0.1

Step ids are names of the rule language's form (letters, digits and ``_``, starting with a
letter; not a keyword), because conditions name them: ``journey.steps.lead.events``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ..rules.nodes import KEYWORDS
from .duration import Duration

__all__ = [
    "MAX_STEPS",
    "BranchSpec",
    "BranchStep",
    "Caps",
    "EntrySpec",
    "ExitCondition",
    "ExitStep",
    "JourneySpec",
    "OfferStep",
    "OnBlocked",
    "Reentry",
    "StepSpec",
    "StepTypeName",
    "WaitStep",
    "WaitUntil",
]


_STEP_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def _step_id(value: str) -> str:
    if not _STEP_ID.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a step id: letters, digits and '_', starting with a letter, "
            "at most 64 (conditions name it: journey.steps.<id>.events)"
        )
    if value in KEYWORDS:
        raise ValueError(f"{value!r} is a keyword of the rule language; a step id cannot be one")
    return value


Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]
StepId = Annotated[str, AfterValidator(_step_id)]
Reason = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
ConditionInput = str | dict[str, Any]
MAX_STEPS = 200


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EntrySpec(_Spec):
    """Who enters: ``condition`` over the customer (and the request that arrived), checked
    when an event of one of the ``events`` types about the customer arrives, or a decision
    request on one of the ``channels``; ``segment``, for outbound programs, is evaluated
    over stored customers by the shell's scheduler (a customer must match both to enter
    that way). (The arrivals are not under an ``on`` key: YAML reads ``on`` as true.)"""

    condition: ConditionInput
    events: tuple[Id, ...] = ()
    channels: tuple[Id, ...] = ()
    segment: ConditionInput | None = None

    @model_validator(mode="after")
    def _some_arrival(self) -> EntrySpec:
        if not (self.events or self.channels) and self.segment is None:
            raise ValueError(
                "an entry needs 'events' or 'channels' (the arrivals that check it) or a "
                "'segment', or no customer could ever enter"
            )
        return self


class OnBlocked(_Spec):
    """What an offer step does when its decision shows nothing (contact policies blocked it,
    or none of its offers qualified): ``retry`` it ``retry_after`` later, at most
    ``max_retries`` times, then exit with ``reason``; ``skip`` to the step's ``next``; or
    ``exit`` with ``reason`` at once."""

    action: Literal["retry", "skip", "exit"] = "exit"
    retry_after: Duration | None = None
    max_retries: Annotated[int, Field(ge=1, le=100)] = 1
    reason: Reason = "blocked"

    @model_validator(mode="after")
    def _retry_needs_delay(self) -> OnBlocked:
        if self.action == "retry" and self.retry_after is None:
            raise ValueError("'retry' needs 'retry_after' (how long to wait before retrying)")
        if self.action != "retry" and self.retry_after is not None:
            raise ValueError(f"'retry_after' is only for 'retry', not {self.action!r}")
        return self


class OfferStep(_Spec):
    """Decide on ``channel`` (and ``placements``, by default all of the channel's) among
    ``offers``, through the normal decision path, then go to ``next``.

    ``outbound``: the service decides at once (an e-mail); ``inbound``: the offers are
    nominated for the customer's next request on the channel (the branch, the app), until
    ``expires_after`` has passed since the step began; then the step goes to ``on_expired``
    (by default ``next``). ``on_blocked`` says what happens when the decision shows nothing.
    """

    type: Literal["offer"] = "offer"
    id: StepId
    channel: Id
    placements: tuple[Id, ...] = ()
    offers: Annotated[tuple[Id, ...], Field(min_length=1)]
    mode: Literal["outbound", "inbound"] = "outbound"
    next: StepId
    on_blocked: OnBlocked = Field(default_factory=OnBlocked)
    expires_after: Duration | None = None
    on_expired: StepId | None = None

    @model_validator(mode="after")
    def _expiry_for_inbound(self) -> OfferStep:
        if len(set(self.offers)) < len(self.offers):
            raise ValueError("'offers' names an offer twice")
        if self.mode == "inbound" and self.expires_after is None:
            raise ValueError("an inbound offer step needs 'expires_after'")
        if self.mode == "outbound" and (
            self.expires_after is not None or self.on_expired is not None
        ):
            raise ValueError("'expires_after' and 'on_expired' are for inbound offer steps")
        return self


class WaitUntil(_Spec):
    """Wait for an event of one of ``events`` about the offers of the offer step ``step``
    that arrives while the customer waits, for at most ``timeout``."""

    events: Annotated[tuple[Id, ...], Field(min_length=1)]
    step: StepId
    timeout: Duration


class WaitStep(_Spec):
    """Wait ``duration``, then go to ``next``; or wait ``until`` an event, then go to
    ``next``, or, when its timeout passes first, to ``on_timeout`` (by default ``next``)."""

    type: Literal["wait"] = "wait"
    id: StepId
    duration: Duration | None = None
    until: WaitUntil | None = None
    next: StepId
    on_timeout: StepId | None = None

    @model_validator(mode="after")
    def _duration_or_until(self) -> WaitStep:
        if (self.duration is None) == (self.until is None):
            raise ValueError("a wait step has either 'duration' or 'until'")
        if self.on_timeout is not None and self.until is None:
            raise ValueError("'on_timeout' is for a wait 'until' an event")
        return self


class BranchSpec(_Spec):
    """One way out of a branch step: taken when ``condition`` holds."""

    condition: ConditionInput
    next: StepId


class BranchStep(_Spec):
    """Go to the ``next`` of the first branch whose condition holds, else to ``otherwise``.
    Conditions read the customer and the journey's own names (``journey.*``)."""

    type: Literal["branch"] = "branch"
    id: StepId
    branches: Annotated[tuple[BranchSpec, ...], Field(min_length=1)]
    otherwise: StepId


class ExitStep(_Spec):
    """Leave the journey with ``reason``."""

    type: Literal["exit"] = "exit"
    id: StepId
    reason: Reason


# The step types. Each has its entry in the registry of ``steps.py`` (how it is entered and
# how it reacts); importing that module checks that both agree.
StepTypeName = Literal["offer", "wait", "branch", "exit"]
StepSpec = Annotated[OfferStep | WaitStep | BranchStep | ExitStep, Field(discriminator="type")]


class ExitCondition(_Spec):
    """When ``condition`` holds, the customer leaves the journey at once with ``reason``,
    whatever step they are at (even in the middle of a wait)."""

    condition: ConditionInput
    reason: Reason


class Reentry(_Spec):
    """Whether a customer who was in the journey may enter it again: ``never``; any time
    after their enrollment ended (``after_exit``); or ``after`` at least ``wait`` since it
    ended. ``max_entries`` bounds the entries in all (the first one included)."""

    policy: Literal["never", "after_exit", "after"] = "never"
    wait: Duration | None = None
    max_entries: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _wait_for_after(self) -> Reentry:
        if (self.policy == "after") != (self.wait is not None):
            raise ValueError("'wait' goes with the policy 'after', and only with it")
        if self.policy == "never" and self.max_entries not in (None, 1):
            raise ValueError("with the policy 'never' a customer enters once")
        return self


class Caps(_Spec):
    """Journey-level caps: at most ``entries_per_day`` entries in one UTC calendar day, and
    at most ``in_journey`` customers in the journey at once (holdout included in both)."""

    entries_per_day: Annotated[int, Field(ge=1)] | None = None
    in_journey: Annotated[int, Field(ge=1)] | None = None


class JourneySpec(_Spec):
    """A journey definition: who enters, the graph of steps from ``start``, the exit
    conditions, re-entry, the longest a customer stays (``max_duration``), caps, the share
    of entrants held out as a control group (they enter but get nothing), and the ``goal``:
    the offers whose conversions measure the journey against its holdout (by default the
    offers of its offer steps; a lead's goal is usually the product it leads to)."""

    id: Id
    name: str = ""
    description: str = ""
    entry: EntrySpec
    start: StepId
    steps: Annotated[tuple[StepSpec, ...], Field(min_length=1, max_length=MAX_STEPS)]
    exit_conditions: tuple[ExitCondition, ...] = ()
    reentry: Reentry = Field(default_factory=Reentry)
    max_duration: Duration
    caps: Caps = Field(default_factory=Caps)
    holdout_share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.0
    goal: Annotated[tuple[Id, ...], Field(max_length=100)] = ()
