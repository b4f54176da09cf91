"""Journeys over HTTP on a real server: definitions under four eyes (propose, publish,
versions, restore), reading them, the report, and simulation that writes nothing."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from nextoffer.scenarios import mortgage_journey
from nextoffer.service.db import Database
from nextoffer.service.tables import decisions, enrollments, events, journey_transitions

from .server import Server

# no journey scheduler: nothing but these tests moves customers (or writes decisions)
SERVER_ENV = {"NEXTOFFER_ATTACH_REFRESH_SECONDS": "0", "NEXTOFFER_JOURNEY_TICK_SECONDS": "0"}

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
# eligible for the mortgage journey, outside its holdout and the bank's cross-sell holdout
ELIGIBLE = {"id": "sim-lead", "attributes": {"tier": "premium", "tenureMonths": 36,
            "hasCreditCard": False, "balance": 20000.0}, "holdings": ["checking"]}  # fmt: skip


def _definition(journey_id: str, **changes: Any) -> dict[str, Any]:
    return {**mortgage_journey(), "id": journey_id, **changes}


def _propose(srv: Server, definition: dict[str, Any], role: str = "author") -> Any:
    with srv.client(role) as author:
        return author.post("/v1/journeys/proposals", json={"definition": definition})


def _publish(srv: Server, proposal_id: str, role: str = "approver") -> Any:
    with srv.client(role) as approver:
        return approver.post(f"/v1/journeys/proposals/{proposal_id}/publish", json={})


@pytest.fixture(scope="module")
def mortgage(server: Server) -> str:
    """The bank's mortgage journey, proposed by an author and published by an approver."""
    made = _propose(server, mortgage_journey())
    assert made.status_code == 201, made.text
    published = _publish(server, made.json()["id"])
    assert published.status_code == 200, published.text
    return "mortgage"


@pytest.fixture
def ledger(server: Server) -> Iterator[Database]:
    db = Database(server.database_url)
    yield db
    db.dispose()


def _counts(db: Database) -> dict[str, int]:
    with db.read() as session:
        return {t.name: session.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (decisions, events, journey_transitions, enrollments)}  # fmt: skip


def _simulate(srv: Server, journey: str, body: dict[str, Any]) -> Any:
    with srv.client("author") as author:
        return author.post(f"/v1/journeys/{journey}/simulate", json=body)


def _fields(response: Any) -> set[str]:
    return {e["field"] for e in response.json()["errors"]}


def test_a_bad_definition_is_refused_naming_its_fields_and_nothing_is_stored(
    server: Server,
) -> None:
    broken = _definition("broken-journey")
    broken["steps"] = copy.deepcopy(broken["steps"])
    broken["steps"][1]["next"] = "nowhere"
    broken["steps"][0]["channel"] = "sms"
    broken["steps"][4]["offers"] = ["no-such-offer"]
    refused = _propose(server, broken)
    assert refused.status_code == 422, refused.text
    assert {"steps[1].next", "steps[0].channel", "steps[4].offers[0]"} <= _fields(refused)
    assert "unknown step 'nowhere'" in refused.text
    with server.client("author") as author:
        assert author.get("/v1/journeys/broken-journey").status_code == 404
        stored = author.get("/v1/journeys/proposals", params={"status": "all"}).json()
    assert all(p["journey_id"] != "broken-journey" for p in stored)


def test_four_eyes_versions_and_restore(server: Server) -> None:
    # its author may not publish it, even with an admin key that may do both
    own = _propose(server, _definition("gov-journey"), role="admin")
    assert own.status_code == 201, own.text
    denied = _publish(server, own.json()["id"], role="admin")
    assert denied.status_code == 403
    assert "four eyes" in denied.json()["detail"]
    first = _publish(server, own.json()["id"])
    assert first.status_code == 200, first.text
    assert first.json() == {"journey_id": "gov-journey", "version": 1, "live": True,
                            "proposal": own.json()["id"], "restored_from": None}  # fmt: skip
    # a published proposal is not open any more
    assert _publish(server, own.json()["id"]).status_code == 422
    second = _propose(server, _definition("gov-journey", max_duration="60d"))
    assert _publish(server, second.json()["id"]).json()["version"] == 2
    with server.client("approver") as approver:
        restored = approver.post("/v1/journeys/gov-journey/restore",
                                 json={"version": 1, "reason": "back to 90 days"})  # fmt: skip
        assert restored.status_code == 200, restored.text
        assert restored.json()["version"] == 3
        assert restored.json()["restored_from"] == 1
        missing = approver.post("/v1/journeys/gov-journey/restore", json={"version": 9})
        assert missing.status_code == 404
        shown = approver.get("/v1/journeys/gov-journey").json()
        listed = {j["id"]: j for j in approver.get("/v1/journeys").json()}
    assert shown["live_version"] == 3
    assert [v["version"] for v in shown["versions"]] == [1, 2, 3]
    assert shown["versions"][1]["definition"]["max_duration"] == "60d"
    assert shown["versions"][2]["source"] == {"restored_from": 1}
    assert shown["definition"] == shown["versions"][0]["definition"]
    assert [p["status"] for p in shown["proposals"]] == ["approved", "approved"]
    assert listed["gov-journey"]["live_version"] == 3
    assert listed["gov-journey"]["versions"] == 3
    assert listed["gov-journey"]["open_proposals"] == 0
    assert listed["gov-journey"]["name"] == "Mortgage lead to branch appointment"


