"""Personal data stays out of the ledger: sent by every path a client has, it is refused
(422, naming the field) or kept only with the customer's personal data; after an erasure no
table or column of the database holds any of it, and no client key could read it before."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from nextoffer.service.db import Database
from nextoffer.service.tables import decisions

from .server import Server

EMAIL = "pat.person@example.com"
NAME = "Pat Person"
PHONE = "+1 555 0199"
BIRTHDAY = "1971-04-02"
MARKERS = (EMAIL, NAME, PHONE, BIRTHDAY)


def _json(r: Any) -> Any:
    assert r.status_code < 500, r.text
    return r.json()


@pytest.fixture(scope="module")
def personal_schema(server: Server) -> Server:
    """The demo's catalog with a customer schema that declares two personal attributes."""
    with server.client("author") as author:
        settings = _json(author.get("/v1/catalog/settings/default"))
        schema = settings["customer_schema"]["attributes"]
        schema["email"] = {"type": "string", "personal": True}
        schema["birthday"] = {"type": "date", "personal": True}
        r = author.put("/v1/catalog/settings/default", json=settings)
        assert r.status_code == 200, r.text
        stored = _json(author.get("/v1/catalog/settings/default"))["customer_schema"]
        assert stored["attributes"]["email"] == {"type": "string", "personal": True}
    with server.client("approver") as approver:
        r = approver.post("/v1/catalog/publish", json={"version": "personal-1"})
        assert r.status_code == 201, r.text
    with server.client("admin") as admin:
        r = admin.post("/v1/outcome-types", json={"name": "complaint", "classification": "negative",
                                                   "payload": {"reason_code": "identifier",
                                                               "stars": "int"}})  # fmt: skip
        assert r.status_code == 201, r.text
    deadline = time.monotonic() + 10
    with server.client("client") as client:  # until the worker has the new snapshot
        while time.monotonic() < deadline:
            r = client.post("/v1/decisions", json={"customer": {"id": "probe", "attributes": {"email": "x"}},
                                                   "channel": "email"})  # fmt: skip
            if r.status_code == 422 and "personal" in r.text:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(r.text)
    return server


DECISION = {"customer": {"id": "pii-1"}, "channel": "email"}
SHOP = {"customer": {"id": "pii-1"}, "channel": "pos", "store": {"id": "S1"},
        "cart": {"items": [{"sku": "STEAK-01", "category": "main_course", "price": 1200.0}]}}  # fmt: skip


