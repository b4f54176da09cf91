"""Refused API keys from one client address are slowed down (429 with Retry-After) without
affecting other addresses; a key's expiry and revocation reach a worker's remembered keys."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from nextoffer.service.app import create_app
from nextoffer.service.config import Settings
from nextoffer.service.keys.service import create_key, revoke_key
from nextoffer.service.keys.throttle import AuthThrottle
from nextoffer.service.migrate import upgrade

from ..clock import NOW
from ..dashboard.signin import csrf_of


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_has_a_burst_of_failures_then_one_per_refill() -> None:
    ticks = Ticks()
    throttle = AuthThrottle(3, 6.0, clock=ticks)
    for _ in range(3):
        assert throttle.retry_after("127.0.0.2") == 0
        throttle.failed("127.0.0.2")
    assert throttle.retry_after("127.0.0.2") == 6
    ticks.now += 4.5
    assert throttle.retry_after("127.0.0.2") == 2  # 1.5 s left, in whole seconds
    ticks.now += 1.5
    assert throttle.retry_after("127.0.0.2") == 0  # one attempt back
    throttle.failed("127.0.0.2")
    assert throttle.retry_after("127.0.0.2") == 6
    assert throttle.retry_after("127.0.0.3") == 0  # another address: untouched
    ticks.now += 3 * 6.0
    for _ in range(3):  # refilled to the full burst, no more
        assert throttle.retry_after("127.0.0.2") == 0
        throttle.failed("127.0.0.2")
    assert throttle.retry_after("127.0.0.2") == 6


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    ticks = Ticks()
    throttle = AuthThrottle(2, 10.0, clock=ticks, max_addresses=100)
    throttle.failed("127.0.0.2")
    ticks.now += 20  # its bucket is full again: the first to be forgotten
    throttle.failed("127.0.0.3")
    throttle.failed("127.0.0.3")  # empty, but the oldest after 127.0.0.2
    for i in range(98):
        throttle.failed(f"127.1.0.{i}")
    assert len(throttle._left) == 100
    assert throttle.retry_after("127.0.0.3") == 10
    throttle.failed("127.1.1.0")  # one too many: the full bucket, then the oldest go
    assert len(throttle._left) == 90  # room for more, not a sweep per failure
    assert "127.0.0.2" not in throttle._left
    assert throttle.retry_after("127.0.0.3") == 0
    assert throttle.retry_after("127.1.1.0") == 0  # the newest stay: one failure of two
    throttle.failed("127.1.1.0")
    assert throttle.retry_after("127.1.1.0") == 10


def test_a_throttle_needs_an_attempt_and_a_refill() -> None:
    with pytest.raises(ValueError, match="at least one attempt"):
        AuthThrottle(0, 6.0)
    with pytest.raises(ValueError, match="auth_failure_burst"):
        Settings(auth_failure_burst=0)


@pytest.fixture
def app(database_url: str) -> Iterator[FastAPI]:
    settings = Settings(database_url=database_url, attach_refresh_seconds=0,
                        auth_failure_burst=3, auth_failure_refill_seconds=60.0)  # fmt: skip
    clock = [NOW]
    application = create_app(settings, clock=lambda: clock[0])
    application.state.test_clock = clock
    db = application.state.db
    upgrade(db)
    with db.transaction() as s:
        application.state.admin = create_key(s, "admin", "ops", now=NOW)
        application.state.short = create_key(s, "admin", "trial", now=NOW,
                                             expires_in=dt.timedelta(hours=1))  # fmt: skip
    yield application
    if application.state.pipeline is not None:
        asyncio.run(application.state.pipeline.close())
        asyncio.run(db.dispose_async())
    db.dispose()


def _get(app: FastAPI, calls: list[tuple[str, str]]) -> list[httpx.Response]:
    """``GET /v1/proposals`` with each (client address, key) in turn."""

    async def run() -> list[httpx.Response]:
        answers = []
        for address, key in calls:
            transport = httpx.ASGITransport(app=app, client=(address, 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                answers.append(
                    await client.get("/v1/proposals", headers={"Authorization": f"Bearer {key}"})
                )
        return answers

    return asyncio.run(run())


def test_refused_keys_from_one_address_are_slowed_down_and_others_are_not(app: FastAPI) -> None:
    admin = app.state.admin
    wrong = admin[:-1] + ("A" if admin[-1] != "A" else "B")
    answers = _get(app, [("127.0.0.2", wrong)] * 3 + [("127.0.0.2", wrong), ("127.0.0.2", admin),
                   ("127.0.0.3", admin), ("127.0.0.3", wrong), ("127.0.0.2", "")])  # fmt: skip
    assert [r.status_code for r in answers[:3]] == [401, 401, 401]
    # the burst is spent: the address is refused, even with the right key (no oracle)
    for r in answers[3:5]:
        assert r.status_code == 429, r.text
        assert r.headers["retry-after"] == "60"
        assert r.json()["detail"] == "too many refused API keys from this address; retry in 60 s"
    # another address: its key works, its wrong key is an ordinary 401
    assert [r.status_code for r in answers[5:7]] == [200, 401]
    assert answers[7].status_code == 429  # even without a key, while the address waits


def test_a_request_without_a_key_spends_no_attempt(app: FastAPI) -> None:
    answers = _get(app, [("127.0.0.4", "")] * 5 + [("127.0.0.4", app.state.admin)])
    assert [r.status_code for r in answers] == [401] * 5 + [200]


def test_an_expired_key_is_refused_at_once_even_when_remembered(app: FastAPI) -> None:
    short = app.state.short
    assert _get(app, [("127.0.0.5", short)])[0].status_code == 200  # now remembered
    app.state.test_clock[0] = NOW + dt.timedelta(hours=1)
    refused = _get(app, [("127.0.0.5", short)])[0]
    assert refused.status_code == 401
    assert "expired at 2026-03-10T20:30:00+00:00" in refused.json()["detail"]


def test_a_revoked_key_is_refused_within_a_second_even_when_remembered(app: FastAPI) -> None:
    admin = app.state.admin
    assert _get(app, [("127.0.0.6", admin)])[0].status_code == 200  # now remembered
    with app.state.db.transaction() as s:
        revoke_key(s, admin.split("_")[1], NOW)
    revoked = time.monotonic()
    time.sleep(1.0)
    refused = _get(app, [("127.0.0.6", admin)])[0]
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    assert time.monotonic() - revoked < 5


def test_each_key_use_is_noted_for_the_background_write(app: FastAPI) -> None:
    admin = app.state.admin
    app.state.test_clock[0] = NOW + dt.timedelta(minutes=5)
    _get(app, [("127.0.0.7", admin)] * 3)
    assert app.state.key_uses.take() == {admin.split("_")[1]: NOW + dt.timedelta(minutes=5)}


def test_the_dashboards_sign_in_counts_refused_keys_against_the_address(app: FastAPI) -> None:
    admin = app.state.admin
    wrong = admin[:-1] + ("A" if admin[-1] != "A" else "B")

    async def sign_in(address: str, keys: list[str]) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=(address, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            form = await client.get("/dashboard/sign-in")
            token = csrf_of(form.text)
            return [await client.post("/dashboard/sign-in", data={"key": k, "csrf_token": token})
                    for k in keys]  # fmt: skip

    answers = asyncio.run(sign_in("127.0.0.8", [wrong] * 4 + [admin]))
    assert [r.status_code for r in answers] == [401, 401, 401, 429, 429]
    assert answers[3].headers["retry-after"] == "60"
    assert "too many refused API keys from this address" in answers[3].text
    elsewhere = asyncio.run(sign_in("127.0.0.9", [admin]))
    assert elsewhere[0].status_code == 303  # signed in: another address is not affected
