"""Keys across ``serve --workers 2``, over real HTTP: a revoked key is refused by every worker
within a second, refused keys from one address are slowed down (per worker) while other
addresses go on, and each worker writes its keys' last use in the background (here: when it
stops)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nextoffer.service.db import Database
from nextoffer.service.keys.service import create_key, list_keys, revoke_key

from ..clock import NOW
from .server import Server

BURST = 3


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Server]:
    env = {"NEXTOFFER_ATTACH_REFRESH_SECONDS": "0", "NEXTOFFER_AUTH_FAILURE_BURST": str(BURST),
           "NEXTOFFER_AUTH_FAILURE_REFILL_SECONDS": "600"}  # fmt: skip
    srv = Server(f"sqlite:///{tmp_path / 'keys.db'}", workers=2, env=env).start()
    yield srv
    srv.stop()


def _from(srv: Server, address: str, key: str) -> httpx.Response:
    """``GET /v1/proposals`` with ``key`` on a new connection from ``address`` (the kernel
    hands new connections to either worker)."""
    transport = httpx.HTTPTransport(local_address=address)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=srv.url, transport=transport, headers=headers, timeout=30) as c:
        return c.get("/v1/proposals")


def _both_workers(srv: Server, key: str) -> set[str]:
    pids = set()
    for _ in range(60):
        r = _from(srv, "127.0.0.1", key)
        assert r.status_code == 200, r.text
        pids.add(r.headers["x-worker"])
        if len(pids) == 2:
            break
    return pids


def test_a_revoked_key_is_refused_by_every_worker_within_a_second(two_workers: Server) -> None:
    db = Database(two_workers.database_url)
    try:
        with db.transaction() as s:
            key = create_key(s, "approver", "leaves today", now=NOW)
        assert len(_both_workers(two_workers, key)) == 2  # both remember it now
        with db.transaction() as s:
            revoke_key(s, key.split("_")[1], NOW)
        revoked = time.monotonic()
    finally:
        db.dispose()
    time.sleep(1.0)
    # each from an address of its own: a revoked key counts as a refused one (the throttle)
    answers = [_from(two_workers, f"127.0.1.{i}", key) for i in range(1, 31)]
    assert time.monotonic() - revoked < 10
    assert {r.status_code for r in answers} == {401}
    assert all("revoked" in r.json()["detail"] for r in answers)
    assert len({r.headers["x-worker"] for r in answers}) == 2, "both workers answered"


def test_refused_keys_from_one_address_are_slowed_down_per_worker(two_workers: Server) -> None:
    key = two_workers.keys["approver"]
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    codes: list[int] = []
    while len(codes) < 100 and (codes.count(401) < 2 * BURST or codes[-10:] != [429] * 10):
        codes.append(_from(two_workers, "127.0.0.2", wrong).status_code)
    # each worker lets BURST refused keys through (401), then answers 429 at once, so the
    # address has 2 x BURST tries in all, wherever its connections land
    assert set(codes) == {401, 429}
    assert codes.count(401) == 2 * BURST, codes
    assert codes[-10:] == [429] * 10
    refused = _from(two_workers, "127.0.0.2", key)  # the right key too, while it waits
    assert refused.status_code == 429
    assert 590 <= int(refused.headers["retry-after"]) <= 600
    # another address is not affected, on either worker
    assert len(_both_workers(two_workers, key)) == 2
    assert _from(two_workers, "127.0.0.3", wrong).status_code == 401


def test_each_worker_writes_its_keys_last_use(tmp_path: Path) -> None:
    srv = Server(f"sqlite:///{tmp_path / 'uses.db'}", workers=2).start()
    try:
        key = srv.keys["admin"]
        _both_workers(srv, key)
        db = Database(srv.database_url)
        with db.read() as s:  # within the minute: not written yet, no write per request
            used = {k.id: k.last_used_at for k in list_keys(s, NOW)}
        assert used[key.split("_")[1]] is None
    finally:
        srv.stop()  # each worker writes what it noted as it stops
    with db.read() as s:
        found = {k.id: k for k in list_keys(s, NOW)}
    db.dispose()
    this = found[key.split("_")[1]]
    assert this.last_used_at is not None
    assert this.last_used_at >= this.created_at
    assert found[srv.keys["client"].split("_")[1]].last_used_at is None  # never used
