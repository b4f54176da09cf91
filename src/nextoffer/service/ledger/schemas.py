"""Events as the API takes them; a customer's state as the decision path reads it, and a
decision as it writes it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, NamedTuple, TypedDict

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...core.decision import Seen
from ...core.request import Identifier, Moment
from .event_types import BUILTIN_TYPES, EVENT_TYPES
from .payloads import PayloadFields

__all__ = [
    "BUILTIN_TYPES",
    "CustomerContacts",
    "DecisionRow",
    "EventIn",
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


class CustomerContacts(NamedTuple):
    """One customer's state as the ledger gives it to the decision path: the stored customer
    (``id``, ``attributes``, ``holdings``, ``segments``; None when unknown) and their
    contacts since a time, oldest first, as the engine's ``Seen`` tuples."""

    customer: dict[str, Any] | None
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
    features: dict[str, Any] | None


class StoredDecision(DecisionRow):
    """A decision as the ledger stored it: with its place in the ledger (``seq``) and the
    database server's time (``occurred_at``)."""

    seq: int
    occurred_at: dt.datetime
