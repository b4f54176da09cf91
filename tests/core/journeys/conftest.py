"""Journeys under test: the bank's mortgage journey and small definitions built per test."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from nextoffer.core.decision import build_snapshot
from nextoffer.core.journeys import Journey, compile_journey
from nextoffer.core.rules import CustomerSchema
from nextoffer.scenarios import bank_snapshot, mortgage_journey

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # a Monday morning; never the wall clock
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)

BANK = build_snapshot(bank_snapshot())
SCHEMA: CustomerSchema = BANK.spec.customer_schema
OFFERS = list(BANK.offers)  # with the journey's closed mortgage-lead and mortgage-appointment
CHANNELS = {c.id: [p.id for p in c.placements] for c in BANK.channels.values()}

ELIGIBLE: dict[str, Any] = {
    "customer.id": "c-1",
    "customer.tier": "premium",
    "customer.tenureMonths": 36,
    "customer.hasCreditCard": False,
    "customer.balance": 20000.0,
    "customer.holdings": frozenset({"checking"}),
    "customer.segments": frozenset(),
}


def at(days: float = 0, hours: float = 0) -> dt.datetime:
    """T0 plus a number of days and hours."""
    return T0 + dt.timedelta(days=days, hours=hours)


def mortgage(**changes: Any) -> Journey:
    """The mortgage journey, compiled against the bank's catalog, with fields replaced."""
    data = {**mortgage_journey(), **changes}
    return compile_journey(data, version=1, customer_schema=SCHEMA, offers=OFFERS,
                           channels=CHANNELS)  # fmt: skip


def small(steps: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    """A minimal definition with ``steps`` (the first is the start), fields replaced."""
    data: dict[str, Any] = {
        "id": "j",
        "entry": {"condition": "true", "channels": ["email"]},
        "start": steps[0]["id"],
        "steps": copy.deepcopy(steps),
        "max_duration": "30d",
    }
    data.update(changes)
    return data


def compiled(steps: list[dict[str, Any]], **changes: Any) -> Journey:
    return compile_journey(small(steps, **changes), customer_schema=SCHEMA)


LEAD = {"id": "lead", "type": "offer", "channel": "email", "offers": ["mortgage"], "next": "wait"}
WAIT = {"id": "wait", "type": "wait", "next": "done", "on_timeout": "gone",
        "until": {"events": ["click", "accept"], "step": "lead", "timeout": "7d"}}  # fmt: skip
DONE = {"id": "done", "type": "exit", "reason": "responded"}
GONE = {"id": "gone", "type": "exit", "reason": "no_response"}


@pytest.fixture(scope="module")
def journey() -> Journey:
    return mortgage()
