"""From a request to the flat context that compiled conditions read.

The context is a plain ``dict`` keyed by full name (``"customer.tier"``, ``"cart.total"``,
``"local_time.hour"``); a name that is absent (or null) is *missing*. Lists become
frozensets, cart items become small dicts, and the local time is computed once per request
from ``at`` in the store's IANA time zone (so daylight-saving changes are handled by the
time-zone database, not by rules).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import NextofferError
from ..request import Request
from .types import CustomerSchema, infer_attribute_type

__all__ = [
    "WEEKDAYS",
    "Context",
    "ContextError",
    "build_context",
    "coerce_attribute",
    "offer_context",
]

Context = dict[str, Any]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ContextError(NextofferError):
    """A request value does not fit the declared schema; ``field`` names it. Raised when the
    request's context is built and when an attribute is coerced to its declared type."""


def coerce_attribute(field: str, kind: str, value: Any) -> Any:
    """``value`` as the declared attribute type ``kind``, or ``ContextError`` naming ``field``."""
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "date":
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise ContextError(field, f"expected a date (YYYY-MM-DD), got {value!r}") from None
    if (
        kind == "list[string]"
        and isinstance(value, list | tuple | frozenset | set)
        and all(isinstance(v, str) for v in value)
    ):
        return frozenset(value)
    raise ContextError(field, f"expected {kind}, got {type(value).__name__} {value!r}")


def build_context(
    request: Request,
    schema: CustomerSchema | None = None,
    *,
    now: dt.datetime | None = None,
) -> Context:
    """The flat evaluation context of ``request``.

    ``schema`` types the customer's attributes (values are checked and coerced: a date
    attribute may be sent as ``"2026-03-08"``); without one, types are taken from the values.
    ``now`` is used when the request has no ``at``; with neither, ``local_time.*`` is missing.
    """
    ctx: Context = {}
    customer = request.customer
    if customer is not None:
        ctx["customer.id"] = customer.id
        ctx["customer.segments"] = frozenset(customer.segments)
        ctx["customer.holdings"] = frozenset(customer.holdings)
        declared = schema.attributes if schema is not None else None
        for name, value in customer.attributes.items():
            if value is None:
                continue
            kind = declared.get(name) if declared is not None else infer_attribute_type(value)
            if kind is None:
                continue
            ctx[f"customer.{name}"] = coerce_attribute(f"customer.attributes.{name}", kind, value)
    cart = request.cart
    if cart is not None:
        rows: list[dict[str, Any]] = []
        sku_set: set[str] = set()
        category_set: set[str] = set()
        total, count = 0.0, 0
        for i in cart.items:  # one pass over the items
            rows.append(
                {"sku": i.sku, "category": i.category, "quantity": i.quantity, "price": i.price}
            )
            sku_set.add(i.sku)
            category_set.add(i.category)
            total += i.price * i.quantity
            count += i.quantity
        skus, categories = frozenset(sku_set), frozenset(category_set)
        ctx["cart.items"] = tuple(rows)
        ctx["cart.total"] = total
        ctx["cart.count"] = count
        ctx["cart.skus"] = skus
        ctx["cart.categories"] = categories
        ctx["cart.distinct_skus"] = len(skus)
        ctx["cart.distinct_categories"] = len(categories)
    if request.channel is not None:
        ctx["channel"] = request.channel
    if request.placement is not None:
        ctx["placement"] = request.placement
    if request.session_id is not None:
        ctx["session_id"] = request.session_id
    zone = "UTC"
    if request.store is not None:
        ctx["store.id"] = request.store.id
        ctx["store.timezone"] = zone = request.store.timezone
    moment = request.at if request.at is not None else now
    if moment is not None:
        if moment.tzinfo is None:
            raise ContextError("at", "needs a time zone offset, such as 2026-03-08T14:30:00Z")
        local = moment.astimezone(ZoneInfo(zone))
        ctx["local_time.hour"] = local.hour
        ctx["local_time.minute"] = local.minute
        ctx["local_time.weekday"] = WEEKDAYS[local.weekday()]
        ctx["local_time.date"] = local.date()
    return ctx


def offer_context(attributes: Mapping[str, Any]) -> Context:
    """The ``offer.*`` part of a context, from an offer's attributes (lists become frozensets)."""
    out: Context = {}
    for name, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, list | tuple | set):
            value = frozenset(value)
        out[f"offer.{name}"] = value
    return out
