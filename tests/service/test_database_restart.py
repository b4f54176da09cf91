"""The PostgreSQL server drops every connection (a restart, a failover): the API answers 503
with Retry-After for a request caught on a dead connection, never 500, and recovers at once."""

from __future__ import annotations

import threading
import time
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


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[ThrowawayPostgres]:
    """A server of this module's own, to restart (others' tests keep theirs), durable: an
    acknowledged commit survives ``-m immediate`` (a crash, to the server)."""
    with ThrowawayPostgres(durable=True) as server:
        yield server


@pytest.mark.parametrize("mode", ["immediate", "fast"])
def test_a_restart_under_load_is_503_with_retry_after_never_500(
    own_postgres: ThrowawayPostgres, mode: str
) -> None:
    """Decisions and events in flight while ``pg_ctl restart -m MODE`` runs: each is answered
    (200/201) or told to retry (503, Retry-After), also while the server refuses connections
    or is "starting up"; every event acknowledged is stored."""
    srv = Server(own_postgres.new_database("restart")).start()
    load_catalog(srv)
    stop = threading.Event()
    answers: list[tuple[str, int, str | None]] = []
    acknowledged: list[str] = []

    def load(worker: int) -> None:
        with srv.client("client") as client:
            n = 0
            while not stop.is_set():
                n += 1
                d = client.post("/v1/decisions", json={**BODY, "session_id": f"r-{worker}-{n}"})
                event = {"type": "convert", "customer_id": "restart-1", "value": 1.0,
                         "idempotency_key": f"{mode}-{worker}-{n}"}  # fmt: skip
                e = client.post("/v1/events", json=event)
                for kind, r in (("decision", d), ("event", e)):
                    answers.append((kind, r.status_code, r.headers.get("retry-after")))
                if e.status_code == 201:
                    acknowledged.append(e.json()["id"])

    threads = [threading.Thread(target=load, args=(i,)) for i in range(6)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.0)
        own_postgres.restart(mode)
        time.sleep(3.0)  # and on, after the restart
    finally:
        stop.set()
        for t in threads:
            t.join()
    try:
        statuses = {s for _, s, _ in answers}
        assert statuses <= {200, 201, 503}, sorted(
            {(k, s) for k, s, _ in answers if s not in (200, 201, 503)}
        )
        assert all(after == "1" for _, s, after in answers if s == 503)
        assert [s for _, s, _ in answers[-12:]].count(503) == 0, "recovered after the restart"
        with srv.client("client") as client:
            history = client.get("/v1/customers/restart-1/history", params={"days": 1}).json()
        stored = {h["event_id"] for h in history["history"] if h["kind"] == "event"}
        assert set(acknowledged) <= stored
    finally:
        srv.stop()