def _with(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    import copy

    body = copy.deepcopy(base)
    node: Any = body
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
    node[path[-1]] = value
    return body


REFUSED = [
    # (method, path, body, the field the 422 names)
    ("post", "/v1/decisions", _with(DECISION, ("customer", "attributes", "contact"), EMAIL),
     "customer.attributes.contact"),  # undeclared
    ("post", "/v1/decisions", _with(DECISION, ("customer", "attributes", "email"), EMAIL),
     "customer.attributes.email"),  # personal: never with a decision
    ("post", "/v1/decisions", _with(DECISION, ("customer", "attributes", "birthday"), BIRTHDAY),
     "customer.attributes.birthday"),
    ("post", "/v1/decisions", _with(SHOP, ("cart", "items", 0, "name"), NAME),
     "cart.items.0.name"),  # a cart item has only its declared fields
    ("post", "/v1/decisions", _with(SHOP, ("cart", "items", 0, "sku"), EMAIL),
     "cart.items.0.sku"),
    ("post", "/v1/decisions", _with(DECISION, ("customer", "segments"), [NAME]),
     "customer.segments.0"),
    ("post", "/v1/decisions", _with(DECISION, ("customer", "holdings"), [EMAIL]),
     "customer.holdings.0"),
    ("post", "/v1/decisions", _with(DECISION, ("customer", "id"), EMAIL), "customer.id"),
    ("post", "/v1/decisions", _with(DECISION, ("session_id",), EMAIL), "session_id"),
    ("post", "/v1/decisions", _with(SHOP, ("store", "id"), EMAIL), "store.id"),
    ("post", "/v1/events", {"type": "click", "offer_id": "credit-card", "customer_id": "pii-1",
                            "idempotency_key": "pii-e1", "payload": {"email": EMAIL}},
     "payload.email"),  # a click declares no payload
    ("post", "/v1/events", {"type": "convert", "value": 5, "customer_id": "pii-1",
                            "idempotency_key": "pii-e2", "payload": {"items": [NAME]}},
     "payload.items"),
    ("post", "/v1/events", {"type": "complaint", "customer_id": "pii-1", "idempotency_key": "pii-e3",
                            "payload": {"reason_code": EMAIL}}, "payload.reason_code"),
    ("post", "/v1/events", {"type": "complaint", "customer_id": "pii-1", "idempotency_key": "pii-e4",
                            "payload": {"note": NAME}}, "payload.note"),
    ("post", "/v1/events", {"type": "click", "offer_id": "credit-card", "customer_id": EMAIL,
                            "idempotency_key": "pii-e5"}, "customer_id"),
    ("post", "/v1/events", {"type": "click", "offer_id": "credit-card", "channel": EMAIL,
                            "idempotency_key": "pii-e7"}, "channel"),
    ("post", "/v1/events", {"events": [{"type": "click", "offer_id": "credit-card", "session_id": NAME,
                                        "idempotency_key": "pii-e6"}]}, "events[0].session_id"),
    ("put", "/v1/customers/pii-1", {"attributes": {"contact": EMAIL}}, "attributes.contact"),
    ("put", "/v1/customers/pii-1", {"attributes": {"birthday": NAME}}, "attributes.birthday"),
    ("put", "/v1/customers/pii-1", {"segments": [EMAIL]}, "segments.0"),
    ("put", "/v1/customers/pii-1", {"holdings": [NAME]}, "holdings.0"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "field"), REFUSED)
def test_personal_data_sent_where_the_ledger_would_keep_it_is_refused_naming_the_field(
    personal_schema: Server, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    with personal_schema.client("client") as client:
        r = client.request(method.upper(), path, json=body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.text


def _everything(url: str) -> dict[str, list[str]]:
    """Every row of every table of the database, as text, by table."""
    db = Database(url)
    try:
        meta = sa.MetaData()
        meta.reflect(db.engine)
        out: dict[str, list[str]] = {}
        with db.engine.connect() as connection:
            for table in meta.sorted_tables:
                out[table.name] = [repr(tuple(row)) for row in connection.execute(sa.select(table))]
        return out
    finally:
        db.dispose()


def _holding(rows: dict[str, list[str]]) -> dict[str, list[str]]:
    """The tables whose rows hold any of the personal data (case-insensitive)."""
    found: dict[str, list[str]] = {}
    for table, texts in rows.items():
        hits = [t for t in texts if any(m.lower() in t.lower() for m in MARKERS)]
        if hits:
            found[table] = hits
    return found


def test_personal_data_sent_by_every_path_is_nowhere_in_the_database_after_erasure(
    personal_schema: Server,
) -> None:
    server = personal_schema
    with server.client("client") as client:
        # the paths that take personal data: the schema's personal attributes, with the customer
        body = {"attributes": {"tier": "gold", "tenureMonths": 30, "hasCreditCard": False,
                               "balance": 900.0, "email": EMAIL, "birthday": BIRTHDAY},
                "holdings": ["checking"], "segments": ["VIP"]}  # fmt: skip
        r = client.put("/v1/customers/pii-1", json=body)
        assert r.status_code == 200, r.text
        assert EMAIL not in r.text  # not echoed: kept apart
        assert BIRTHDAY not in r.text
        decision = _json(client.post("/v1/decisions", json={**DECISION, "session_id": "s-pii-1"}))
        shop = _json(client.post("/v1/decisions", json=SHOP))
        event = {"type": "complaint", "customer_id": "pii-1", "idempotency_key": "pii-ok",
                 "payload": {"reason_code": "late-delivery", "stars": 2}}  # fmt: skip
        assert client.post("/v1/events", json=event).status_code == 201
        convert = {"type": "convert", "customer_id": "pii-1", "value": 1200.0, "decision_id": shop["id"],
                   "idempotency_key": "pii-conv", "payload": {"items": ["STEAK-01"]}}  # fmt: skip
        assert client.post("/v1/events", json=convert).status_code == 201
        # and every path that must refuse it, sent too (refused: nothing written)
        for method, path, refused, _field in REFUSED:
            assert client.request(method.upper(), path, json=refused).status_code == 422
    with server.client("admin") as admin:
        r = admin.put("/v1/customers/pii-1/personal-data",
                      json={"name": NAME, "email": EMAIL, "phone": PHONE})  # fmt: skip
        assert r.status_code == 200, r.text

    # before the erasure: only the personal data table holds it
    assert set(_holding(_everything(server.database_url))) == {"personal_data"}
    # and no client key reads it back
    with server.client("client") as client:
        readable = [
            client.get("/v1/customers/pii-1"),
            client.get(f"/v1/decisions/{decision['id']}"),
            client.get(f"/v1/decisions/{shop['id']}"),
            client.get("/v1/customers/pii-1/uplift"),
            client.get("/v1/outcome-types"),
            client.get("/v1/customers/pii-1/history"),
            client.get("/v1/snapshots/live"),
        ]
    for r in readable:
        assert r.status_code in (200, 404), r.text
        assert not any(m.lower() in r.text.lower() for m in MARKERS), r.text
    with server.client("admin") as admin:
        assert admin.delete("/v1/customers/pii-1/personal-data").status_code == 204

    after = _everything(server.database_url)
    assert _holding(after) == {}
    assert any("pii-1" in t for t in after["decisions"])  # the ledger stays whole
    assert any("pii-1" in t for t in after["erasures"])
    with server.client("client") as client:
        customer = _json(client.get("/v1/customers/pii-1"))
    assert customer["attributes"]["tier"] == "gold"  # what was not personal is kept


def test_a_customer_replaced_without_its_personal_attributes_no_longer_keeps_them(
    personal_schema: Server,
) -> None:
    with personal_schema.client("client") as client:
        assert (
            client.put("/v1/customers/pii-2", json={"attributes": {"email": EMAIL}}).status_code
            == 200
        )
        assert _holding(_everything(personal_schema.database_url)).keys() == {"personal_data"}
        assert (
            client.put("/v1/customers/pii-2", json={"attributes": {"tier": "basic"}}).status_code
            == 200
        )
    assert _holding(_everything(personal_schema.database_url)) == {}


def test_a_backtest_skips_requests_logged_before_free_form_fields_were_refused(
    personal_schema: Server,
) -> None:
    """A request in the ledger from before (a cart item's ``name``, a free-text segment)
    no longer validates: the backtest counts it as skipped instead of failing."""
    with personal_schema.client("client") as client:
        stored = _json(client.post("/v1/decisions", json={**SHOP, "session_id": "legacy-0"}))
    db = Database(personal_schema.database_url)
    try:
        with db.transaction() as session:
            row = session.execute(sa.select(decisions).where(decisions.c.id == stored["id"])).one()
            legacy = {k: v for k, v in row._asdict().items() if k not in ("seq", "occurred_at")}
            request = dict(legacy["request"])
            item = {**request["cart"]["items"][0], "name": "Gift wrap, for the anniversary"}
            request["cart"] = {"items": [item]}
            request["customer"] = {**request["customer"], "segments": ["big spenders"]}
            session.execute(sa.insert(decisions).values(
                {**legacy, "id": str(uuid.uuid4()),
                 "idempotency_key": None, "request": request}))  # fmt: skip
    finally:
        db.dispose()
    with personal_schema.client("author") as author:
        draft = {"rule_id": "legacy-bt", "trigger": 'cart.has_category("main_course")',
                 "offers": ["COFFEE-01"], "priority": 90}  # fmt: skip
        proposal = _json(author.post("/v1/proposals", json=draft))
        r = author.post(f"/v1/proposals/{proposal['id']}/backtest", params={"days": 1})
    assert r.status_code == 200, r.text
    assert r.json()["skipped"] >= 1
    assert r.json()["requests"] >= 1  # the valid ones are replayed


def test_a_dry_run_refuses_mistyped_undeclared_and_personal_attributes_at_once(
    personal_schema: Server,
) -> None:
    attributes = {"tenureMonths": "lots", "hasCreditCard": "yes", "contact": NAME, "email": EMAIL}
    with personal_schema.client("author") as author:
        draft = {"rule_id": "dry-typo", "trigger": "customer.tenureMonths > 12",
                 "offers": ["credit-card"], "priority": 60}  # fmt: skip
        proposal = _json(author.post("/v1/proposals", json=draft))
        body = {"customer": {"id": "dry-1", "attributes": attributes}, "channel": "email"}
        r = author.post(f"/v1/proposals/{proposal['id']}/dry-run", json=body)
    assert r.status_code == 422, r.text
    assert sorted(e["field"] for e in r.json()["errors"]) == sorted(
        f"customer.attributes.{k}" for k in attributes
    )
