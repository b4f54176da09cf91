"""The dashboard's sessions and its defences against other pages, over real HTTP on both
databases: the cookie holds a random session id (never the key), every unsafe request needs
the session's CSRF token and this site's origin, and no dashboard response may be framed."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest
import sqlalchemy as sa

from nextoffer.service.dashboard import sessions
from nextoffer.service.db import Database
from nextoffer.service.keys.service import Principal, create_key

from ..dashboard.signin import csrf_of, signed_in
from .server import Server

ATTACKER = "http://127.0.0.1:8290"  # another port of the same host: the same site


def live_revision(srv: Server, rule_id: str) -> int | None:
    with srv.client("approver") as api:
        rule = next(r for r in api.get("/v1/rules").json() if r["id"] == rule_id)
    live: int | None = rule["live_revision"]
    return live


@pytest.fixture
def live_rule(server: Server) -> str:
    with server.client("approver") as api:
        rules = [r["id"] for r in api.get("/v1/rules").json() if r["live_revision"]]
    assert rules, "the demo's rules are live"
    return str(rules[0])


@pytest.fixture
def approver(server: Server) -> Iterator[tuple[httpx.Client, str]]:
    client, csrf = signed_in(server.url, server.keys["approver"])
    yield client, csrf
    client.close()


def test_the_session_cookie_is_a_random_id_not_the_api_key(server: Server) -> None:
    key = server.keys["approver"]
    client, _ = signed_in(server.url, key)
    with closing(client):
        value = client.cookies["nextoffer_session"]
        assert key not in value
        assert key.split("_", 2)[2] not in value  # not the key's secret (it may hold "_")
        assert len(value) >= 40
        # a fresh sign-in is a fresh session id
        again, _ = signed_in(server.url, key)
        with closing(again):
            assert again.cookies["nextoffer_session"] != value
    db = Database(server.database_url)
    try:
        with db.read() as s:
            rows = s.execute(sa.text("SELECT * FROM dashboard_sessions")).mappings().all()
    finally:
        db.dispose()
    mine = [r for r in rows if r["id_hash"] == hashlib.sha256(value.encode()).hexdigest()]
    assert len(mine) == 1
    assert mine[0]["key_id"] == key.split("_")[1]
    assert mine[0]["role"] == "approver"
    assert all(value not in str(dict(r)) and key not in str(dict(r)) for r in rows)


def test_the_session_cookie_is_httponly_strict_and_scoped_to_the_dashboard(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/dashboard/sign-in")
        done = client.post(
            "/dashboard/sign-in",
            data={"key": server.keys["author"], "csrf_token": csrf_of(form.text)},
        )
    assert done.status_code == 303
    cookie = next(
        c for c in done.headers.get_list("set-cookie") if c.startswith("nextoffer_session=")
    )
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "path=/dashboard" in cookie.lower()
    assert "secure" not in attributes  # plain HTTP here; see test_dashboard_https.py


def test_signing_out_revokes_the_session(
    server: Server, approver: tuple[httpx.Client, str]
) -> None:
    client, csrf = approver
    stolen = client.cookies["nextoffer_session"]
    out = client.post("/dashboard/sign-out", data={"csrf_token": csrf})
    assert out.status_code == 303
    with httpx.Client(base_url=server.url, cookies={"nextoffer_session": stolen}) as replay:
        page = replay.get("/dashboard/rules")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/dashboard/sign-in")


def test_a_deleted_api_key_ends_its_sessions(server: Server) -> None:
    db = Database(server.database_url)
    try:
        with db.transaction() as s:
            key = create_key(s, "approver", "leaves today")
        client, _ = signed_in(server.url, key)
        with closing(client):
            assert client.get("/dashboard/rules").status_code == 200
            with db.transaction() as s:
                s.execute(sa.text("DELETE FROM api_keys WHERE id = :id"), {"id": key.split("_")[1]})
            page = client.get("/dashboard/rules")
            assert page.status_code == 303
            assert page.headers["location"].startswith("/dashboard/sign-in")
        with db.read() as s:
            left = s.execute(
                sa.text("SELECT count(*) FROM dashboard_sessions WHERE key_id = :id"),
                {"id": key.split("_")[1]},
            ).scalar_one()
        assert left == 0  # the key's sessions went with it
    finally:
        db.dispose()


def test_an_expired_session_is_refused(server: Server) -> None:
    db = Database(server.database_url)
    try:
        long_ago = dt.datetime(2020, 3, 1, 9, 0, tzinfo=dt.UTC)
        holder = Principal(server.keys["approver"].split("_")[1], "approver")
        with db.transaction() as s:
            token = sessions.start(s, holder, 12.0, long_ago)
            assert sessions.who(s, token, long_ago + dt.timedelta(hours=11)) == holder
            assert sessions.who(s, token, long_ago + dt.timedelta(hours=12)) is None
    finally:
        db.dispose()
    with httpx.Client(base_url=server.url, cookies={"nextoffer_session": token}) as client:
        page = client.get("/dashboard/rules")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/dashboard/sign-in")


def test_an_unsafe_request_without_the_sessions_csrf_token_is_refused(
    server: Server, approver: tuple[httpx.Client, str], live_rule: str
) -> None:
    client, csrf = approver
    before = live_revision(server, live_rule)
    other, other_csrf = signed_in(server.url, server.keys["admin"])
    other.close()
    for data in ({}, {"csrf_token": ""}, {"csrf_token": other_csrf}, {"csrf_token": csrf[:-1]}):
        refused = client.post(f"/dashboard/rules/{live_rule}/deactivate", data=data)
        assert refused.status_code == 403, data
        assert "CSRF token" in refused.text
        assert "<html" in refused.text
    refused = client.post("/dashboard/validate", json={"trigger": "cart.count > 1"})
    assert refused.status_code == 403
    assert live_revision(server, live_rule) == before
    # the session's own token: done (then undone)
    done = client.post(f"/dashboard/rules/{live_rule}/deactivate", data={"csrf_token": csrf})
    assert done.status_code == 303, done.text
    assert live_revision(server, live_rule) is None
    checked = client.post(
        "/dashboard/validate", json={"trigger": "cart.count > 1"}, headers={"X-CSRF-Token": csrf}
    )
    assert checked.status_code == 200
    again = client.post(f"/dashboard/rules/{live_rule}/activate", data={"csrf_token": csrf})
    assert again.status_code == 303
    assert live_revision(server, live_rule) is not None


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": ATTACKER},
        {"Origin": "null"},
        {"Origin": "https://127.0.0.1"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_a_request_from_another_origin_is_refused_even_with_the_token(
    server: Server, approver: tuple[httpx.Client, str], live_rule: str, headers: dict[str, str]
) -> None:
    client, csrf = approver
    before = live_revision(server, live_rule)
    refused = client.post(
        f"/dashboard/rules/{live_rule}/deactivate", data={"csrf_token": csrf}, headers=headers
    )
    assert refused.status_code == 403
    assert "another site" in refused.text
    assert live_revision(server, live_rule) == before


def test_a_request_from_the_dashboards_own_origin_passes(
    server: Server, approver: tuple[httpx.Client, str]
) -> None:
    client, csrf = approver
    checked = client.post(
        "/dashboard/validate",
        json={"trigger": "cart.count > 1"},
        headers={"X-CSRF-Token": csrf, "Origin": server.url, "Sec-Fetch-Site": "same-origin"},
    )
    assert checked.status_code == 200


def test_signing_in_needs_the_sign_in_forms_token(server: Server) -> None:
    # another page cannot sign a browser in with a key of its choosing (login CSRF)
    with httpx.Client(base_url=server.url) as client:
        refused = client.post("/dashboard/sign-in", data={"key": server.keys["author"]})
        assert refused.status_code == 403
        assert "nextoffer_session" not in client.cookies
        form = client.get("/dashboard/sign-in")
        wrong = client.post(
            "/dashboard/sign-in", data={"key": server.keys["author"], "csrf_token": "x" * 64}
        )
        assert wrong.status_code == 403
        done = client.post(
            "/dashboard/sign-in",
            data={"key": server.keys["author"], "csrf_token": csrf_of(form.text)},
        )
        assert done.status_code == 303
        assert "nextoffer_session" in client.cookies


def test_every_dashboard_response_forbids_framing_and_has_a_policy(
    server: Server, approver: tuple[httpx.Client, str]
) -> None:
    client, _ = approver
    with httpx.Client(base_url=server.url) as anonymous:
        responses = [
            anonymous.get("/dashboard/sign-in"),
            anonymous.get("/dashboard/rules"),  # a redirect to sign in
            client.get("/dashboard"),
            client.get("/dashboard/rules"),
            client.get("/dashboard/no/such/page"),
            client.get("/dashboard/static/dashboard.css"),
            client.post("/dashboard/catalog/publish"),  # refused: no token
        ]
    for r in responses:
        policy = r.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy, r.url
        assert "script-src 'self'" in policy, r.url
        assert "unsafe-inline" not in policy, r.url
        assert r.headers.get("x-frame-options") == "DENY", r.url
    # the API's answers are left alone (JSON, never framed by a browser as a page)
    with server.client("client") as api:
        assert "content-security-policy" not in api.get("/healthz").headers
