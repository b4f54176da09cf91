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
    the journey, version and step. ``outbound``: decide now and send the result back as a
    ``DecisionResult``; ``inbound``: nominate the offers for the customer's next request on
    the channel (for as long as the enrollment stays at this step, ``nominated``), and send
    that decision's result back. A tick while an outbound decision is still awaited asks
    again for the same attempt: ``key`` is the same, so the shell decides it once."""

    journey: str
    version: int
    customer: str
    entry: int
    step: str
    channel: str
    placements: tuple[str, ...]
    offers: tuple[str, ...]
    mode: Literal["outbound", "inbound"]
    attempt: int
    at: dt.datetime

    @property
    def key(self) -> str:
        """The same for every ask of one attempt of one step of one enrollment."""
        return f"{self.journey}:{self.customer}:{self.entry}:{self.step}:{self.attempt}"


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
