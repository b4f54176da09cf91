"""What the step function asks the shell to do, besides recording its transitions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from .state import Transition

__all__ = ["Action", "Decide", "Exit"]


@dataclass(frozen=True, slots=True)
class Decide:
    """Make the offer step's decision: on ``channel`` (``placements``: these, or all of the
    channel's when empty) among ``offers``, through the normal decision path, marked with
    the journey, version and step (``step_seq``: the transition that entered the step, which
    tells two visits of one step apart). ``outbound``: decide now and send the result back as a
    ``DecisionResult``; ``inbound``: nominate the offers for the customer's next request on
    the channel (for as long as the enrollment stays at this step, ``nominated``), and send
    that decision's result back. A tick while an outbound decision is still awaited asks
    again for the same attempt: ``key`` is the same, so the shell decides it once."""

    journey: str
    version: int
    customer: str
    step: str
    step_seq: int
    channel: str
    placements: tuple[str, ...]
    offers: tuple[str, ...]
    mode: Literal["outbound", "inbound"]
    attempt: int
    at: dt.datetime

    @property
    def key(self) -> str:
        """The same for every ask of one attempt at one visit of a step, and only for those
        (transition numbers run on across the customer's entries into the journey)."""
        return f"{self.journey}:{self.customer}:{self.step_seq}:{self.step}:{self.attempt}"


@dataclass(frozen=True, slots=True)
class Exit:
    """The customer left the journey at ``step`` (None from the holdout) for ``reason``."""

    journey: str
    customer: str
    step: str | None
    reason: str
    at: dt.datetime


Action = Transition | Decide | Exit
"""Anything the step function returns for the shell: records to append and work to do."""
