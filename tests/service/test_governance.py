"""Governance holds: catalog edits go live only through an approver's publish, every publish is
audited, four eyes is the install's setting, an edit at approval is a new proposal, a bad
catalog item is refused when written and never blocks a rule change, people are named."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from nextoffer.scenarios.demo import demo_snapshot
from nextoffer.service.catalog import service as catalog
from nextoffer.service.db import Database
from nextoffer.service.keys.service import create_key
from nextoffer.service.rules import service as rules
from nextoffer.service.rules.schemas import ProposalIn
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import live_spec, publish
from nextoffer.service.tables import audit
from tests.dashboard.signin import signed_in

from .server import NEXTOFFER, Server

STEAK = {"customer": {"id": "gov-guest"}, "channel": "pos", "session_id": "gov-steak",
         "store": {"id": "S1", "timezone": "Europe/Madrid"},
         "cart": {"items": [{"sku": "STEAK-01", "category": "main_course", "price": 1200.0, "quantity": 1}]}}  # fmt: skip
STEAK_RULE = {"trigger": 'cart.has_sku("STEAK-01")',
              "offers": ["RED-WINE-01", "RED-WINE-02", "PREMIUM-WINE-01"]}  # fmt: skip


@contextmanager
def database(srv: Server) -> Iterator[Session]:
    db = Database(srv.database_url)
    try:
        with db.transaction() as session:
            yield session
    finally:
        db.dispose()


def live(srv: Server) -> dict[str, Any]:
    with database(srv) as session:
        spec = live_spec(session)
    assert spec is not None
    return spec


def brokerage_priority(srv: Server) -> Any:
    return next(o for o in live(srv)["offers"] if o["id"] == "brokerage").get("priority")


def key_id(key: str) -> str:
    return key.split("_")[1]


def outcomes(srv: Server, session_id: str) -> None:
    """A decision and an impression of each offer it showed: new attach counts to refresh."""
    with srv.client("client") as client:
        body = {**STEAK, "customer": {"id": session_id}, "session_id": session_id}
        d = client.post("/v1/decisions", json=body).json()
        events = [{"type": "impression", "offer_id": o["offer"], "decision_id": d["id"],
                   "channel": "pos", "customer_id": session_id,
                   "idempotency_key": f"{d['id']}:{o['offer']}:i"}
                  for p in d["placements"] for o in p["offers"]]  # fmt: skip
        assert events
        assert client.post("/v1/events", json={"events": events}).status_code in (200, 201)


def last_publish(srv: Server) -> dict[str, Any]:
    with srv.client("approver") as approver:
        r = approver.get("/v1/snapshots")
        assert r.status_code == 200, r.text
        entry: dict[str, Any] = r.json()[0]
        return entry


def test_an_authors_catalog_edit_goes_live_only_through_an_approvers_publish(
    server: Server,
) -> None:
    assert brokerage_priority(server) != 17
    with server.client("author") as author:
        r = author.patch("/v1/catalog/offer/brokerage", json={"priority": 17})
        assert r.status_code == 200, r.text
        # an attach-rate refresh with the author's key publishes the new counts, not the edit
        outcomes(server, "gov-refresh")
        refreshed = author.post("/v1/attach-rates/refresh").json()
        assert refreshed["changed"] is True
        assert refreshed["snapshot"] is not None
    assert brokerage_priority(server) != 17
    entry = last_publish(server)
    assert entry["version"] == refreshed["snapshot"]
    assert (entry["actor"], entry["cause"]) == (key_id(server.keys["author"]), "attach-refresh")
    assert set(entry["took_live"]) == {"attach_counts"}
    # approving, restoring, deactivating and activating rules publish the live catalog
    with server.client("author") as author:
        body = {"rule_id": "gov-dessert", "trigger": "cart.count >= 7", "offers": ["DESSERT-01"]}
        proposal = author.post("/v1/proposals", json=body).json()
    with server.client("approver") as approver:
        steps: list[tuple[str, Any]] = [
            (f"/v1/proposals/{proposal['id']}/approve", {}),
            ("/v1/rules/gov-dessert/restore", {"revision": 1}),
            ("/v1/rules/gov-dessert/deactivate", None),
            ("/v1/rules/gov-dessert/activate", {}),
            ("/v1/rules/gov-dessert/deactivate", None),
        ]
        for path, payload in steps:
            step = approver.post(path, json=payload)
            assert step.status_code == 200, step.text
            assert step.json()["snapshot"] == live(server)["version"]
            assert brokerage_priority(server) != 17
            entry = last_publish(server)
            assert (entry["actor"], entry["cause"]) == (key_id(server.keys["approver"]), "rule")
            assert entry["took_live"]["rule"] == "gov-dessert"
        # the approver's publish takes it live, audited with what it took live
        published = approver.post("/v1/catalog/publish", json={})
        assert published.status_code == 201, published.text
    assert brokerage_priority(server) == 17
    entry = last_publish(server)
    assert entry["version"] == published.json()["version"]
    assert (entry["actor"], entry["cause"]) == (key_id(server.keys["approver"]), "catalog")
    assert entry["took_live"] == {"offers": {"changed": ["brokerage"]}}


def test_an_approvers_edit_of_a_rule_is_a_new_proposal_someone_else_approves(
    server: Server,
) -> None:
    one_item = {**STEAK, "session_id": "gov-edit"}
    with server.client("author") as author:
        body = {"rule_id": "gov-big-cart", "trigger": "cart.count >= 4444",
                "offers": ["CROISSANT-01"]}  # fmt: skip
        original = author.post("/v1/proposals", json=body).json()
    edits = {"trigger": "cart.count >= 1", "offers": ["PREMIUM-WINE-01"], "priority": 100}
    with server.client("approver") as approver:
        r = approver.post(f"/v1/proposals/{original['id']}/approve", json={"edits": edits})
        assert r.status_code == 200, r.text
        assert r.json()["live"] is False
        assert r.json()["edits"] == ["offers", "priority", "trigger"]
        edited = r.json()["proposal"]
        assert "gov-big-cart" not in {x["id"] for x in approver.get("/v1/rules").json()}
        # the editor may not approve their own edit
        own = approver.post(f"/v1/proposals/{edited}/approve", json={})
        assert own.status_code == 403
        assert "four eyes" in own.json()["detail"]
        superseded = approver.get("/v1/proposals", params={"status": "superseded"}).json()
        assert original["id"] in {p["id"] for p in superseded}
    with server.client("client") as client:
        fired = client.post("/v1/decisions", json=one_item).json()["rules_fired"]
        assert "gov-big-cart" not in {f["id"] for f in fired}
    with server.client("admin") as admin:
        r = admin.post(f"/v1/proposals/{edited}/approve", json={"reason": "checked"})
        assert r.status_code == 200, r.text
        assert r.json()["revision"] == 1
        revision = admin.get("/v1/rules/gov-big-cart/history").json()["revisions"][0]
        assert (revision["trigger"], revision["offers"], revision["priority"]) == (
            "cart.count >= 1", ["PREMIUM-WINE-01"], 100)  # fmt: skip
        assert revision["author"] == key_id(server.keys["approver"])
        assert revision["source"]["approved_by"] == key_id(server.keys["admin"])
        assert admin.post("/v1/rules/gov-big-cart/deactivate").status_code == 200


def test_new_statistics_for_a_live_rule_are_a_proposal_too(server: Server) -> None:
    def steak_rule(client: httpx.Client) -> dict[str, Any]:
        rule: dict[str, Any] = next(
            r for r in client.get("/v1/rules").json() if r["id"] == "steak-red-wine"
        )
        return rule

    with server.client("author") as author:
        before = steak_rule(author)
        r = author.post("/v1/proposals", json={**STEAK_RULE, "stats": {"lift": 99}})
        assert r.status_code == 201, r.text
        assert (r.json()["rule_id"], r.json()["status"]) == ("steak-red-wine", "open")
        assert steak_rule(author) == before  # the live rule's statistics are as they were
    with server.client("approver") as approver:
        done = approver.post(f"/v1/proposals/{r.json()['id']}/approve", json={}).json()
        assert done["statistics_only"] is True
        after = steak_rule(approver)
    assert after["stats"] == {"lift": 99}
    assert (after["live_revision"], after["latest_revision"]) == (
        before["live_revision"], before["latest_revision"])  # fmt: skip


def test_a_catalog_item_is_checked_in_full_when_written_with_every_problem_named_by_id(
    server: Server,
) -> None:
    with server.client("author") as author:
        bad = {"sku": "mortgage", "attributes": {"foo": 1}, "eligibility": "customer.nope > 1"}
        r = author.put("/v1/catalog/offer/mortgage-2", json=bad)
        assert r.status_code == 422, r.text
        fields = {e["field"] for e in r.json()["errors"]}
        assert "offers.mortgage-2.attributes.foo" in fields
        assert any(f.startswith("offers.mortgage-2.eligibility") for f in fields)
        assert author.get("/v1/catalog/offer/mortgage-2").status_code == 404
        # an offer of a product not written yet is checked in full all the same
        r = author.put("/v1/catalog/offer/later", json={**bad, "sku": "LATER-01"})
        assert r.status_code == 422, r.text
        assert "offers.later.attributes.foo" in {e["field"] for e in r.json()["errors"]}
        # a settings change that would break an offer is refused, naming the offer
        r = author.patch(
            "/v1/catalog/settings/default",
            json={"customer_schema": {"attributes": {"balance": None}}},
        )
        assert r.status_code == 422, r.text
        assert any(
            e["field"].startswith("offers.brokerage.eligibility") for e in r.json()["errors"]
        )
        schema = author.get("/v1/catalog/settings/default").json()["customer_schema"]
        assert "balance" in schema["attributes"]


def test_a_rule_change_is_never_blocked_by_a_pending_catalog_problem(server: Server) -> None:
    with server.client("author") as author:
        # a reference to a product not written yet is stored: the publish checks references
        dangling = {"sku": "NOT-YET", "channels": ["pos"]}
        assert author.put("/v1/catalog/offer/gov-dangling", json=dangling).status_code == 201
        proposal = author.post("/v1/proposals", json={"rule_id": "gov-pending", "trigger": "cart.count >= 8",
                                                       "offers": ["DESSERT-01"]}).json()  # fmt: skip
    with server.client("approver") as approver:
        for path, body in [
            ("/v1/rules/steak-red-wine/deactivate", None),
            ("/v1/rules/steak-red-wine/activate", {}),
            ("/v1/rules/steak-red-wine/restore", {"revision": 1}),
            (f"/v1/proposals/{proposal['id']}/approve", {}),
            ("/v1/rules/gov-pending/deactivate", None),
        ]:
            r = approver.post(path, json=body)
            assert r.status_code == 200, (path, r.text)
        refused = approver.post("/v1/catalog/publish", json={})
        assert refused.status_code == 422
        assert any(e["field"] == "offers.gov-dangling.sku" for e in refused.json()["errors"])
    with server.client("author") as author:
        assert author.delete("/v1/catalog/offer/gov-dangling").status_code == 204
    with server.client("approver") as approver:
        assert approver.post("/v1/catalog/publish", json={}).status_code == 201


def test_people_are_named_by_their_keys_label_and_a_note_by_its_author(server: Server) -> None:
    with database(server) as session:
        ana = create_key(session, "author", "Ana Author")
        dana = create_key(session, "approver", "Dana Approver")
    auth = {"Authorization": f"Bearer {ana}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=30) as author:
        body = {"rule_id": "gov-named", "trigger": "cart.count >= 9", "offers": ["DESSERT-01"]}
        proposal = author.post("/v1/proposals", json=body).json()
        assert proposal["author_label"] == "Ana Author"
    auth = {"Authorization": f"Bearer {dana}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=30) as approver:
        r = approver.post(f"/v1/proposals/{proposal['id']}/approve", json={"reason": "pairs well"})
        assert r.status_code == 200, r.text
        history = approver.get("/v1/rules/gov-named/history").json()
        assert approver.post("/v1/rules/gov-named/deactivate").status_code == 200
        publishes = approver.get("/v1/snapshots").json()
    revision = history["revisions"][0]
    assert (revision["author"], revision["author_label"]) == (key_id(ana), "Ana Author")
    assert (revision["reason"], revision["reason_by_label"]) == ("pairs well", "Dana Approver")
    assert revision["approved_by_label"] == "Dana Approver"
    acts = {a["action"]: (a["actor"], a["actor_label"]) for a in history["audit"]}
    assert acts["propose"] == (key_id(ana), "Ana Author")
    assert acts["approve"] == (key_id(dana), "Dana Approver")
    assert publishes[0]["actor_label"] == "Dana Approver"
    # the dashboard shows the labels, and the note under the approver's name
    page, _ = signed_in(server.url, dana)
    try:
        html = page.get("/dashboard/rules/gov-named").text
    finally:
        page.close()
    assert "Ana Author" in html
    assert "Dana Approver</span>: “pairs well”" in html
    assert key_id(dana) in html  # the key id stays at hand


def test_a_patch_changes_only_the_fields_it_names(server: Server) -> None:
    with server.client("author") as author:
        before = author.get("/v1/catalog/offer/brokerage").json()
        assert before["eligibility"]
        assert before["emphasis"]
        merge = {"Content-Type": "application/merge-patch+json"}
        r = author.patch("/v1/catalog/offer/brokerage", content=b'{"priority": 90}', headers=merge)
        assert r.status_code == 200, r.text
        assert r.json() == {**before, "priority": 90}
        assert author.get("/v1/catalog/offer/brokerage").json() == {**before, "priority": 90}
        # null takes a field back to its default; plain JSON is accepted too
        r = author.patch("/v1/catalog/offer/brokerage", json={"emphasis": None})
        assert r.status_code == 200, r.text
        assert "emphasis" not in r.json()
        assert r.json()["eligibility"] == before["eligibility"]
        # validated like PUT, named by id; nothing is written
        bad = author.patch("/v1/catalog/offer/brokerage", json={"priority": 300})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "offers.brokerage.priority"
        text = author.patch("/v1/catalog/offer/brokerage", content=b"{}",
                            headers={"Content-Type": "text/plain"})  # fmt: skip
        assert text.status_code == 415
        assert author.patch("/v1/catalog/offer/nope", json={"priority": 1}).status_code == 404
        # a PUT is a full replacement: what it does not give is gone
        r = author.put("/v1/catalog/offer/brokerage", json={"sku": "brokerage", "priority": 90})
        assert r.status_code == 200
        assert "eligibility" not in author.get("/v1/catalog/offer/brokerage").json()
        assert author.put("/v1/catalog/offer/brokerage", json=before).status_code == 200
    with server.client("approver") as approver:
        assert approver.post("/v1/catalog/publish", json={}).status_code == 201


def nextoffer(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "NEXTOFFER_DATABASE_URL": url, **env}
    return subprocess.run([str(NEXTOFFER), *args], capture_output=True, text=True, env=environment,
                          timeout=120)  # fmt: skip


def test_self_approval_is_the_installs_setting_not_the_invokers_environment(
    db: Database, database_url: str
) -> None:
    with db.transaction() as session:
        load_spec(session, demo_snapshot())
        publish(session, "gov-1")
        admin, approver = create_key(session, "admin"), create_key(session, "approver")
        body = {"rule_id": "gov-self", "trigger": "cart.count >= 5", "offers": ["DESSERT-01"]}
        proposal = rules.propose(session, key_id(admin), ProposalIn.model_validate(body))["id"]
    relaxed = {"NEXTOFFER_ALLOW_SELF_APPROVAL": "true"}
    refused = nextoffer(database_url, "rules", "approve", proposal, "--key", admin, **relaxed)
    assert refused.returncode == 1
    assert "four eyes" in refused.stderr
    denied = nextoffer(database_url, "rules", "self-approval", "allow", "--key", approver)
    assert denied.returncode == 1
    assert "admin" in denied.stderr
    shown = nextoffer(database_url, "rules", "self-approval", "--key", approver)
    assert "forbidden" in shown.stdout
    allowed = nextoffer(database_url, "rules", "self-approval", "allow", "--key", admin)
    assert allowed.returncode == 0, allowed.stderr
    approved = nextoffer(database_url, "rules", "approve", proposal, "--key", admin)
    assert approved.returncode == 0, approved.stderr
    with db.read() as session:
        assert rules.self_approval(session) is True
        assert rules.history(session, "gov-self")["live_revision"] == 1
        changed = session.execute(
            sa.select(audit.c.actor, audit.c.details).where(audit.c.action == "self-approval")
        ).all()
    assert [(a, d) for a, d in changed] == [(key_id(admin), {"allowed": True})]


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [  # RFC 7396, appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_a_merge_patch_follows_rfc_7396(target: Any, patch: Any, result: Any) -> None:
    assert catalog.merge_patch(target, patch) == result
