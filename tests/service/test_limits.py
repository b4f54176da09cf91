"""Limits on requests and hostile values: a 4xx naming the field, the same on SQLite and on
PostgreSQL, never a 500 (a real server process on each)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dashboard.signin import signed_in

from .server import Server

MAX_BODY = 200_000
SERVER_ENV = {
    "NEXTOFFER_ATTACH_REFRESH_SECONDS": "0",
    "NEXTOFFER_MAX_BODY_BYTES": str(MAX_BODY),
    "NEXTOFFER_MAX_JSON_DEPTH": "32",
    "NEXTOFFER_MAX_LIST_ITEMS": "1000",
    "NEXTOFFER_BODY_TIMEOUT_SECONDS": "1.5",
    "NEXTOFFER_HEADER_TIMEOUT_SECONDS": "1.5",
    "NEXTOFFER_KEEP_ALIVE_SECONDS": "1",
}
DECISION = {"customer": {"id": "limits-1"}, "channel": "in_app"}


@pytest.fixture(autouse=True)
def no_server_error(server: Server) -> Iterator[None]:
    """Whatever a test sends, the server logs no traceback."""
    yield
    assert "Traceback" not in Path(server.log.name).read_text()


def _fields(r: httpx.Response) -> list[str]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["detail"], body
    assert body["errors"], body
    return [e["field"] for e in body["errors"]]


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def _history(server: Server, customer: str) -> list[dict[str, Any]]:
    with server.client("client") as client:
        r = client.get(f"/v1/customers/{customer}/history")
        assert r.status_code == 200, r.text
        history: list[dict[str, Any]] = r.json()["history"]
        return history


@pytest.mark.parametrize(
    "zone", ["America", "x" * 300, "../../etc/passwd", "/etc/localtime", "", "Europe/", "utc "]
)
def test_an_unknown_time_zone_is_a_422_naming_store_timezone(server: Server, zone: str) -> None:
    body = {**DECISION, "store": {"id": "S1", "timezone": zone}}
    with server.client("client") as client:
        assert _fields(client.post("/v1/decisions", json=body)) == ["store.timezone"]
    assert _history(server, "limits-1") == []


def test_a_known_time_zone_is_taken(server: Server) -> None:
    body = {**DECISION, "customer": {"id": "limits-zone"},
            "store": {"id": "S1", "timezone": "America/Argentina/Buenos_Aires"}}  # fmt: skip
    with server.client("client") as client:
        assert client.post("/v1/decisions", json=body).status_code == 200


@pytest.mark.parametrize(
    "at",
    ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59+14:00",
     "1899-12-31T23:59:59Z", "3000-01-01T00:00:00Z"],
)  # fmt: skip
def test_a_time_beyond_the_calendars_range_is_a_422_naming_at(server: Server, at: str) -> None:
    with server.client("client") as client:
        assert _fields(client.post("/v1/decisions", json={**DECISION, "at": at})) == ["at"]
        event = {"type": "click", "offer_id": "credit-card", "customer_id": "limits-1",
                 "idempotency_key": f"limits-at-{at}", "reported_at": at}  # fmt: skip
        assert _fields(client.post("/v1/events", json=event)) == ["reported_at"]
    with server.client("author") as author:
        proposal = author.post(
            "/v1/proposals", json={"trigger": "cart.count >= 1", "offers": ["credit-card"]}
        )
        assert proposal.status_code in (200, 201), proposal.text  # 200: the same, updated
        dry = author.post(f"/v1/proposals/{proposal.json()['id']}/dry-run",
                          json={**DECISION, "at": at})  # fmt: skip
        assert _fields(dry) == ["at"]
    assert _history(server, "limits-1") == []


def test_json_nested_deeper_than_the_limit_is_a_422_naming_the_field(server: Server) -> None:
    def post(client: httpx.Client, method: str, url: str, body: str) -> httpx.Response:
        return client.request(method, url, content=body.encode(),
                              headers={"Content-Type": "application/json"})  # fmt: skip

    for depth in (33, 255, 1000, 5000):  # written by hand: json.dumps cannot go this deep
        deep = '{"a": ' * (depth - 1) + '{"leaf": 1}' + "}" * (depth - 1)
        event = ('{"type": "click", "offer_id": "credit-card", "customer_id": "limits-1", '
                 f'"idempotency_key": "limits-deep-{depth}", "payload": {deep}}}')  # fmt: skip
        with server.client("client") as client:
            [field] = _fields(post(client, "POST", "/v1/events", event))
            assert field.startswith("payload.a.a")
            [field] = _fields(post(client, "POST", "/v1/events", f'{{"events": [{event}]}}'))
            assert field.startswith("events[0].payload.a")
        with server.client("author") as author:
            body = f'{{"trigger": "cart.count >= 1", "offers": ["credit-card"], "stats": {deep}}}'
            [field] = _fields(post(author, "POST", "/v1/proposals", body))
            assert field.startswith("stats.a.a")
            offer = f'{{"id": "deep", "sku": "credit-card", "attributes": {deep}}}'
            [field] = _fields(post(author, "PUT", "/v1/catalog/offer/deep", offer))
            assert field.startswith("attributes.a.a")
            assert author.get("/v1/catalog/offer/deep").status_code == 404
    assert _history(server, "limits-1") == []


def test_json_nested_to_the_limit_is_taken(server: Server) -> None:
    # a proposal's statistics are the one free-form field left (event payloads hold only
    # what their type declares): nested to the limit, they are taken and read back whole
    with server.client("author") as author:
        body = {"trigger": "cart.count >= 2", "offers": ["credit-card"], "stats": _nested(31)}
        r = author.post("/v1/proposals", json=body)
        assert r.status_code in (200, 201), r.text
        listed = author.get("/v1/proposals").json()
        [stored] = [p for p in listed if p["id"] == r.json()["id"]]
        assert stored["stats"] == _nested(31)


def test_a_body_larger_than_the_limit_is_a_413_and_nothing_is_stored(server: Server) -> None:
    event = {"type": "click", "offer_id": "credit-card", "customer_id": "limits-big",
             "idempotency_key": "limits-big-1", "payload": {"blob": "x" * MAX_BODY}}  # fmt: skip
    with server.client("client") as client:
        r = client.post("/v1/events", json=event)
        assert r.status_code == 413, r.text
        assert r.json()["errors"] == [
            {"field": "body", "message": f"the request body is larger than {MAX_BODY} bytes"}
        ]

        def chunks() -> Iterator[bytes]:  # streamed, no Content-Length: counted as it comes
            yield b'{"type": "click", "offer_id": "credit-card", "customer_id": "limits-big", '
            yield b'"idempotency_key": "limits-big-2", "payload": {"blob": "'
            for _ in range(MAX_BODY // 10_000 + 1):
                yield b"x" * 10_000
            yield b'"}}'

        r = client.post(
            "/v1/events", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413, r.text
    assert _history(server, "limits-big") == []


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    server: Server,
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {server.keys['client']}\r\n".encode()
            + b"Content-Length: 209715200\r\n\r\n"  # 200 MB announced, none sent
        )
        answer = s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 413 "), answer
        assert b"connection: close" in answer.lower()


def test_a_list_longer_than_the_limit_is_a_422_naming_it(server: Server) -> None:
    events = [{"type": "click", "offer_id": "credit-card", "customer_id": "limits-list",
               "idempotency_key": f"limits-list-{i}"} for i in range(1001)]  # fmt: skip
    with server.client("client") as client:
        r = client.post("/v1/events", json={"events": events})
        assert _fields(r) == ["events"]
        assert "at most 1000 items" in r.json()["detail"]
        assert _fields(client.post("/v1/events", json=events)) == ["body"]
        segments = {"segments": [f"s{i}" for i in range(1001)]}
        assert _fields(client.put("/v1/customers/limits-list", json=segments)) == ["segments"]
        assert client.post("/v1/events", json={"events": events[:1000]}).status_code == 201
    assert len(_history(server, "limits-list")) == 1000


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"x": NaN}', "payload.x"),
        (b'{"x": Infinity}', "payload.x"),
        (b'{"x": [1, -Infinity]}', "payload.x[1]"),
        (b'{"x": 1e999}', "payload.x"),
        (b'{"x": "a\\u0000b"}', "payload.x"),
        (b'{"x\\u0000": 1}', "payload.x\\u0000"),
        (b'{"x": "\\ud800"}', "payload.x"),
        (b'{"\\ud800": {}}', "payload.\\ud800"),
    ],
)
def test_nan_infinity_nul_and_lone_surrogates_are_a_422_on_both_databases(
    server: Server, raw: bytes, field: str
) -> None:
    body = (b'{"type": "click", "offer_id": "credit-card", "customer_id": "limits-odd", '
            b'"idempotency_key": "limits-odd", "payload": ' + raw + b"}")  # fmt: skip
    with server.client("client") as client:
        r = client.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
        assert _fields(r) == [field]
    assert _history(server, "limits-odd") == []


def test_a_nul_in_an_id_or_key_is_a_422_on_both_databases(server: Server) -> None:
    with server.client("client") as client:
        assert _fields(client.put("/v1/customers/a%00b", json={})) == ["path"]
        event = {"type": "click", "offer_id": "credit-card", "customer_id": "limits-nul",
                 "idempotency_key": "k\x00"}  # fmt: skip
        assert _fields(client.post("/v1/events", json=event)) == ["idempotency_key"]
        event = {**event, "idempotency_key": "limits-nul", "customer_id": "limits\x00nul"}
        assert _fields(client.post("/v1/events", json=event)) == ["customer_id"]
        decision = {"customer": {"id": "c\x00"}, "channel": "in_app"}
        assert _fields(client.post("/v1/decisions", json=decision)) == ["customer.id"]
        r = client.get("/v1/customers/limits-nul/history", params={"days": "1\x00"})
        assert _fields(r) == ["days"]
    with server.client("admin") as admin:
        r = admin.put("/v1/customers/nul-1/personal-data", json={"name": "a\x00b"})
        assert _fields(r) == ["name"]
    assert _history(server, "limits-nul") == []


def _closed_within(s: socket.socket, seconds: float) -> tuple[float, bytes]:
    """Read until the server closes the connection; how long it took, and what it sent."""
    start = time.monotonic()
    s.settimeout(seconds)
    received = b""
    while chunk := s.recv(65536):
        received += chunk
    return time.monotonic() - start, received


def test_a_client_that_trickles_its_body_is_cut_off(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {server.keys['client']}\r\n".encode()
            + b"Content-Length: 1000\r\n\r\n{"
        )
        start = time.monotonic()
        answer = b""
        s.settimeout(0.2)
        while time.monotonic() - start < 5:  # a byte every 0.2 s, for ever
            try:
                s.sendall(b" ")
                chunk = s.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # reset: the server has closed it
                break
            if not chunk:
                break
            answer += chunk
        elapsed = time.monotonic() - start
        assert elapsed < 3.5, elapsed  # 1.5 s configured
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b"did not arrive within 1.5 s" in answer


def test_a_client_that_trickles_its_headers_is_cut_off(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        start = time.monotonic()
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        s.settimeout(0.2)
        closed = False
        while time.monotonic() - start < 5:
            try:
                s.sendall(b"X-Slow: 1\r\n")
                if s.recv(65536) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
        assert closed
        assert time.monotonic() - start < 3.5


def test_an_idle_connection_is_closed(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        elapsed, received = _closed_within(s, 5)  # says nothing at all
        assert received == b""
        assert elapsed < 3.5
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        elapsed, received = _closed_within(s, 5)  # one answer, then idle: keep-alive ends
        assert received.startswith(b"HTTP/1.1 200 ")
        assert elapsed < 3.5


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"id": "deep", "sku": "COFFEE-01", "attributes": ' + '{"a": ' * 40 + "1" + "}" * 41,
         "attributes.a.a"),
        ('{"id": "deep", "sku": "COFFEE-01", "attributes": {"x": NaN}}', "attributes.x"),
        ('{"id": "deep", "sku": "COFFEE-01", "attributes": {"x": "\\u0000"}}', "attributes.x"),
    ],
)  # fmt: skip
def test_the_dashboards_catalog_editor_holds_its_json_to_the_same_limits(
    server: Server, text: str, field: str
) -> None:
    browser, csrf = signed_in(server.url, server.keys["author"])
    try:
        r = browser.post(
            "/dashboard/catalog/offer",
            data={"item_id": "deep", "body": text, "new": "true", "csrf_token": csrf},
        )
        assert r.status_code == 422, r.text[:500]
        assert field in r.text
    finally:
        browser.close()
    with server.client("author") as author:
        assert author.get("/v1/catalog/offer/deep").status_code == 404
