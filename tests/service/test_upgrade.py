"""Upgrading keeps a published snapshot serving (issue 17).

The new checks (a condition's worst-case cost, above all) govern what may be written and
published. A database the old code wrote may hold a live rule those checks refuse: the
issue's nested count was accepted and put live. Such a stored snapshot still loads: the
rule is loaded disabled (never evaluated, so it cannot stall a worker), logged, and shown
as needing attention, and the other rules serve; deactivating it works.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from nextoffer.core.request import MAX_CART_ITEMS
from nextoffer.core.rules import condition_adapter, parse_text, to_text
from nextoffer.scenarios import checkout_snapshot
from nextoffer.service.db import Database
from nextoffer.service.errors import Unavailable
from nextoffer.service.snapshots.cache import SnapshotCache
from nextoffer.service.tables import audit, rule_revisions, rules, snapshots
from nextoffer.testing.postgres import ThrowawayPostgres

from ..dashboard.signin import signed_in
from .server import NEXTOFFER, Server, load_catalog

ISSUE = "count(a in cart.items: count(b in cart.items: a.price > b.price) > 0) >= 0"
# three levels over a 500-item cart: 125 million steps, minutes of one core if it ran
CUBIC = (
    "count(a in cart.items: count(b in cart.items: count(c in cart.items:"
    " a.price > b.price and b.price > c.price) > 0) > 0) >= 0"
)
STEAK = {"sku": "STEAK-01", "category": "main_course", "quantity": 1, "price": 1200.0}


def old_publish(url: str, version: str, rule_id: str, text: str, offers: list[str]) -> None:
    """Put ``rule_id`` live as the code before the cost bound did: a revision, the rule's
    live revision, and a snapshot (the live one with the rule), written straight to the
    tables."""
    ast = parse_text(text).ast
    trigger = condition_adapter.dump_python(ast, mode="json")
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    db = Database(url)
    try:
        with db.transaction() as session:
            spec = session.execute(
                sa.select(snapshots.c.spec).order_by(snapshots.c.seq.desc()).limit(1)
            ).scalar_one()
            session.execute(sa.insert(rules).values(id=rule_id, live_revision=1, created_at=now))
            session.execute(sa.insert(rule_revisions).values(
                rule_id=rule_id, revision=1, trigger=trigger, text=to_text(ast), offers=offers,
                priority=50, description="", author="old-approver", reason="approved before 17",
                source={"loaded": True}, created_at=now))  # fmt: skip
            rule = {"id": rule_id, "revision": 1, "trigger": trigger, "offers": offers,
                    "priority": 50, "description": ""}  # fmt: skip
            spec = {**spec, "version": version,
                    "rules": [*[r for r in spec["rules"] if r["id"] != rule_id], rule]}  # fmt: skip
            session.execute(
                sa.insert(snapshots).values(version=version, spec=spec, published_at=now)
            )
            session.execute(sa.insert(audit).values(
                action="publish", actor="old-approver", subject=version,
                details={"cause": "rule", "took_live": {"rules": {"added": [rule_id]}}}))  # fmt: skip
    finally:
        db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A server started on a database whose live snapshot the old code published with the
    issue's rule and a three-level one in it (a restart: the upgrade)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'upgrade.db'}"
    else:
        pg: ThrowawayPostgres = request.getfixturevalue("postgres")
        url = pg.new_database("upgrade")
    before = Server(url).start()
    load_catalog(before)
    before.stop()
    old_publish(url, "old-1", "nested-count", ISSUE, ["DESSERT-01"])
    old_publish(url, "old-2", "cubic-count", CUBIC, ["DESSERT-01"])
    srv = Server(url)
    try:
        srv.start()
    except RuntimeError:
        srv.stop()
        raise
    yield srv
    srv.stop()


def checkout(items: list[dict[str, Any]], guest: str = "up-guest") -> dict[str, Any]:
    return {"customer": {"id": guest}, "channel": "pos", "session_id": f"{guest}-s",
            "store": {"id": "S1", "timezone": "America/New_York"}, "cart": {"items": items}}  # fmt: skip


def long_cart() -> list[dict[str, Any]]:
    lines = [{"sku": f"SKU-{i}", "category": "misc", "price": 1.0 + i}
             for i in range(MAX_CART_ITEMS - 1)]  # fmt: skip
    return [STEAK, *lines]


def attention(server: Server) -> dict[str, list[str]]:
    """The rules the live snapshot holds disabled, with their problems."""
    with server.client("approver") as approver:
        live = approver.get("/v1/snapshots/live")
        assert live.status_code == 200, live.text
        return {a["rule"]: a["problems"] for a in live.json()["needs_attention"]}


def wait_for_version(server: Server, version: str) -> None:
    deadline = time.monotonic() + 10
    with server.client("client") as client:
        while client.get("/v1/snapshots/live").json()["version"] != version:
            assert time.monotonic() < deadline, f"{version} did not go live"
            time.sleep(0.1)


def test_a_stored_snapshot_with_a_rule_the_cost_bound_refuses_still_loads_and_serves(
    upgraded: Server,
) -> None:
    with upgraded.client("client") as client:
        health = client.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["checks"]["snapshot"] == "old-2"
        r = client.post("/v1/decisions", json=checkout([STEAK]))
        assert r.status_code == 200, r.text
        fired = [f["id"] for f in r.json()["rules_fired"]]
        assert "steak-red-wine" in fired
        assert "nested-count" not in fired
        assert "cubic-count" not in fired
    found = attention(upgraded)
    assert sorted(found) == ["cubic-count", "nested-count"]
    assert found["nested-count"] == [
        "'count' may take up to 752,002 steps on a cart of 500 items (the most a request may"
        " carry), more than the limit of 20,000; nested quantifiers multiply their work"
    ]
    log = Path(upgraded.log.name).read_text()
    assert "snapshot old-2: rule nested-count v1 is disabled (it never fires)" in log
    assert "rules deactivate nested-count" in log


def test_a_disabled_rule_cannot_stall_the_worker_on_the_longest_cart(upgraded: Server) -> None:
    with upgraded.client("client") as client:
        started = time.monotonic()
        r = client.post("/v1/decisions", json=checkout(long_cart(), "up-long"))
        took = time.monotonic() - started
        assert r.status_code == 200, r.text
        fired = [f["id"] for f in r.json()["rules_fired"]]
        assert "steak-red-wine" in fired
        assert "cubic-count" not in fired
        # the three-level rule would take 125 million steps (minutes); disabled, it never runs
        assert took < 10, took
        assert client.get("/healthz").status_code == 200


def test_rules_and_the_dashboard_show_a_disabled_rule_as_needing_attention(
    upgraded: Server,
) -> None:
    with upgraded.client("approver") as approver:
        listed = {r["id"]: r for r in approver.get("/v1/rules").json()}
    assert listed["nested-count"]["live_revision"] == 1
    assert listed["nested-count"]["needs_attention"]["state"] == "disabled"
    assert listed["nested-count"]["needs_attention"]["problems"][0].startswith(
        "'count' may take up to 752,002 steps"
    )
    assert listed["steak-red-wine"]["needs_attention"] is None
    client, _ = signed_in(upgraded.url, upgraded.keys["approver"])
    try:
        page = client.get("/dashboard/rules")
        assert page.status_code == 200
        assert page.text.count("disabled: needs attention") == 2
        rule = client.get("/dashboard/rules/nested-count")
        assert "disabled: needs attention" in rule.text
        assert "752,002 steps" in rule.text
        assert "disabled: needs attention" not in client.get("/dashboard/rules/steak-red-wine").text
    finally:
        client.close()


def test_publishing_carries_a_disabled_rule_over_and_only_what_was_published(
    upgraded: Server,
) -> None:
    with upgraded.client("approver") as approver:
        # an unrelated rule change and a catalog publish are not blocked by the disabled rules
        r = approver.post("/v1/rules/steak-red-wine/deactivate")
        assert r.status_code == 200, r.text
        r = approver.post("/v1/catalog/publish", json={"version": "after-upgrade"})
        assert r.status_code == 201, r.text
        assert r.json()["needs_attention"] == ["cubic-count", "nested-count"]
        wait_for_version(upgraded, "after-upgrade")
        assert sorted(attention(upgraded)) == ["cubic-count", "nested-count"]
        # a costly revision not live now is checked in full: restoring it is refused
        r = approver.post("/v1/rules/cubic-count/deactivate")
        assert r.status_code == 200, r.text
        wait_for_version(upgraded, r.json()["snapshot"])
        assert sorted(attention(upgraded)) == ["nested-count"]
        for refused in (
            approver.post("/v1/rules/cubic-count/activate"),
            approver.post("/v1/rules/cubic-count/restore", json={"revision": 1}),
        ):
            assert refused.status_code == 422, refused.text
            fields = {e["field"] for e in refused.json()["errors"]}
            assert any(f.startswith("rules.cubic-count.trigger") for f in fields), fields
        listed = {r["id"]: r for r in approver.get("/v1/rules").json()}
        assert listed["cubic-count"]["live_revision"] is None


def test_nextoffer_rules_deactivate_takes_a_disabled_rule_out(upgraded: Server) -> None:
    env = {**os.environ, "NEXTOFFER_DATABASE_URL": upgraded.database_url, "COLUMNS": "250"}
    listed = subprocess.run(
        [str(NEXTOFFER), "rules", "list", "--key", upgraded.keys["approver"]],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    flagged = [line for line in listed.stdout.splitlines() if "needs attention" in line]
    assert len(flagged) == 2
    assert any("nested-count" in line for line in flagged)
    done = subprocess.run(
        [str(NEXTOFFER), "rules", "deactivate", "nested-count", "--key", upgraded.keys["approver"],
         "--json"], capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with upgraded.client("approver") as approver:
        rules_ = {r["id"]: r for r in approver.get("/v1/rules").json()}
        assert rules_["nested-count"]["live_revision"] is None
    deadline = time.monotonic() + 10
    while "nested-count" in attention(upgraded):
        assert time.monotonic() < deadline, "the deactivation did not go live"
        time.sleep(0.1)
    assert sorted(attention(upgraded)) == ["cubic-count"]


def store_spec(db: Database, spec: dict[str, Any]) -> None:
    at = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    with db.transaction() as session:
        session.execute(
            sa.insert(snapshots).values(version=spec["version"], spec=spec, published_at=at)
        )


def test_a_stored_snapshot_that_does_not_load_keeps_the_previous_one_serving(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    cache = SnapshotCache(db, poll=0)
    store_spec(db, {**checkout_snapshot(), "version": "good"})
    assert cache.get().version == "good"
    broken = checkout_snapshot()
    broken["rules"][0]["offers"] = ["GHOST"]
    store_spec(db, {**broken, "version": "broken"})
    with caplog.at_level(logging.ERROR, logger="nextoffer.snapshots"):
        for _ in range(3):
            assert cache.get(check=True).version == "good"
    # logged once, not built again at every check
    assert [r.getMessage().splitlines()[0] for r in caplog.records] == [
        "snapshot broken does not load; serving good meanwhile:"
    ]
    store_spec(db, {**checkout_snapshot(), "version": "fixed"})
    assert cache.get(check=True).version == "fixed"


def test_a_worker_with_no_snapshot_that_loads_answers_503(db: Database) -> None:
    broken = checkout_snapshot()
    broken["rules"][0]["offers"] = ["GHOST"]
    store_spec(db, {**broken, "version": "broken"})
    with pytest.raises(Unavailable) as info:
        SnapshotCache(db, poll=0).get()
    assert info.value.status == 503
    assert info.value.message == (
        "the live snapshot does not load: rules[0].offers[0]: unknown offer 'GHOST'"
    )
