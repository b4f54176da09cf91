"""The ledger means what it says, over HTTP on both databases: outcomes count only when they
are attributed to a decision that showed their offer to their customer, and an idempotency
key is a client's promise about one event (a retry returns it; a reuse is refused)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from nextoffer.service.db import Database
from nextoffer.service.keys.service import create_key

from .server import Server

POS = {"customer": {"id": "ledger-guest"}, "channel": "pos",
       "store": {"id": "S1", "timezone": "Europe/Madrid"},
       "cart": {"items": [{"sku": "STEAK-01", "category": "main_course", "price": 1200.0, "quantity": 1}]}}  # fmt: skip


def _offer_rate(srv: Server, offer: str) -> dict[str, Any]:
    with srv.client("author") as author:
        r = author.get("/v1/attach-rates")
        assert r.status_code == 200, r.text
    return next(x for x in r.json()["rates"] if x["level"] == "offer" and x["offer"] == offer)


def _history(srv: Server, customer: str) -> list[dict[str, Any]]:
    with srv.client("client") as client:
        history: list[dict[str, Any]] = client.get(f"/v1/customers/{customer}/history").json()[
            "history"
        ]
        return history


def test_forged_accepts_naming_no_real_decision_do_not_move_the_attach_rate(
    server: Server,
) -> None:
    """The issue's reproduction: 5,000 accepts for ``mortgage``, each naming a decision that
    exists nowhere. Stored as unattributed, and never counted; a genuine accept is."""
    mortgage = _offer_rate(server, "mortgage")
    with server.client("client") as client:
        for batch in range(5):
            forged = [{"type": "accept", "offer_id": "mortgage", "customer_id": f"forger-{i}",
                       "decision_id": str(uuid.uuid4()), "channel": "email",
                       "idempotency_key": f"forged-{batch}-{i}"} for i in range(1000)]  # fmt: skip
            r = client.post("/v1/events", json={"events": forged})
            assert r.status_code == 201, r.text
            assert r.json()["accepted"] == 1000
            assert {e["attributed"] for e in r.json()["events"]} == {False}
        # a genuine showing, accepted (many times over: it counts once)
        d = client.post("/v1/decisions", json={**POS, "session_id": "ledger-genuine"}).json()
        offer = d["placements"][0]["offers"][0]["offer"]
        before = _offer_rate(server, offer)
        common = {"offer_id": offer, "decision_id": d["id"], "customer_id": "ledger-guest",
                  "channel": "pos"}  # fmt: skip
        genuine = [{**common, "type": "impression", "idempotency_key": "genuine-i"}]
        genuine += [
            {**common, "type": "accept", "idempotency_key": f"genuine-a{i}"} for i in range(50)
        ]
        r = client.post("/v1/events", json={"events": genuine})
        assert r.status_code == 201, r.text
        assert {e["attributed"] for e in r.json()["events"]} == {True}
    with server.client("author") as author:
        assert author.post("/v1/attach-rates/refresh").status_code == 200
    deadline = time.monotonic() + 20  # a worker swaps to the new snapshot within its poll
    while _offer_rate(server, offer)["accepted"] == before["accepted"]:
        assert time.monotonic() < deadline, "the genuine accept was never counted"
        time.sleep(0.2)
    after = _offer_rate(server, offer)
    assert (after["shown"], after["accepted"]) == (before["shown"] + 1, before["accepted"] + 1)
    forged_at = _offer_rate(server, "mortgage")
    assert (forged_at["shown"], forged_at["accepted"]) == (mortgage["shown"], mortgage["accepted"])
    # (its parent, the global rate, took the genuine accept: a hair's breadth)
    assert abs(forged_at["p"] - mortgage["p"]) < 1e-4, (mortgage["p"], forged_at["p"])


def test_an_outcome_naming_another_customers_decision_or_an_offer_it_did_not_show_is_unattributed(
    server: Server,
) -> None:
    with server.client("client") as client:
        d = client.post("/v1/decisions", json={**POS, "session_id": "ledger-other"}).json()
        shown = d["placements"][0]["offers"][0]["offer"]
        base = {"type": "accept", "decision_id": d["id"], "channel": "pos"}
        cases = [({"customer_id": "ledger-guest", "offer_id": shown}, True),
                 ({"customer_id": "someone-else", "offer_id": shown}, False),
                 ({"customer_id": "ledger-guest", "offer_id": "mortgage"}, False),
                 ({"customer_id": "ledger-guest", "offer_id": shown, "decision_id": None}, False)]  # fmt: skip
        for n, (fields, attributed) in enumerate(cases):
            r = client.post("/v1/events", json={**base, **fields, "idempotency_key": f"attr-{n}"})
            assert r.status_code == 201, r.text
            assert r.json()["attributed"] is attributed, fields


def test_an_outcome_about_an_offer_the_catalog_does_not_hold_is_refused_naming_the_field(
    server: Server,
) -> None:
    with server.client("client") as client:
        single = {"type": "click", "customer_id": "ghost-1", "offer_id": "no-such-offer"}
        r = client.post("/v1/events", json=single, headers={"Idempotency-Key": "ghost-1"})
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [
            {"field": "offer_id", "message": "no offer 'no-such-offer' in the catalog"}
        ]
        good = {"type": "click", "customer_id": "ghost-1", "offer_id": "mortgage",
                "idempotency_key": "ghost-2"}  # fmt: skip
        r = client.post("/v1/events", json=[good, {**single, "idempotency_key": "ghost-3"}])
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["events[1].offer_id"]
    assert _history(server, "ghost-1") == []  # nothing of the batch was written


def test_a_reused_idempotency_key_with_a_different_body_is_refused(server: Server) -> None:
    event = {"type": "convert", "customer_id": "reuse-1", "value": 120.0}
    with server.client("client") as client:
        first = client.post("/v1/events", json=event, headers={"Idempotency-Key": "reuse-k"})
        assert first.status_code == 201, first.text
        changed = {**event, "value": 999999.0}
        r = client.post("/v1/events", json=changed, headers={"Idempotency-Key": "reuse-k"})
        assert r.status_code == 409, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["Idempotency-Key"]
        assert "reuse-k" in r.json()["detail"]
        in_body = client.post("/v1/events", json={**changed, "idempotency_key": "reuse-k"})
        assert in_body.status_code == 409
        assert [e["field"] for e in in_body.json()["errors"]] == ["idempotency_key"]
        retry = client.post("/v1/events", json=event, headers={"Idempotency-Key": "reuse-k"})
        assert retry.status_code == 200
        assert (retry.json()["id"], retry.json()["duplicate"]) == (first.json()["id"], True)
        # a batch with a key stored before for another event: refused whole
        fresh = {
            "type": "convert",
            "customer_id": "reuse-1",
            "value": 1.0,
            "idempotency_key": "reuse-new",
        }
        r = client.post("/v1/events", json=[fresh, {**changed, "idempotency_key": "reuse-k"}])
        assert r.status_code == 409, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["events[1].idempotency_key"]
    assert [e["value"] for e in _history(server, "reuse-1")] == [120.0]


def test_a_key_repeated_inside_one_batch_with_a_different_body_is_refused_at_its_position(
    server: Server,
) -> None:
    event = {"type": "convert", "customer_id": "repeat-1", "value": 5.0, "idempotency_key": "rep"}
    with server.client("client") as client:
        r = client.post("/v1/events", json=[event, {**event, "value": 6.0}])
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [{"field": "events[1].idempotency_key",
                                       "message": "repeats the key of events[0] with a different event"}]  # fmt: skip
        assert _history(server, "repeat-1") == []
        same = client.post("/v1/events", json=[event, event])  # the same event twice: one
        assert same.status_code == 201, same.text
        assert (same.json()["accepted"], same.json()["duplicates"]) == (1, 1)
        assert same.json()["events"][0]["id"] == same.json()["events"][1]["id"]
    assert len(_history(server, "repeat-1")) == 1


def test_an_empty_idempotency_key_header_is_refused(server: Server) -> None:
    event = {"type": "convert", "customer_id": "empty-1", "value": 1.0}
    with server.client("client") as client:
        r = client.post("/v1/events", json=event, headers={"Idempotency-Key": ""})
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["Idempotency-Key"]
    assert _history(server, "empty-1") == []


def test_non_ascii_idempotency_keys_round_trip(server: Server) -> None:
    with server.client("client") as client:
        for n, key in enumerate(["clé-ß-日本語-1", "🙂 ключ"]):
            event = {"type": "convert", "customer_id": "utf8-1", "value": float(n)}
            headers = [("Idempotency-Key", key.encode())]  # HTTP carries UTF-8 bytes
            first = client.post("/v1/events", json=event, headers=headers)
            assert first.status_code == 201, first.text
            assert first.json()["idempotency_key"] == key
            again = client.post("/v1/events", json=event, headers=headers)
            assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
            in_body = client.post("/v1/events", json={**event, "idempotency_key": key})
            assert (in_body.status_code, in_body.json()["id"]) == (200, first.json()["id"])
        r = client.post("/v1/events", json=event, headers=[("Idempotency-Key", b"\xff\xfe")])
        assert r.status_code == 422
        assert [e["field"] for e in r.json()["errors"]] == ["Idempotency-Key"]


def test_two_clients_using_the_same_key_both_get_their_own_event(server: Server) -> None:
    db = Database(server.database_url)
    with db.transaction() as session:
        other_key = create_key(session, "client")
    db.dispose()
    event = {"type": "convert", "customer_id": "scoped-1", "idempotency_key": "order-1"}
    with (
        server.client("client") as mine,
        httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {other_key}"}
        ) as other,
    ):
        a = mine.post("/v1/events", json={**event, "value": 1.0})
        b = other.post("/v1/events", json={**event, "value": 2.0})
        assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
        assert a.json()["id"] != b.json()["id"]
        assert a.json()["idempotency_key"] == b.json()["idempotency_key"] == "order-1"
        assert mine.post("/v1/events", json={**event, "value": 1.0}).json()["id"] == a.json()["id"]
        assert other.post("/v1/events", json={**event, "value": 2.0}).json()["id"] == b.json()["id"]
    assert sorted(e["value"] for e in _history(server, "scoped-1")) == [1.0, 2.0]
