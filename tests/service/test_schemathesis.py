"""Schemathesis against the OpenAPI schema of a running server: no input gives a server error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from nextoffer.testing.postgres import ThrowawayPostgres

from .server import Server, load_catalog


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    else:
        pg: ThrowawayPostgres = request.getfixturevalue("postgres")
        url = pg.new_database("fuzz")
    srv = Server(url).start()
    load_catalog(srv)
    yield srv
    srv.stop()


def test_no_input_gives_a_server_error(running: Server) -> None:
    """Every operation, up to 30 generated requests each (valid and invalid), with an admin
    key (which reaches every endpoint; the role checks have their own tests)."""
    schema = schemathesis.openapi.from_url(f"{running.url}/openapi.json")
    headers = {"Authorization": f"Bearer {running.keys['admin']}"}
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
