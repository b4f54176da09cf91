from __future__ import annotations

from typing import Any

import pytest

from nextoffer.core.request import Request
from nextoffer.core.rules import CustomerSchema, Environment, build_context

ISSUE_REQUEST: dict[str, Any] = {
    "customer": {
        "id": "c-1",
        "attributes": {"tier": "premium", "tenureMonths": 36, "hasCreditCard": False},
        "segments": ["VIP"],
    },
    "cart": {
        "items": [{"sku": "STEAK-01", "category": "main_course", "quantity": 2, "price": 1200.0}]
    },
    "channel": "in_app",
    "store": {"id": "S1", "timezone": "America/New_York"},
    "session_id": "s-1",
    "at": "2026-03-08T14:30:00Z",
}

SCHEMA = CustomerSchema(
    attributes={"tier": "string", "tenureMonths": "int", "hasCreditCard": "bool", "email": "string"}
)


@pytest.fixture
def env() -> Environment:
    return Environment(customer=SCHEMA)


def context(**changes: Any) -> dict[str, Any]:
    """The issue's example request as a context, with top-level fields replaced."""
    raw = {**ISSUE_REQUEST, **changes}
    return build_context(Request.model_validate(raw), SCHEMA)
