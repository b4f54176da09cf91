"""The built-in event types, declared once: what each event must carry, what its payload
may hold, and how contact policies count it.

A new built-in type is one entry here. Types an operator adds at run time (custom outcome
types, ``POST /v1/outcome-types``) are rows in the database, not entries: they are
outcomes (positive, negative or neutral) with their own declared payload fields.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

__all__ = ["BUILTIN_TYPES", "EVENT_TYPES", "EventType"]


class EventType(NamedTuple):
    """``needs``: the fields an event of this type must have; ``payload``: the payload fields
    it may carry (``payloads.py`` checks them); ``outcome``: how a customer's contacts count
    it (``accepted``, ``declined``; None: not an outcome the contact policies count)."""

    needs: tuple[str, ...] = ()
    payload: dict[str, str] = {}  # noqa: RUF012 (a NamedTuple's default, never mutated)
    outcome: Literal["accepted", "declined"] | None = None


EVENT_TYPES: dict[str, EventType] = {
    "decision": EventType(),
    "impression": EventType(needs=("offer_id",)),
    "click": EventType(needs=("offer_id",)),
    "accept": EventType(needs=("offer_id",), outcome="accepted"),
    "decline": EventType(needs=("offer_id",), outcome="declined"),
    "convert": EventType(needs=("value",), payload={"items": "list[identifier]"}),
}
BUILTIN_TYPES = tuple(EVENT_TYPES)