def test_a_proposal_is_rejected_with_a_reason(server: Server) -> None:
    made = _propose(server, _definition("rejected-journey"))
    with server.client("approver") as approver:
        path = f"/v1/journeys/proposals/{made.json()['id']}/reject"
        assert approver.post(path, json={"reason": "  "}).status_code == 422
        rejected = approver.post(path, json={"reason": "not this quarter"})
        assert rejected.status_code == 200, rejected.text
        assert rejected.json()["status"] == "rejected"
        assert rejected.json()["review_reason"] == "not this quarter"
        listed = {j["id"]: j for j in approver.get("/v1/journeys").json()}
    assert "rejected-journey" not in listed  # nothing published, nothing open


def test_the_report_of_a_journey_nobody_entered(server: Server) -> None:
    made = _propose(server, _definition("empty-journey"))
    assert _publish(server, made.json()["id"]).status_code == 200
    with server.client("approver") as approver:
        r = approver.get("/v1/journeys/empty-journey/report")
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["entered"], report["holdout"], report["active"], report["exits"]) == (
        0,
        0,
        0,
        {},
    )
    assert [s["step"] for s in report["steps"]][:3] == ["lead", "wait_lead", "responded"]
    assert all((s["entered"], s["waiting"], s["advanced"], s["exited"], s["median_hours"])
               == (0, 0, 0, {}, None) for s in report["steps"])  # fmt: skip
    assert report["comparison"]["insufficient_data"] is True
    assert report["comparison"]["offers"] == ["mortgage"]  # the journey's goal


def test_simulating_a_responder_reaches_the_follow_up_and_writes_nothing(
    server: Server, mortgage: str, ledger: Database
) -> None:
    before = _counts(ledger)
    r = _simulate(server, mortgage, {
        "customer": ELIGIBLE, "at": T0.isoformat(),
        "events": [
            {"type": "request", "channel": "branch", "at": (T0 + 2 * DAY).isoformat()},
            {"type": "click", "offer": "mortgage-lead", "at": (T0 + DAY).isoformat()},
        ],
    })  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    result = r.json()
    assert (result["version"], result["holdout"]) == (1, False)
    moves = [(t["kind"], t["from_step"], t["to_step"]) for t in result["path"]]
    assert moves[0] == ("enter", None, "lead")
    assert ("move", "lead", "wait_lead") in moves
    assert ("move", "responded", "appointment") in moves
    assert ("move", "appointment", "follow_up") in moves
    # the follow-up's 30 days pass, then the customer leaves at the exit step
    assert moves[-2:] == [("move", "follow_up", "offered"), ("exit", "offered", None)]
    assert result["path"][-1]["at"].startswith((T0 + 32 * DAY).date().isoformat())
    assert (result["status"], result["exit_reason"]) == ("exited", "appointment_offered")
    made = [(d["step"], d["channel"], d["control"]) for d in result["decisions"]]
    assert made == [("lead", "email", False), ("appointment", "branch", False)]
    assert "mortgage-lead" in result["decisions"][0]["offers"]
    assert "mortgage-appointment" in result["decisions"][1]["offers"]
    assert _counts(ledger) == before  # no decision, event, transition or enrollment
    with server.client("client") as client:
        mine = client.get(f"/v1/customers/{ELIGIBLE['id']}/journeys")
    assert mine.json()["journeys"] == []


