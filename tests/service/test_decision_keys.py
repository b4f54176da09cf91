"""A decision's idempotency key is its client's promise about one request, over HTTP on both
databases (on PostgreSQL through the decision path's own asyncio pipeline), as an event's is:
a retry with the same request returns the original, the key with another request is refused
(409 naming ``Idempotency-Key``), an empty key is refused, UTF-8 keys are stored as sent, and
two clients' equal keys are two decisions."""

from __future__ import annotations

from typing import Any

import httpx

from nextoffer.service.db import Database
from nextoffer.service.keys.service import create_key
from nextoffer.service.ledger import repository

from .server import Server


def _body(customer: str, session_id: str = "s-1") -> dict[str, Any]:
    return {"customer": {"id": customer}, "channel": "email", "session_id": session_id}


def _decisions_of(srv: Server, customer: str) -> list[str]:
    with srv.client("client") as client:
        history = client.get(f"/v1/customers/{customer}/history").json()["history"]
    return [h["decision_id"] for h in history if h["kind"] == "decision"]


def _stored(srv: Server, decision_id: str) -> dict[str, Any]:
    db = Database(srv.database_url)
    try:
        with db.read() as session:
            row = repository.get_decision(session, decision_id)
    finally:
        db.dispose()
    assert row is not None
    return row


def _key_id(token: str) -> str:
    return token.split("_")[1]


def test_a_decision_retried_with_the_same_body_under_its_key_returns_the_original(
    server: Server,
) -> None:
    body = _body("dk-retry")
    with server.client("client") as client:
        first = client.post("/v1/decisions", json=body, headers={"Idempotency-Key": "dk-1"})
        assert first.status_code == 200, first.text
        again = client.post("/v1/decisions", json=body, headers={"Idempotency-Key": "dk-1"})
        assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert _decisions_of(server, "dk-retry") == [first.json()["id"]]


def test_a_decision_retried_with_a_changed_body_under_its_key_is_refused(
    server: Server,
) -> None:
    body = _body("dk-changed")
    with server.client("client") as client:
        first = client.post("/v1/decisions", json=body, headers={"Idempotency-Key": "dk-2"})
        assert first.status_code == 200, first.text
        changed = _body("dk-changed", session_id="s-other")
        r = client.post("/v1/decisions", json=changed, headers={"Idempotency-Key": "dk-2"})
        assert r.status_code == 409, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["Idempotency-Key"]
        assert "dk-2" in r.json()["detail"]
        # another customer under the key: refused too, not answered with someone else's
        other = client.post(
            "/v1/decisions", json=_body("dk-changed-2"), headers={"Idempotency-Key": "dk-2"}
        )
        assert other.status_code == 409, other.text
        retry = client.post("/v1/decisions", json=body, headers={"Idempotency-Key": "dk-2"})
        assert (retry.status_code, retry.json()["id"]) == (200, first.json()["id"])
    assert _decisions_of(server, "dk-changed") == [first.json()["id"]]
    assert _decisions_of(server, "dk-changed-2") == []


def test_an_empty_or_overlong_decision_idempotency_key_is_refused(server: Server) -> None:
    body = _body("dk-empty")
    with server.client("client") as client:
        for key in ("", "k" * 201, "é" * 201):
            headers = [("Idempotency-Key", key.encode())]
            r = client.post("/v1/decisions", json=body, headers=headers)
            assert r.status_code == 422, r.text
            assert [e["field"] for e in r.json()["errors"]] == ["Idempotency-Key"]
        longest = client.post(
            "/v1/decisions", json=body, headers=[("Idempotency-Key", ("é" * 200).encode())]
        )
        assert longest.status_code == 200, longest.text
    assert _decisions_of(server, "dk-empty") == [longest.json()["id"]]


def test_non_ascii_decision_idempotency_keys_round_trip(server: Server) -> None:
    client_id = _key_id(server.keys["client"])
    with server.client("client") as client:
        for n, key in enumerate(["clé-ß-日本語-1", "🙂 ключ"]):
            body = _body("dk-utf8", session_id=f"s-{n}")
            headers = [("Idempotency-Key", key.encode())]  # HTTP carries UTF-8 bytes
            first = client.post("/v1/decisions", json=body, headers=headers)
            assert first.status_code == 200, first.text
            assert _stored(server, first.json()["id"])["idempotency_key"] == f"{client_id}:{key}"
            again = client.post("/v1/decisions", json=body, headers=headers)
            assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
        r = client.post(
            "/v1/decisions", json=_body("dk-utf8"), headers=[("Idempotency-Key", b"\xff\xfe")]
        )
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["Idempotency-Key"]
    assert len(_decisions_of(server, "dk-utf8")) == 2


def test_two_clients_deciding_with_the_same_key_each_get_their_own_decision(
    server: Server,
) -> None:
    db = Database(server.database_url)
    with db.transaction() as session:
        other_key = create_key(session, "client")
    db.dispose()
    headers = {"Idempotency-Key": "order-1"}
    with (
        server.client("client") as mine,
        httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {other_key}"}
        ) as other,
    ):
        a = mine.post("/v1/decisions", json=_body("dk-scoped", "s-a"), headers=headers)
        b = other.post("/v1/decisions", json=_body("dk-scoped", "s-b"), headers=headers)
        assert (a.status_code, b.status_code) == (200, 200), (a.text, b.text)
        assert a.json()["id"] != b.json()["id"]
        assert (a.json()["session_id"], b.json()["session_id"]) == ("s-a", "s-b")
        again_a = mine.post("/v1/decisions", json=_body("dk-scoped", "s-a"), headers=headers)
        again_b = other.post("/v1/decisions", json=_body("dk-scoped", "s-b"), headers=headers)
        assert (again_a.json()["id"], again_b.json()["id"]) == (a.json()["id"], b.json()["id"])
    assert sorted(_decisions_of(server, "dk-scoped")) == sorted([a.json()["id"], b.json()["id"]])
    assert _stored(server, b.json()["id"])["idempotency_key"] == f"{_key_id(other_key)}:order-1"
