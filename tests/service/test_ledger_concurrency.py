"""Writers contending on the real HTTP server, on both databases: the service queues them
or answers 503 with Retry-After at once, never 500, never stalls an unrelated request, and
every event it acknowledged can be read back."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from .server import Server

WRITERS = 60


def _all_at_once(count: int, send: Any) -> list[httpx.Response]:
    """``send(client, i)`` from ``count`` threads, released together."""
    barrier = threading.Barrier(count)

    def one(i: int) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            response: httpx.Response = send(client, i)
            return response

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def _check(responses: list[httpx.Response]) -> None:
    for r in responses:
        assert r.status_code in (200, 201, 503), (r.status_code, r.text)
        if r.status_code == 503:
            assert r.headers["retry-after"] == "1"


def test_concurrent_event_posts_are_queued_and_every_acknowledged_one_is_stored(
    server: Server,
) -> None:
    auth = {"Authorization": f"Bearer {server.keys['client']}"}

    def post(client: httpx.Client, i: int) -> httpx.Response:
        event = {"type": "convert", "customer_id": f"crowd-{i % 7}", "value": float(i),
                 "idempotency_key": f"crowd-{i}"}  # fmt: skip
        return client.post(f"{server.url}/v1/events", json=event, headers=auth)

    responses = _all_at_once(WRITERS, post)
    _check(responses)
    assert [r.status_code for r in responses].count(201) == WRITERS  # queued, none refused
    with server.client("client") as client:
        stored = {e["event_id"] for c in range(7)
                  for e in client.get(f"/v1/customers/crowd-{c}/history").json()["history"]}  # fmt: skip
    assert {r.json()["id"] for r in responses if r.status_code == 201} <= stored


def test_concurrent_posts_of_one_key_store_one_event_and_never_stall_health_checks(
    server: Server,
) -> None:
    auth = {"Authorization": f"Bearer {server.keys['client']}"}
    event = {"type": "convert", "customer_id": "one-key", "value": 3.0}
    health: list[float] = []
    done = threading.Event()

    def watch() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            while not done.is_set():
                start = time.monotonic()
                assert client.get("/healthz").status_code == 200
                health.append(time.monotonic() - start)
                time.sleep(0.02)

    def post(client: httpx.Client, i: int) -> httpx.Response:
        headers = {**auth, "Idempotency-Key": "one-key-for-all"}
        return client.post(f"{server.url}/v1/events", json=event, headers=headers)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        responses = _all_at_once(WRITERS, post)
    finally:
        done.set()
        watcher.join()
    _check(responses)
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 1, statuses
    assert {r.json()["id"] for r in responses if r.status_code in (200, 201)} == {
        next(r.json()["id"] for r in responses if r.status_code == 201)
    }
    assert health
    assert max(health) < 2.0, max(health)


def test_concurrent_decisions_with_one_key_make_one_decision(server: Server) -> None:
    auth = {"Authorization": f"Bearer {server.keys['client']}"}
    body = {"customer": {"id": "one-decision"}, "channel": "email"}

    def post(client: httpx.Client, i: int) -> httpx.Response:
        headers = {**auth, "Idempotency-Key": "one-decision-key"}
        return client.post(f"{server.url}/v1/decisions", json=body, headers=headers)

    responses = _all_at_once(WRITERS, post)
    _check(responses)
    ids = {r.json()["id"] for r in responses if r.status_code == 200}
    assert len(ids) == 1


def test_concurrent_decisions_with_one_key_and_two_bodies_store_one_decision(
    server: Server,
) -> None:
    """Half the writers send one request, half another, all under one key: one decision is
    stored; every writer of its request gets it back, every writer of the other is refused."""
    auth = {"Authorization": f"Bearer {server.keys['client']}", "Idempotency-Key": "one-for-two"}
    bodies = [{"customer": {"id": "two-bodies"}, "channel": "email", "session_id": f"s-{n}"}
              for n in range(2)]  # fmt: skip

    def post(client: httpx.Client, i: int) -> httpx.Response:
        return client.post(f"{server.url}/v1/decisions", json=bodies[i % 2], headers=auth)

    responses = _all_at_once(WRITERS, post)
    for r in responses:
        assert r.status_code in (200, 409, 503), (r.status_code, r.text)
    answered = [(i % 2, r) for i, r in enumerate(responses) if r.status_code == 200]
    assert answered
    assert len({r.json()["id"] for _, r in answered}) == 1
    winner = answered[0][0]
    assert {n for n, _ in answered} == {winner}
    refused = [i % 2 for i, r in enumerate(responses) if r.status_code == 409]
    assert set(refused) == {1 - winner}
    assert all(r.json()["errors"][0]["field"] == "Idempotency-Key"
               for r in responses if r.status_code == 409)  # fmt: skip
    with server.client("client") as client:
        history = client.get("/v1/customers/two-bodies/history").json()["history"]
    assert [h["decision_id"] for h in history if h["kind"] == "decision"] == [
        answered[0][1].json()["id"]
    ]