def test_simulating_a_customer_who_never_responds_sends_one_reminder_then_exits(
    server: Server, mortgage: str
) -> None:
    r = _simulate(server, mortgage, {"customer": ELIGIBLE, "at": T0.isoformat()})
    assert r.status_code == 200, r.text
    result = r.json()
    assert [d["step"] for d in result["decisions"]] == ["lead", "reminder"]
    assert (result["status"], result["exit_reason"]) == ("exited", "no_response")
    assert result["path"][-1]["at"].startswith((T0 + 14 * DAY).date().isoformat())


def test_a_basic_tier_customer_never_enters(server: Server, mortgage: str) -> None:
    basic = {
        **ELIGIBLE,
        "id": "sim-basic",
        "attributes": {**ELIGIBLE["attributes"], "tier": "basic"},
    }
    r = _simulate(server, mortgage, {
        "customer": basic, "at": T0.isoformat(),
        "events": [{"type": "request", "channel": "branch", "at": (T0 + DAY).isoformat()}],
    })  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "not_entered"
    assert (r.json()["path"], r.json()["decisions"]) == ([], [])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": [{"type": "click", "at": "2026-03-03T09:00:00"}]}, "events[0].at"),
        ({"at": "2026-03-02T09:00:00"}, "at"),
        ({"at": "yesterday"}, "at"),
        ({"customer": {**ELIGIBLE, "attributes": {**ELIGIBLE["attributes"], "tenureMonths": "36"}}},
         "customer.attributes.tenureMonths"),
        ({"customer": {**ELIGIBLE, "attributes": {**ELIGIBLE["attributes"], "hasCreditCard": "no"}}},
         "customer.attributes.hasCreditCard"),
        ({"customer": {"attributes": ELIGIBLE["attributes"]}}, "customer.id"),
        ({"until": "soon"}, "until"),
        ({"version": 2**63}, "version"),  # too large for a database integer (was a 500)
        ({"version": 0}, "version"),
        ({"at": "9999-12-31T23:00:00+00:00"}, "at"),  # entry plus the maximum would overflow
        ({"at": "0001-01-01T00:00:00+05:00"}, "at"),
        ({"events": [{"type": "click", "at": "9999-12-31T00:00:00Z"}]}, "events[0].at"),
    ],
)  # fmt: skip
def test_mistyped_simulations_are_refused_naming_the_field(
    server: Server, mortgage: str, body: dict[str, Any], field: str
) -> None:
    r = _simulate(server, mortgage, {"customer": ELIGIBLE, "at": T0.isoformat(), **body})
    assert r.status_code == 422, r.text
    assert field in _fields(r)


def test_unknown_journeys_and_versions_are_not_found(server: Server, mortgage: str) -> None:
    body = {"customer": ELIGIBLE, "at": T0.isoformat()}
    assert _simulate(server, "no-such-journey", body).status_code == 404
    assert _simulate(server, mortgage, {**body, "version": 99}).status_code == 404
    with server.client("approver") as approver:
        assert approver.get("/v1/journeys/no-such-journey").status_code == 404
        assert approver.get("/v1/journeys/no-such-journey/report").status_code == 404
        restore = approver.post("/v1/journeys/no-such-journey/restore", json={"version": 1})
        assert restore.status_code == 404
        unknown = approver.post("/v1/journeys/proposals/no-such-proposal/publish", json={})
        assert unknown.status_code == 404


def test_roles(server: Server, mortgage: str) -> None:
    with server.client("client") as client:
        assert client.post("/v1/journeys/proposals",
                           json={"definition": _definition("client-journey")}).status_code == 403  # fmt: skip
        assert client.get("/v1/journeys").status_code == 403
        assert client.get(f"/v1/journeys/{mortgage}/report").status_code == 403
    with server.client() as nobody:
        assert nobody.get("/v1/journeys").status_code == 401
    made = _propose(server, _definition("role-journey"))
    with server.client("author") as author:  # an author proposes; only an approver publishes
        path = f"/v1/journeys/proposals/{made.json()['id']}/publish"
        assert author.post(path, json={}).status_code == 403
        assert (
            author.post(f"/v1/journeys/{mortgage}/restore", json={"version": 1}).status_code == 403
        )


def test_the_journeys_of_an_unknown_customer_are_an_empty_list(
    server: Server, mortgage: str
) -> None:
    with server.client("client") as client:
        r = client.get("/v1/customers/nobody-at-all/journeys")
    assert r.status_code == 200, r.text
    assert r.json() == {"customer_id": "nobody-at-all", "journeys": []}
