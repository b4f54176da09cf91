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

import datetime as dt
from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

__all__ = ["IDENTIFIER", "MAX_CART_ITEMS", "Cart", "CartItem", "CustomerRef", "Identifier",
           "Moment", "PlacementRequest", "Request", "Store", "known_zone"]  # fmt: skip

# times outside these bounds cannot be shifted by a day or a window, or shown in every zone,
# without leaving the years datetime can hold (0001-9999); and none is a real request's
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)


def _in_range(value: dt.datetime) -> dt.datetime:
    try:
        inside = EARLIEST <= value < LATEST
    except OverflowError:  # a time near year 1 or 9999 with an offset
        inside = False
    if not inside:
        raise ValueError("must be from 1900-01-01 to before 3000-01-01 (UTC)")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_in_range)]
"""A time with a time zone offset, in a range every conversion and window can hold."""


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def known_zone(value: str) -> str:
    """``value`` if it names an IANA time zone; otherwise ValueError. Membership in the time
    zone database's list, not ``ZoneInfo(value)``: that raises whatever opening the name as a
    file raises (IsADirectoryError for ``America``, OSError for a long name)."""
    if value not in _zones():
        shown = value if len(value) <= 64 else value[:64] + "..."
        raise ValueError(f"unknown IANA time zone {shown!r}")
    return value


MAX_CART_ITEMS = 500
"""The most lines a cart may hold: a longer ``cart.items`` is refused (422 naming it), and
the rule language bounds the work of a condition by it (``Limits.max_cart_items``)."""

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
    items: Annotated[tuple[CartItem, ...], Field(max_length=MAX_CART_ITEMS)] = ()

    @field_validator("items", mode="before")
    @classmethod
    def _at_most(cls, value: Any) -> Any:
        # before the items are validated, so that a huge cart costs nothing
        if isinstance(value, list | tuple) and len(value) > MAX_CART_ITEMS:
            raise ValueError(f"a cart holds at most {MAX_CART_ITEMS} items, not {len(value)}")
        return value


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
        return known_zone(value)


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
    at: Moment | None = None
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
