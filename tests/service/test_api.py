"""The HTTP API end to end: a real server process, on SQLite and on PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from .server import Server


def test_the_probes_need_no_key(server: Server) -> None:
    for probe in ("/healthz", "/readyz"):
        r = httpx.get(f"{server.url}{probe}")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ready"
    assert httpx.get(f"{server.url}/livez").status_code == 200


@pytest.mark.parametrize(
    ("role", "method", "path", "status"),
    [
        (None, "post", "/v1/decisions", 401),
        ("wrong", "post", "/v1/decisions", 401),
        ("client", "put", "/v1/catalog/product/X-1", 403),
        ("author", "post", "/v1/catalog/publish", 403),
        ("client", "post", "/v1/outcome-types", 403),
        ("approver", "post", "/v1/events", 403),
        ("author", "delete", "/v1/customers/demo-premium-36/personal-data", 403),
    ],
)
def test_every_endpoint_checks_the_key_and_its_role(
    server: Server, role: str | None, method: str, path: str, status: int
) -> None:
    headers = {}
    if role == "wrong":
        headers = {"Authorization": "Bearer nxo_000000000000_not-a-real-key"}
    elif role is not None:
        headers = {"Authorization": f"Bearer {server.keys[role]}"}
    r = httpx.request(method, f"{server.url}{path}", headers=headers, json={})
    assert r.status_code == status, r.text
    assert "detail" in r.json()


def test_worked_example_decision_is_in_the_ledger_with_its_trace(server: Server) -> None:
    with server.client("client") as client:
        r = client.post(
            "/v1/decisions", json={"customer": {"id": "demo-premium-36"}, "channel": "email"}
        )
        assert r.status_code == 200, r.text
        decision = r.json()
        assert [(p["placement"], [o["offer"] for o in p["offers"]]) for p in decision["placements"]] == [
            ("email-hero", ["credit-card"]), ("email-footer", ["savings-account"])]  # fmt: skip
        assert decision["control"] is False
        assert decision["snapshot_version"].startswith(("demo-1", "v"))
        stored = client.get(f"/v1/decisions/{decision['id']}").json()
        assert stored["placements"] == decision["placements"]
        assert stored["trace"]["stages"][0]["stage"] == "candidates"
        assert stored["request"]["channel"] == "email"
        history = client.get("/v1/customers/demo-premium-36/history").json()["history"]
        assert [h["decision_id"] for h in history if h["kind"] == "decision"][-1] == decision["id"]


def test_a_decision_retry_with_the_same_key_returns_the_original(server: Server) -> None:
    body = {"customer": {"id": "retry-1"}, "channel": "pos", "session_id": "s-9",
            "cart": {"items": [{"sku": "STEAK-01", "category": "main_course", "price": 1200.0}]}}  # fmt: skip
    with server.client("client") as client:
        first = client.post(
            "/v1/decisions", json=body, headers={"Idempotency-Key": "dec-retry-1"}
        ).json()
        again = client.post(
            "/v1/decisions", json=body, headers={"Idempotency-Key": "dec-retry-1"}
        ).json()
    assert again["id"] == first["id"]
    assert again["placements"] == first["placements"]


def test_a_decision_idempotency_key_must_be_1_to_200_characters(server: Server) -> None:
    body = {"customer": {"id": "retry-2"}, "channel": "email"}
    with server.client("client") as client:
        for key in ("", "k" * 201):
            r = client.post("/v1/decisions", json=body, headers={"Idempotency-Key": key})
            assert r.status_code == 422, r.text
            assert r.json()["errors"][0]["field"] == "Idempotency-Key"
        assert (
            client.post(
                "/v1/decisions", json=body, headers={"Idempotency-Key": "k" * 200}
            ).status_code
            == 200
        )
    with httpx.Client(base_url=server.url) as anonymous:  # the key is checked first
        r = anonymous.post("/v1/decisions", json=body, headers={"Idempotency-Key": ""})
        assert r.status_code == 401, r.text


def test_a_bad_decision_body_is_a_422_naming_the_field_after_the_key_check(server: Server) -> None:
    with server.client("client") as client:
        r = client.post("/v1/decisions", json={"channel": "email", "limit": "many"})
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["limit"]
        for content, headers in [(b"{not json", {"Content-Type": "application/json"}),
                                 (b'{"channel": "email"}', {"Content-Type": "text/plain"}),
                                 (b"", {"Content-Type": "application/json"})]:  # fmt: skip
            r = client.post("/v1/decisions", content=content, headers=headers)
            assert r.status_code == 422, r.text
            assert r.json()["errors"][0]["field"].startswith("body"), r.json()
    with httpx.Client(base_url=server.url) as anonymous:  # the key before the body
        assert anonymous.post("/v1/decisions", content=b"{not json").status_code == 401


def test_events_are_idempotent_and_keep_the_clients_clock_apart(server: Server) -> None:
    event = {"type": "accept", "customer_id": "ev-1", "offer_id": "credit-card", "channel": "email",
             "reported_at": "2020-01-01T00:00:00Z"}  # fmt: skip
    with server.client("client") as client:
        first = client.post("/v1/events", json=event, headers={"Idempotency-Key": "ev-1-accept"})
        assert first.status_code == 201, first.text
        retry = client.post("/v1/events", json=event, headers={"Idempotency-Key": "ev-1-accept"})
        assert retry.status_code == 200
        assert retry.json()["id"] == first.json()["id"]
        assert retry.json()["duplicate"] is True
        assert first.json()["reported_at"].startswith("2020-01-01")
        assert first.json()["occurred_at"] > "2026"  # the database's clock, not the client's
        history = client.get("/v1/customers/ev-1/history").json()["history"]
        assert len(history) == 1


def test_a_batch_with_an_invalid_event_writes_nothing_and_names_each_position(
    server: Server,
) -> None:
    good = {
        "type": "click",
        "customer_id": "batch-1",
        "offer_id": "mortgage",
        "idempotency_key": "b-1",
    }
    bad_value = {"type": "convert", "customer_id": "batch-1", "idempotency_key": "b-2"}
    bad_type = {
        "type": "refund",
        "customer_id": "batch-1",
        "offer_id": "credit-card",
        "idempotency_key": "b-3",
    }
    no_key = {"type": "click", "customer_id": "batch-1", "offer_id": "mortgage"}
    with server.client("client") as client:
        r = client.post("/v1/events", json={"events": [good, bad_value, bad_type, no_key]})
        assert r.status_code == 422
        fields = {e["field"]: e["message"] for e in r.json()["errors"]}
        assert fields["events[1]"] == "a convert event needs 'value'"
        assert fields["events[2].type"].startswith("unknown event type 'refund'")
        assert "idempotency key" in fields["events[3].idempotency_key"]
        assert client.get("/v1/customers/batch-1/history").json()["history"] == []
        ok = client.post("/v1/events", json=[good, {**good, "idempotency_key": "b-4"}, good])
        assert ok.status_code == 201
        assert (ok.json()["accepted"], ok.json()["duplicates"]) == (2, 1)
    with server.client("admin") as admin:
        r = admin.post("/v1/outcome-types", json={"name": "refund", "classification": "negative"})
        assert r.status_code == 201
        assert (
            admin.post(
                "/v1/outcome-types", json={"name": "refund", "classification": "negative"}
            ).status_code
            == 409
        )
    with server.client("client") as client:
        assert client.post("/v1/events", json=bad_type).status_code == 201


def test_errors_name_the_field(server: Server) -> None:
    with server.client("client") as client:
        r = client.post("/v1/decisions", json={"customer": {"id": "c"}, "channel": "fax"})
        assert r.status_code == 422
        assert r.json()["errors"] == [{"field": "channel", "message": "unknown channel 'fax' (known: branch, email, in_app, kiosk, pos)"}]  # fmt: skip
        r = client.post("/v1/decisions", json={"channel": "email", "limit": 0, "colour": "red"})
        fields = {e["field"] for e in r.json()["errors"]}
        assert r.status_code == 422
        assert fields == {"limit", "colour"}
        assert client.get("/v1/decisions/nope").status_code == 404
        r = client.put(
            "/v1/customers/c-9", json={"attributes": {"tenureMonths": "long", "shoeSize": 9}}
        )
        assert r.status_code == 422
        assert {e["field"] for e in r.json()["errors"]} == {
            "attributes.tenureMonths",
            "attributes.shoeSize",
        }
    with server.client("approver") as approver:
        assert approver.post("/v1/catalog/publish", json={"version": "demo-1"}).status_code == 409
    with server.client("author") as author:
        r = author.put(
            "/v1/catalog/offer/bad", json={"id": "bad", "sku": "credit-card", "priority": 300}
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "offers.bad.priority"


def test_personal_data_is_erased_and_the_ledger_stays_whole(server: Server) -> None:
    with server.client("admin") as admin:
        r = admin.put(
            "/v1/customers/pd-1/personal-data", json={"name": "Ada", "email": "ada@example.com"}
        )
        assert r.status_code == 200
        assert (
            admin.post(
                "/v1/decisions", json={"customer": {"id": "pd-1"}, "channel": "email"}
            ).status_code
            == 200
        )
        assert admin.delete("/v1/customers/pd-1/personal-data").status_code == 204
        assert admin.delete("/v1/customers/pd-1/personal-data").status_code == 404
        history = admin.get("/v1/customers/pd-1/history").json()["history"]
        assert len(history) == 1


def test_publishing_a_broken_catalog_is_refused_with_places(server: Server) -> None:
    with server.client("author") as author:
        bad = {"id": "broken", "sku": "NOPE", "channels": ["email"]}
        assert author.put("/v1/catalog/offer/broken", json=bad).status_code == 201
    with server.client("approver") as approver:
        r = approver.post("/v1/catalog/publish", json={})
        assert r.status_code == 422
        assert any(
            e["field"] == "offers.broken.sku" and "NOPE" in e["message"] for e in r.json()["errors"]
        )
    with server.client("author") as author:
        assert author.delete("/v1/catalog/offer/broken").status_code == 204


def test_regression_nul_character_is_never_a_server_error(server: Server) -> None:
    """Schemathesis found this: PostgreSQL cannot store NUL in text, which gave a 500."""
    with server.client("admin") as admin:
        r = admin.put("/v1/customers/nul-1/personal-data", json={"name": "a\x00b"})
        assert r.status_code in (200, 422)  # SQLite stores it; PostgreSQL refuses it clearly
        if r.status_code == 422:
            assert "NUL" in r.json()["detail"]
        r = admin.post("/v1/events", json={"type": "click", "offer_id": "credit-card", "idempotency_key": "nul-2",
                                           "payload": {"note": "\x00"}})  # fmt: skip
        assert r.status_code in (201, 422)


def test_concurrent_retries_lose_nothing_and_duplicate_nothing(server: Server) -> None:
    """The same 600 events sent twice, by 6 clients at once, in shuffled batches of 40."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    sends = [i for i in range(600) for _ in range(2)]
    random.Random(5).shuffle(sends)
    chunks = [sends[s : s + 40] for s in range(0, len(sends), 40)]

    def post(mine: list[list[int]]) -> list[int]:
        with server.client("client") as client:
            statuses = []
            for chunk in mine:
                events = [
                    {"type": "click", "offer_id": "credit-card", "idempotency_key": f"conc-{i}"}
                    for i in chunk
                ]
                statuses.append(client.post("/v1/events", json={"events": events}).status_code)
            return statuses

    with ThreadPoolExecutor(6) as pool:
        statuses = [s for part in pool.map(post, [chunks[k::6] for k in range(6)]) for s in part]
    assert set(statuses) <= {200, 201}
    with server.client("client") as client:
        # every key is there once: a replay of all of them writes nothing new
        everything = [
            {"type": "click", "offer_id": "credit-card", "idempotency_key": f"conc-{i}"}
            for i in range(600)
        ]
        r = client.post("/v1/events", json={"events": everything})
        assert (r.json()["accepted"], r.json()["duplicates"]) == (0, 600)
