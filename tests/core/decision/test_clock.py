"""Which moment the contact policies count from: the decision's own time by default (free in
dry-runs and backtests), the server's time when the live path passes ``contacts_at``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from nextoffer.core.decision import Snapshot, decide

from .conftest import AT, premium_36, request, state


def _contacts(minutes_ago: list[int]) -> list[dict[str, Any]]:
    return [{"offer": "savings-account", "channel": "email", "outcome": "shown",
             "at": (AT - dt.timedelta(minutes=m)).isoformat()} for m in minutes_ago]  # fmt: skip


def test_the_caps_count_from_contacts_at_not_from_an_earlier_request_time(
    bank: Snapshot,
) -> None:
    # four contacts in the last two minutes; the request claims to be from 2001
    recent = state(history=_contacts([1, 1, 2, 2]))
    old = request(customer=premium_36(), channel="email", at="2001-01-01T12:00:00Z")
    live = decide(bank, old, recent, contacts_at=AT)
    assert live.offers() == []
    assert live.trace.reasons("credit-card") == [
        "policies: total_cap: 4 of 4 contacts this month (scope: global)"
    ]
    # a dry-run or backtest at 2001 sees the customer as they were then: no contacts yet
    assert decide(bank, old, recent).offers()


def test_a_request_time_a_few_minutes_back_does_not_hide_the_latest_contacts(
    bank: Snapshot,
) -> None:
    recent = state(history=_contacts([1, 1, 2, 2]))
    five_back = request(customer=premium_36(), channel="email",
                        at=(AT - dt.timedelta(minutes=5)).isoformat())  # fmt: skip
    assert decide(bank, five_back, recent, contacts_at=AT).offers() == []
