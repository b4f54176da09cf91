"""The request: who is asking, with what cart, where and when.

The same shape is taken by ``nextoffer rules eval --context``, by the decision engine and by
``POST /v1/decisions``::

    {"customer": {"id": "c-1", "attributes": {"tier": "premium"}, "segments": ["VIP"]},
     "cart": {"items": [{"sku": "STEAK-01", "category": "main_course",
                         "quantity": 2, "price": 1200.0}]},
     "channel": "in_app", "store": {"id": "S1", "timezone": "America/New_York"},
     "session_id": "s-1", "at": "2026-03-08T14:30:00Z"}

A decision request also names the ``placements`` to fill (``["email-hero"]`` or
``[{"key": "email-hero", "slots": 2}]``; by default every placement of the channel) and may
``limit`` the number of offers in the whole answer.

A request is written to the ledger with its decision, so nothing in it may carry personal
data: ids (customer, session, store), segments, holdings and cart skus and categories are
``Identifier``s (letters, digits and ``_ . : -``, no spaces and no ``@``: a code, not a name
or an e-mail address), a cart item has exactly the fields below, and the customer's
attributes are checked against the declared customer schema (``CustomerSchema.check``),
which refuses undeclared and personal attributes.
"""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "IDENTIFIER",
    "Cart",
    "CartItem",
    "CustomerRef",
    "Identifier",
    "PlacementRequest",
    "Request",
    "Store",
]

Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Key = Annotated[str, Field(min_length=1, max_length=200)]
IDENTIFIER = r"^[A-Za-z0-9_.:\-]+$"
Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=IDENTIFIER)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CartItem(_Model):
    sku: Identifier
    category: Identifier
    quantity: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    price: Money


class Cart(_Model):
    items: Annotated[tuple[CartItem, ...], Field(max_length=10_000)] = ()


class CustomerRef(_Model):
    id: Identifier
    attributes: dict[str, Any] = Field(default_factory=dict)
    segments: Annotated[tuple[Identifier, ...], Field(max_length=1_000)] = ()
    holdings: Annotated[tuple[Identifier, ...], Field(max_length=1_000)] = ()


class Store(_Model):
    id: Identifier
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


class PlacementRequest(_Model):
    """A placement to fill, optionally with fewer slots than it has."""

    key: Key
    slots: Annotated[int, Field(ge=1, le=100)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_key(cls, value: Any) -> Any:
        return {"key": value} if isinstance(value, str) else value


class Request(_Model):
    """A request for offers (or a context for evaluating a condition)."""

    customer: CustomerRef | None = None
    cart: Cart | None = None
    channel: Key | None = None
    placement: Key | None = None
    store: Store | None = None
    session_id: Identifier | None = None
    at: AwareDatetime | None = None
    placements: Annotated[tuple[PlacementRequest, ...], Field(max_length=50)] = ()
    limit: Annotated[int, Field(ge=1, le=1000)] | None = None

    @field_validator("placements")
    @classmethod
    def _distinct_placements(
        cls, value: tuple[PlacementRequest, ...]
    ) -> tuple[PlacementRequest, ...]:
        keys = [p.key for p in value]
        for key in keys:
            if keys.count(key) > 1:
                raise ValueError(f"placement {key!r} is requested twice")
        return value
