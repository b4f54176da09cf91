"""The PostgreSQL server drops every connection (a restart, a failover): the API answers 503
with Retry-After for a request caught on a dead connection, never 500, and recovers at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from nextoffer.testing.postgres import ThrowawayPostgres

from .server import Server, load_catalog

pytestmark = pytest.mark.postgres

BODY = {"customer": {"id": "restart-1"}, "channel": "email", "session_id": "restart"}


@pytest.fixture
def served(postgres: ThrowawayPostgres) -> Iterator[tuple[Server, str]]:
    url = postgres.new_database("restart")
    srv = Server(url).start()
    load_catalog(srv)
    yield srv, url
    srv.stop()


def test_lost_connections_are_a_503_then_the_service_recovers(
    served: tuple[Server, str],
) -> None:
    srv, url = served
    with srv.client("client") as client:
        for _ in range(5):  # the pool now holds open connections
            assert client.post("/v1/decisions", json=BODY).status_code == 200
        admin = sa.create_engine(url)
        with admin.connect() as conn:  # what a server restart does to every other session
            killed = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        admin.dispose()
        assert killed >= 1
        statuses = []
        for _ in range(5):
            r = client.post("/v1/decisions", json=BODY)
            statuses.append(r.status_code)
            if r.status_code == 503:
                assert r.headers["retry-after"] == "1"
                assert "retry" in r.json()["detail"]
        assert set(statuses) <= {200, 503}, statuses
        assert statuses[-1] == 200
        assert statuses.count(503) <= 1, "the pool dropped every dead connection at once"
