"""Rule governance end to end on the demo shop: propose, review (four eyes), revisions, restore."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from tests.clock import NEW_YORK, NOW, iso

from .server import Server

# The requests carry their time (`at`, from tests/clock.py): it sets their local time, so the
# answers never depend on when the suite runs; the server's clock still counts the contact
# windows. A live decision's `at` may move its local time only within the server's
# clock_tolerance_seconds: these fixed instants need all of it.
SERVER_ENV = {"NEXTOFFER_ATTACH_REFRESH_SECONDS": "0", "NEXTOFFER_CLOCK_TOLERANCE_SECONDS": "1e12"}

CART = {"customer": {"id": "gov-guest"}, "channel": "pos", "session_id": "gov-s", "at": iso(NOW),
        "store": {"id": "S1", "timezone": "America/New_York"},
        "cart": {"items": [{"sku": "COFFEE-01", "category": "drinks", "price": 90.0, "quantity": 1}]}}  # fmt: skip
MINED = {"trigger": 'cart.has_sku("COFFEE-01")', "offers": ["CROISSANT-01"], "rule_id": "coffee-croissant",
         "stats": {"support": 0.04, "confidence": 0.31, "lift": 2.4, "count": 120, "antecedent_count": 387}}  # fmt: skip


def fired(srv: Server, body: dict[str, Any] = CART) -> list[str]:
    with srv.client("client") as client:
        r = client.post("/v1/decisions", json=body)
        assert r.status_code == 200, r.text
        return [f["id"] for f in r.json()["rules_fired"]]


def wait_until(check: Any, seconds: float = 2.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError("not within the time limit")


def test_a_mined_proposal_is_reviewed_goes_live_is_restored_and_every_step_is_kept(
    server: Server,
) -> None:
    assert "coffee-croissant" not in fired(server)
    # proposals are listed with their statistics; re-mining updates them, no duplicate
    with server.client("admin") as admin:
        first = admin.post("/v1/proposals", json=MINED)
        assert first.status_code == 201, first.text
        again = admin.post(
            "/v1/proposals", json={**MINED, "stats": {**MINED["stats"], "count": 130}}
        )
        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
        listed = [
            p for p in admin.get("/v1/proposals").json() if p["rule_id"] == "coffee-croissant"
        ]
        assert len(listed) == 1
        assert listed[0]["stats"]["count"] == 130
        assert listed[0]["stats"]["lift"] == 2.4
        # four eyes: its author cannot approve it
        own = admin.post(f"/v1/proposals/{first.json()['id']}/approve", json={})
        assert own.status_code == 403
        assert "four eyes" in own.json()["detail"]
    # a manager edits (priority): a new proposal of theirs, which someone else approves
    with server.client("approver") as approver:
        r = approver.post(f"/v1/proposals/{first.json()['id']}/approve",
                          json={"reason": "breakfast pairing", "edits": {"priority": 70}})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["live"] is False
        edited = r.json()["proposal"]
    assert "coffee-croissant" not in fired(server)
    with server.client("admin") as admin:
        r = admin.post(f"/v1/proposals/{edited}/approve", json={"reason": "fine by me"})
        assert r.status_code == 200, r.text
        assert r.json()["revision"] == 1
    took = wait_until(lambda: "coffee-croissant" in fired(server))
    assert took < 1.0
    # a second revision changes the trigger; then v1 is restored as v3
    with server.client("author") as author:
        change = author.post("/v1/proposals", json={**MINED, "trigger": 'cart.has_sku("COFFEE-01") and cart.count >= 3',
                                                     "stats": None})  # fmt: skip
        assert change.status_code == 201
    with server.client("approver") as approver:
        assert (
            approver.post(f"/v1/proposals/{change.json()['id']}/approve", json={}).json()[
                "revision"
            ]
            == 2
        )
    wait_until(lambda: "coffee-croissant" not in fired(server))  # one coffee is not three items
    with server.client("approver") as approver:
        restored = approver.post(
            "/v1/rules/coffee-croissant/restore", json={"revision": 1, "reason": "too strict"}
        )
        assert restored.json()["revision"] == 3
    wait_until(lambda: "coffee-croissant" in fired(server))
    with server.client("approver") as approver:
        history = approver.get("/v1/rules/coffee-croissant/history").json()
        diff = approver.get("/v1/rules/coffee-croissant/diff", params={"a": 1, "b": 2}).json()[
            "diff"
        ]
    revisions = history["revisions"]
    assert [r["revision"] for r in revisions] == [1, 2, 3]
    assert revisions[0]["trigger"] == revisions[2]["trigger"] == 'cart.has_sku("COFFEE-01")'
    assert revisions[0]["priority"] == 70
    assert revisions[0]["author"] == server.keys["approver"].split("_")[1]  # the editor
    assert revisions[0]["source"]["approved_by"] == server.keys["admin"].split("_")[1]
    assert revisions[2]["source"] == {"restored_from": 1}
    assert history["live_revision"] == 3
    actions = [(a["action"], a["actor"]) for a in history["audit"]]
    admin_id, approver_id = (
        server.keys["admin"].split("_")[1],
        server.keys["approver"].split("_")[1],
    )
    assert actions[:2] == [("propose", admin_id), ("restat", admin_id)]
    assert ("approve", approver_id) in actions
    assert actions[-1] == ("restore", approver_id)
    assert '-trigger: cart.has_sku("COFFEE-01")' in diff
    assert '+trigger: cart.has_sku("COFFEE-01") and cart.count >= 3' in diff


def test_deactivate_and_activate_take_effect_within_a_second(server: Server) -> None:
    body = {
        **CART,
        "cart": {"items": [{"sku": "STEAK-01", "category": "main_course", "price": 1200.0}]},
    }
    assert "steak-red-wine" in fired(server, body)
    with server.client("approver") as approver:
        assert approver.post("/v1/rules/steak-red-wine/deactivate").status_code == 200
    assert wait_until(lambda: "steak-red-wine" not in fired(server, body)) < 1.0
    with server.client("approver") as approver:
        assert approver.post("/v1/rules/steak-red-wine/activate", json={}).status_code == 200
    assert wait_until(lambda: "steak-red-wine" in fired(server, body)) < 1.0


def test_review_errors(server: Server) -> None:
    with server.client("author") as author:
        bad = author.post("/v1/proposals", json={"trigger": "cart.totl > 3", "offers": ["GHOST"]})
        assert bad.status_code == 422
        fields = {e["field"]: e["message"] for e in bad.json()["errors"]}
        assert fields["trigger"].startswith("unknown name 'cart.totl' (did you mean 'cart.total'?)")
        assert fields["offers[0]"] == "unknown offer 'GHOST'"
        p = author.post(
            "/v1/proposals", json={"trigger": "cart.count >= 9", "offers": ["DESSERT-01"]}
        ).json()
        assert author.post(f"/v1/proposals/{p['id']}/approve", json={}).status_code == 403  # role
    with server.client("approver") as approver:
        assert approver.post(f"/v1/proposals/{p['id']}/reject", json={}).status_code == 422
        r = approver.post(f"/v1/proposals/{p['id']}/reject", json={"reason": "too broad"})
        assert r.json()["status"] == "rejected"
        assert approver.post(f"/v1/proposals/{p['id']}/approve", json={}).status_code == 409
        assert approver.post("/v1/rules/nope/restore", json={"revision": 1}).status_code == 404


def _backtest(author: Any, proposal_id: str) -> dict[str, Any]:
    r = author.post(f"/v1/proposals/{proposal_id}/backtest", params={"days": 1})
    assert r.status_code == 200, r.text
    report: dict[str, Any] = r.json()
    return report


def test_backtest_and_dry_run_of_a_draft(server: Server, instant: dt.datetime) -> None:
    """The draft nominates a coffee after dessert. At breakfast in New York (06:00–10:59 local
    time, daylight-saving changes included) the live breakfast rule nominates it already, so
    the draft adds nothing; at any other hour it adds the coffee to every dessert cart
    without one. The requests carry their time, so the answer never depends on the clock."""
    breakfast = 6 <= instant.astimezone(NEW_YORK).hour <= 10
    tea = {**CART, "customer": {"id": "bt-guest"}, "at": iso(instant),
           "cart": {"items": [{"sku": "DESSERT-01", "category": "dessert", "price": 220.0, "quantity": 3}]}}  # fmt: skip
    with server.client("author") as author:
        draft = {"rule_id": "dessert-coffee-bt", "trigger": 'cart.has_category("dessert")',
                 "offers": ["COFFEE-01"], "priority": 90}  # fmt: skip
        proposal = author.post("/v1/proposals", json=draft).json()
        before = _backtest(author, proposal["id"])
    for i in range(12):  # past requests: 12 dessert carts, 6 of them with a coffee too
        body = dict(tea, session_id=f"bt-{i}")
        if i % 2:
            body["cart"] = {
                "items": [
                    *tea["cart"]["items"],
                    {"sku": "COFFEE-01", "category": "drinks", "price": 90.0},
                ]
            }
        assert ("breakfast" in fired(server, body)) is breakfast
    with server.client("author") as author:
        report = _backtest(author, proposal["id"])
        assert report["requests"] - before["requests"] == 12
        assert report["fires"] - before["fires"] == 12  # every dessert cart
        # not where the cart has a coffee already, nor where the breakfast rule offers one
        added = report["added"].get("COFFEE-01", 0) - before["added"].get("COFFEE-01", 0)
        assert added == (0 if breakfast else 6)
        ci = report["ev_change_per_request"]
        assert ci["low"] <= ci["mean"] <= ci["high"]
        assert ci["confidence"] == 0.95
        dry = author.post(f"/v1/proposals/{proposal['id']}/dry-run", json=tea)
        assert dry.status_code == 200, dry.text
        rules = [r["id"] for r in dry.json()["rules_fired"]]
        assert "dessert-coffee-bt" in rules
        assert ("breakfast" in rules) is breakfast
        assert dry.json()["trace"]["detailed"] is True
    # nothing of it went live
    assert "dessert-coffee-bt" not in fired(server, tea)
