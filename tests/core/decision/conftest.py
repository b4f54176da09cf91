from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from nextoffer.core.decision import CustomerState, Snapshot, build_snapshot
from nextoffer.core.request import Request
from nextoffer.scenarios import bank_snapshot, checkout_snapshot

AT = dt.datetime(2026, 3, 8, 14, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def bank() -> Snapshot:
    return build_snapshot(bank_snapshot())


@pytest.fixture(scope="module")
def checkout() -> Snapshot:
    return build_snapshot(checkout_snapshot())


def request(**fields: Any) -> Request:
    return Request.model_validate({"at": "2026-03-08T14:30:00Z", **fields})


def premium_36(**extra: Any) -> dict[str, Any]:
    """The worked example: a 36-month premium customer without a credit card."""
    return {
        "id": "c-1",  # not in the 10% holdout (see test_holdout)
        "attributes": {"tier": "premium", "tenureMonths": 36, "hasCreditCard": False,
                       "balance": 12000.0},
        "holdings": ["checking"],
        **extra,
    }  # fmt: skip


def shown_history(
    n: int, *, days_ago: float = 1, offer: str = "savings-account"
) -> list[dict[str, Any]]:
    return [
        {"offer": offer, "channel": "email", "outcome": "shown",
         "at": (AT - dt.timedelta(days=days_ago, hours=i)).isoformat()}
        for i in range(n)
    ]  # fmt: skip


def state(**fields: Any) -> CustomerState:
    return CustomerState.model_validate(fields)
