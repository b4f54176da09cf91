"""Events as the API takes them and gives them back; a customer's history as the API gives
it; a customer's state as the decision path reads it, and a decision as it writes it.

What the API takes are Pydantic models; what the service gives are typed dictionaries (and
a named tuple), built once in the order the API answers with.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, NamedTuple, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...core.decision import Seen
from ...core.request import Identifier, Moment
from ..customers.schemas import Customer, Profile
from .event_types import BUILTIN_TYPES, EVENT_TYPES
from .payloads import PayloadFields

__all__ = [
    "BUILTIN_TYPES",
    "BatchIngested",
    "CustomerContacts",
    "DecisionRow",
    "Event",
    "EventIn",
    "HistoryDecision",
    "HistoryEvent",
    "OneIngested",
    "OutcomeTypeIn",
    "StoredDecision",
]

Key = Annotated[str, Field(min_length=1, max_length=200)]


class EventIn(BaseModel):
    """One event. ``type`` is a built-in type or a registered custom outcome type.

    ``reported_at`` is the client's clock: kept, never used for ordering, windows or metrics
    (``occurred_at`` is the database server's). ``idempotency_key`` may instead come in the
    ``Idempotency-Key`` header (single events only).
    """

    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
    idempotency_key: Key | None = None
    customer_id: Identifier | None = None  # pseudonymous: a code, not a name or an e-mail
    session_id: Identifier | None = None
    decision_id: Identifier | None = None
    offer_id: Identifier | None = None
    channel: Identifier | None = None
    placement: Identifier | None = None
    value: Annotated[float, Field(allow_inf_nan=False)] | None = None
    reported_at: Moment | None = None
    payload: dict[str, Any] = Field(default_factory=dict)  # only its type's fields (payloads.py)

    @model_validator(mode="after")
    def _fields_for_type(self) -> EventIn:
        for name in EVENT_TYPES[self.type].needs if self.type in EVENT_TYPES else ():
            if getattr(self, name) is None:
                raise ValueError(f"a {self.type} event needs {name!r}")
        return self


class OutcomeTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
    classification: Literal["positive", "negative", "neutral"]
    payload: PayloadFields = Field(default_factory=dict)  # the fields its events may carry


class Event(TypedDict):
    """An event as stored, as the API shows it: the idempotency key as its client gave it,
    times in ISO 8601, and whether it is attributed (names a decision that showed its offer
    to its customer)."""

    id: str
    idempotency_key: str
    type: str
    customer_id: str | None
    session_id: str | None
    decision_id: str | None
    offer_id: str | None
    channel: str | None
    placement: str | None
    value: float | None
    payload: dict[str, Any]
    reported_at: str | None
    occurred_at: str
    attributed: bool


class OneIngested(Event):
    """A single event ingested: the event as stored, and whether it was a retry (stored
    before under its key, and not written again)."""

    duplicate: bool


class BatchIngested(TypedDict):
    """A batch ingested: how many events were written, how many were retries, and every
    event as stored, in the batch's order."""

    accepted: int
    duplicates: int
    events: list[Event]


class HistoryDecision(TypedDict):
    """A decision in a customer's history."""

    kind: Literal["decision"]
    decision_id: str
    channel: str
    session_id: str | None
    shown: list[str]
    control: bool
    occurred_at: str


class HistoryEvent(TypedDict):
    """An outcome event in a customer's history."""

    kind: Literal["event"]
    event_id: str
    type: str
    offer_id: str | None
    channel: str | None
    session_id: str | None
    decision_id: str | None
    value: float | None
    occurred_at: str
    reported_at: str | None


class CustomerContacts(NamedTuple):
    """One customer's state as the ledger gives it to the decision path: the stored customer
    (``id``, ``attributes``, ``holdings``, ``segments``; None when unknown) and their
    contacts since a time, oldest first, as the engine's ``Seen`` tuples."""

    customer: Customer | None
    contacts: list[Seen]

    def since(self, t: float) -> CustomerContacts:
        """The same state with only the contacts at or after ``t`` (POSIX seconds): a
        decision's own window, out of a batch read from the earliest."""
        return CustomerContacts(self.customer, [c for c in self.contacts if c.t >= t])


class DecisionRow(TypedDict):
    """A decision as the decision path writes it to the ledger: what was shown, the control
    flag and experiment, the request as given, the placements with the counterfactual, the
    rules that fired and the cascade (``decision``), the trace when sampled in, the
    customer's features (for uplift). A keyed decision has its key as stored
    (``client:key``) and its request's hash; a decision without a key, None for both."""

    id: str
    idempotency_key: str | None
    body_hash: str | None
    customer_id: str | None
    session_id: str | None
    channel: str
    snapshot_version: str
    control: bool
    experiment: str | None
    shown: list[str]
    request: dict[str, Any]
    decision: dict[str, Any]
    trace: dict[str, Any] | None
    features: Profile | None
    strategy_experiment: NotRequired[str | None]  # the strategy experiment's arm, if any
    arm: NotRequired[str | None]


class StoredDecision(DecisionRow):
    """A decision as the ledger stored it: with its place in the ledger (``seq``) and the
    database server's time (``occurred_at``)."""

    seq: int
    occurred_at: dt.datetime
