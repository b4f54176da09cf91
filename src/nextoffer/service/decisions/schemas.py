"""The decision as the API answers it (``POST /v1/decisions``, ``GET /v1/decisions/{id}``).

Its parts are the engine's (``core.decision.result``: placements with their offers,
scores and probabilities, the counterfactual a control customer would have got, the rules
fired, the cascade, and, on a channel whose strategy explores, every choice's candidates
and probabilities) and the ledger's (the decision's id and time); the request it answers
is ``core.request.Request``. TypedDicts, not models: the decision path builds one per
request and answers it as JSON as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, NotRequired, Protocol, TypedDict

from sqlalchemy.orm import Session

from ...core.decision import JourneyStep
from ...core.request import Request

__all__ = ["DECIDED", "Decision", "JourneyHook"]

# the parts of the engine's answer that the ledger keeps with the decision (``decision``)
DECIDED = ("placements", "counterfactual", "rules_fired", "cascade", "journeys", "exploration")


class Decision(TypedDict):
    """One decision: who, where, what was shown, and (``GET`` only) its request and trace."""

    id: str
    snapshot_version: str
    customer_id: str | None
    channel: str
    session_id: str | None
    control: bool
    experiment: str | None
    placements: list[dict[str, Any]]
    counterfactual: list[dict[str, Any]]
    rules_fired: list[dict[str, Any]]
    cascade: str | None
    journeys: NotRequired[list[dict[str, Any]]]  # the journey steps that nominated offers
    exploration: NotRequired[dict[str, Any]]  # an exploring strategy's choices (not greedy)
    arm: NotRequired[dict[str, Any]]  # a strategy experiment's arm: {experiment, name}
    occurred_at: str
    request: NotRequired[dict[str, Any]]
    trace: NotRequired[dict[str, Any] | None]


class JourneyHook(Protocol):
    """What the decision path asks the journeys (``journeys.runner.Runner``) around a
    decision, in its transaction: before it, the journey offer steps waiting for the
    customer on the channel (entering them into journeys that listen to it); after it, what
    became of those steps' offers."""

    def applies(self, request: Request) -> bool | None:
        """Whether journeys may touch this request (None: not known without a read)."""

    def on_request(
        self, session: Session, customer: str, channel: str, at: dt.datetime
    ) -> tuple[JourneyStep, ...]: ...

    def after_decision(
        self,
        session: Session,
        customer: str,
        steps: Sequence[JourneyStep],
        decision_id: str,
        shown: Sequence[str],
        blocked: Iterable[str],
        at: dt.datetime,
    ) -> object: ...
