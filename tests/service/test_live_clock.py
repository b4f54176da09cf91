"""On the live path the server's clock counts, not the client's: a request's ``at`` may move
the decision's local time only within ``clock_tolerance_seconds``, beyond it the request is
refused (422 naming ``at``), and the caps and cooldowns count from the server's time. On a
real server (SQLite and PostgreSQL), and in process with the app's clock from a fixture."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from nextoffer.scenarios.demo import demo_snapshot
from nextoffer.service.app import create_app
from nextoffer.service.config import Settings
from nextoffer.service.db import Database
from nextoffer.service.keys.service import create_key
from nextoffer.service.migrate import upgrade
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish

from .server import Server

OLD = "2001-01-01T12:00:00Z"
PREMIUM_36 = {"attributes": {"tier": "premium", "tenureMonths": 36, "hasCreditCard": False,
                             "balance": 12000.0}, "holdings": ["checking"]}  # fmt: skip


def _body(customer_id: str, at: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"customer": {"id": customer_id, **PREMIUM_36}, "channel": "email"}
    if at is not None:
        body["at"] = at
    return body


def _shown(decisions: list[dict[str, Any]]) -> list[str]:
    return [s["offer"] for d in decisions if not d["control"]
            for p in d["placements"] for s in p["offers"]]  # fmt: skip


def _refused_naming_at(r: httpx.Response) -> bool:
    return r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["at"]


def test_a_live_decision_with_a_client_clock_from_2001_is_refused_naming_at(
    server: Server,
) -> None:
    with server.client("client") as client:
        r = client.post("/v1/decisions", json=_body("clock-1", OLD))
    assert _refused_naming_at(r), r.text
    assert "clock_tolerance_seconds" in r.json()["detail"]


def test_repeated_live_decisions_with_an_old_at_never_exceed_the_cap_or_the_cooldown(
    server: Server,
) -> None:
    """The issue's reproduction: 14 decisions within minutes, against a total cap of 4 a
    month and the card's 72-hour cooldown; the old ``at`` alternates with one a few minutes
    back from the server's time (within the tolerance, so answered)."""
    with server.client("client") as client:
        first = client.post("/v1/decisions", json=_body("clock-2"))
        assert first.status_code == 200, first.text
        assert not first.json()["control"]  # this id is outside the 10% holdout
        server_time = dt.datetime.fromisoformat(first.json()["occurred_at"])
        answered = [first.json()]
        for i in range(13):
            at = OLD if i % 2 else (server_time - dt.timedelta(minutes=4)).isoformat()
            r = client.post("/v1/decisions", json=_body("clock-2", at))
            if at == OLD:
                assert _refused_naming_at(r), r.text
            else:
                assert r.status_code == 200, r.text
                answered.append(r.json())
    shown = _shown(answered)
    assert len(shown) == 4, shown  # the monthly cap: the first two e-mails, then nothing
    assert shown.count("credit-card") == 1  # the cooldown


# -- in process: the app's clock from a fixture -------------------------------------------


def _database_now(db: Database) -> dt.datetime:
    """The database's clock, which stamps the ledger's ``occurred_at``."""
    with db.read() as session:
        value = session.execute(sa.text("SELECT CURRENT_TIMESTAMP")).scalar_one()
    if isinstance(value, str):  # SQLite
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


@pytest.fixture
def app_at(database_url: str) -> Iterator[tuple[FastAPI, dt.datetime]]:
    """The app with a fixed clock two minutes ahead of the database's (every contact the
    test makes is then before it, as the ledger stamps them), and a tolerance of 300 s."""
    probe = Database(database_url)
    upgrade(probe)
    now = _database_now(probe) + dt.timedelta(minutes=2)
    probe.dispose()
    settings = Settings(database_url=database_url, attach_refresh_seconds=0,
                        clock_tolerance_seconds=300)  # fmt: skip
    application = create_app(settings, clock=lambda: now)
    db = application.state.db
    with db.transaction() as session:
        load_spec(session, demo_snapshot())
        publish(session, "demo-1")
        application.state.key = create_key(session, "client", "clock test")
    yield application, now
    if application.state.pipeline is not None:
        asyncio.run(application.state.pipeline.close())
        asyncio.run(db.dispose_async())
    db.dispose()


def _decide(app: FastAPI, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    async def post() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {app.state.key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return [await client.post("/v1/decisions", json=b, headers=headers) for b in bodies]

    return asyncio.run(post())


def test_a_client_at_within_the_tolerance_is_taken_and_beyond_it_refused(
    app_at: tuple[FastAPI, dt.datetime],
) -> None:
    app, now = app_at
    inside = [now - dt.timedelta(seconds=299), now + dt.timedelta(seconds=299)]
    outside = [now - dt.timedelta(seconds=301), now + dt.timedelta(seconds=301)]
    extreme = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00"]
    answers = _decide(app, [_body("clock-3", t.isoformat()) for t in inside + outside]
                      + [_body("clock-3", t) for t in extreme])  # fmt: skip
    assert [r.status_code for r in answers[:2]] == [200, 200], answers[1].text
    assert all(_refused_naming_at(r) for r in answers[2:]), answers[2].text
    assert "5 minutes behind the server's clock" in answers[2].json()["detail"]


def test_the_caps_count_from_the_servers_clock_whatever_time_the_client_sends(
    app_at: tuple[FastAPI, dt.datetime],
) -> None:
    app, now = app_at
    back = (now - dt.timedelta(seconds=290)).isoformat()  # before every contact made here
    answers = _decide(app, [_body("clock-1", back) for _ in range(14)])
    assert all(r.status_code == 200 for r in answers), answers[0].text
    shown = _shown([r.json() for r in answers])
    assert len(shown) == 4, shown
    assert shown.count("credit-card") == 1
    last = answers[-1].json()
    assert last["placements"][0]["offers"] == []
