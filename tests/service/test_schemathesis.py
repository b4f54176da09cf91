"""Schemathesis against the OpenAPI schema of a running server: no input gives a server error."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from .server import Server


def test_no_input_gives_a_server_error(server: Server) -> None:
    """Every operation, up to 30 generated requests each (valid and invalid), with an admin
    key (which reaches every endpoint; the role checks have their own tests)."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    headers = {"Authorization": f"Bearer {server.keys['admin']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    failures: list[str] = []
    statuses: list[int] = []
    for operation in operations:

        @given(operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}"
                )

        run()
    assert failures == []
    assert len(statuses) >= 10 * len(operations)  # the run really sent requests
    assert {200, 201, 422} <= set(statuses)  # valid and invalid ones
