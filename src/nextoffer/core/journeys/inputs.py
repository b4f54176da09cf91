"""What reaches an enrollment: the inputs of the step function, each at a time ``at``.

Times come in as arguments, with a time zone offset; the core never reads a clock. An input
older than the enrollment's last transition is taken as happening at that transition (inputs
from several workers may arrive slightly out of order): transitions never go back in time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

__all__ = ["DecisionResult", "Enter", "Event", "Input", "Tick"]


@dataclass(frozen=True, slots=True)
class Enter:
    """The customer qualifies for the journey at ``at`` (the shell checked the entry condition
    and ``admit``). ``holdout``: they are a control customer (the shell decides it, e.g. with
    ``Journey.in_holdout``): entered in the holdout, they get no offers."""

    customer: str
    at: dt.datetime
    holdout: bool = False


@dataclass(frozen=True, slots=True)
class Event:
    """An event about the customer (a ledger row): its ``type`` (``click``, ``accept``,
    ``convert``, a custom outcome type, ...), the ``offer`` it is about (None: none), its
    ``value`` (a conversion's), and when it happened. Events before the customer entered
    the journey are not since entry, and change nothing."""

    type: str
    at: dt.datetime
    offer: str | None = None
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Tick:
    """The clock at ``at``: releases the waits, retries and expiries that are due, and ends
    the enrollments whose maximum duration has passed."""

    at: dt.datetime


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """The result of an offer step's decision: the offers it ``shown`` (some of the step's),
    or, when it showed none, why: contact policies ``blocked`` them, or ``nothing_eligible``
    (the default). ``attempt``: the attempt it answers (from ``Decide``; None: the current
    one); a result for another step or attempt is stale and changes nothing."""

    step: str
    at: dt.datetime
    shown: tuple[str, ...] = ()
    blocked: Literal["policies", "nothing_eligible"] | None = None
    decision_id: str | None = None
    attempt: int | None = None

    @property
    def outcome(self) -> Literal["shown", "policies", "nothing_eligible"]:
        """``shown``, or why nothing was."""
        if self.shown:
            return "shown"
        return self.blocked or "nothing_eligible"


Input = Enter | Event | Tick | DecisionResult
"""Any input of the step function."""
