"""Outbound campaigns (``service/campaigns``): one decision per customer of a list or a
segment, through the decision path, resumable without deciding anyone twice; on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from nextoffer.core.request import Request
from nextoffer.scenarios import bank_snapshot
from nextoffer.service.app import create_app
from nextoffer.service.campaigns import service as campaigns
from nextoffer.service.config import Settings
from nextoffer.service.db import Database
from nextoffer.service.decisions import service as decisions
from nextoffer.service.errors import InvalidInput
from nextoffer.service.keys.service import create_key
from nextoffer.service.ledger import service as ledger
from nextoffer.service.snapshots.cache import SnapshotCache
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish
from nextoffer.service.tables import customers
from nextoffer.service.tables import decisions as decisions_table
from tests.clock import NOW

CUSTOMERS = 60


def _customer(i: int) -> dict[str, Any]:
    """Premium (even) and basic (odd) customers; every third has a credit card."""
    return {"id": f"c-{i:03d}", "attributes": {
                "tier": "premium" if i % 2 == 0 else "basic", "tenureMonths": 12 + i,
                "hasCreditCard": i % 3 == 0, "balance": 1000.0 * i},
            "holdings": ["checking"], "segments": [], "updated_at": NOW}  # fmt: skip


@pytest.fixture
def bank(db: Database) -> Database:
    """The bank's catalog published, 60 stored customers c-000 … c-059."""
    with db.transaction() as session:
        load_spec(session, bank_snapshot())
        publish(session, "bank-1")
        session.execute(sa.insert(customers), [_customer(i) for i in range(CUSTOMERS)])
    return db


def _run(db: Database, campaign: campaigns.Campaign, at: dt.datetime = NOW, **kw: Any) -> Any:
    return campaigns.run(db, SnapshotCache(db).get(), None, campaign, at, **kw)


def _rows(db: Database) -> list[Any]:
    with db.read() as session:
        return list(session.execute(sa.select(decisions_table).order_by(decisions_table.c.seq)))


def _campaign_rows(db: Database, name: str) -> list[Any]:
    return [r for r in _rows(db) if (r.idempotency_key or "").startswith(f"campaign:{name}:")]


def _offers(placements: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {p["placement"]: [o["offer"] for o in p["offers"]] for p in placements}


def _single_decisions(db: Database, ids: list[str], at: dt.datetime) -> dict[str, Any]:
    """What a single live decision on email would answer each customer at ``at``, each in a
    transaction rolled back (nothing of it stays)."""
    cache, clock = SnapshotCache(db), decisions.LiveClock(lambda: at)
    out = {}
    for customer in ids:
        with db.sessions() as session, session.begin():
            request = Request.model_validate({"customer": {"id": customer}, "channel": "email"})
            out[customer] = decisions.decide(session, cache, request, clock=clock)
            session.rollback()
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_a_segment_campaign_decides_each_member_once_as_single_decisions_would(
    bank: Database, workers: int
) -> None:
    members = [f"c-{i:03d}" for i in range(0, CUSTOMERS, 2)]  # the premium customers
    single = _single_decisions(bank, members, NOW)
    assert _rows(bank) == []
    segment = 'customer.tier == "premium"'
    campaign = campaigns.Campaign("spring", "email", segment=segment)
    result = _run(bank, campaign, page=7, workers=workers)  # PostgreSQL: 2 processes
    assert [s["customer_id"] for s in result["sends"]] == members
    assert (result["customers"], result["decided"], result["already_decided"]) == (30, 30, 0)
    rows = _campaign_rows(bank, "spring")
    assert sorted(r.customer_id for r in rows) == members  # one each, no one else
    assert all(r.idempotency_key == f"campaign:spring:{r.customer_id}" for r in rows)
    for send in result["sends"]:
        expected = single[send["customer_id"]]
        assert send["control"] == expected["control"]
        if not expected["control"]:
            assert send["offers"] == _offers(expected["placements"])
    stored = {r.id: r for r in rows}
    for send in result["sends"]:
        row = stored[send["decision_id"]]
        assert row.customer_id == send["customer_id"]
        assert row.channel == "email"
        assert row.control == send["control"]


def test_a_list_campaign_decides_each_listed_customer_once(bank: Database) -> None:
    listed = ["c-005", "c-001", "c-005", "stranger-1", "c-002"]
    result = _run(bank, campaigns.Campaign("list", "email", ("email-hero",), customers=listed))
    assert [s["customer_id"] for s in result["sends"]] == ["c-005", "c-001", "stranger-1", "c-002"]
    rows = _campaign_rows(bank, "list")
    assert Counter(r.customer_id for r in rows) == Counter(
        ["c-005", "c-001", "stranger-1", "c-002"]
    )
    for send in result["sends"]:  # only the placement asked for
        assert set(send["offers"]) <= {"email-hero"}


def test_holdout_customers_are_marked_and_sent_nothing(bank: Database) -> None:
    listed = [f"c-{i:03d}" for i in range(CUSTOMERS)]
    result = _run(bank, campaigns.Campaign("holdout", "email", customers=listed))
    control = [s for s in result["sends"] if s["control"]]
    assert 0 < len(control) < len(listed)  # 10% of the bank's customers, by their ids' hash
    assert result["control"] == len(control)
    for send in control:
        assert send["send"] is False
        assert send["offers"] == {}
    rows = {r.id: r for r in _campaign_rows(bank, "holdout")}
    for send in result["sends"]:
        row = rows[send["decision_id"]]
        assert row.control == send["control"]
        if row.control:
            assert row.experiment == "bank-cross-sell-2026"
            assert row.shown == []
    assert any(s["send"] for s in result["sends"])


def _after_the_ledger(db: Database, minutes: int) -> dt.datetime:
    """``minutes`` after the newest decision's ``occurred_at``: the contact policies count
    the ledger's contacts by the database's clock, so a later run is placed after them."""
    newest = max(r.occurred_at for r in _rows(db))
    return ledger.utc(newest) + dt.timedelta(minutes=minutes)


def test_the_monthly_cap_holds_across_campaigns_and_later_decisions(bank: Database) -> None:
    listed = [f"c-{i:03d}" for i in range(0, 30, 2)]  # premium: up to two offers an e-mail
    runs = [_run(bank, campaigns.Campaign("first", "email", customers=listed))]
    for name in ("second", "third"):
        at = _after_the_ledger(bank, 1)
        runs.append(_run(bank, campaigns.Campaign(name, "email", customers=listed), at))
    later = _single_decisions(bank, listed, _after_the_ledger(bank, 1))
    shown: Counter[str] = Counter()
    for r in _rows(bank):
        shown[r.customer_id] += len(r.shown)
    reached = []
    for customer in listed:
        sends = [next(s for s in run["sends"] if s["customer_id"] == customer) for run in runs]
        counts = [sum(len(v) for v in s["offers"].values()) for s in sends]
        assert shown[customer] == sum(counts) <= 4  # the bank's 4 contacts a month
        for i in range(len(counts)):  # once the cap is reached, nothing more this month
            if sum(counts[:i]) == 4:
                assert counts[i] == 0
        if sum(counts) == 4:
            reached.append(customer)
            assert not any(_offers(later[customer]["placements"]).values())
        else:  # below the cap, the later decision still shows something
            assert any(_offers(later[customer]["placements"]).values()) or sends[0]["control"]
    assert len(reached) >= 5  # the test reached the cap for many


def test_a_run_that_failed_midway_resumes_with_the_rest_only(
    bank: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = [f"c-{i:03d}" for i in range(CUSTOMERS)]
    written = ledger.append_new_decisions
    pages = []

    def third_page_fails(session: Any, rows: Any) -> None:
        pages.append(len(rows))
        if len(pages) == 3:
            raise RuntimeError("the process dies here")
        written(session, rows)

    monkeypatch.setattr(ledger, "append_new_decisions", third_page_fails)
    campaign = campaigns.Campaign("resumed", "email", customers=listed)
    with pytest.raises(RuntimeError):
        _run(bank, campaign, page=10)
    assert len(_campaign_rows(bank, "resumed")) == 20  # two whole pages, nothing of the third
    monkeypatch.setattr(ledger, "append_new_decisions", written)
    result = _run(bank, campaign, page=10)
    assert (result["decided"], result["already_decided"]) == (40, 20)
    assert [s["customer_id"] for s in result["sends"]] == listed
    rows = _campaign_rows(bank, "resumed")
    assert Counter(r.customer_id for r in rows) == Counter(listed)  # exactly one each
    assert {s["decision_id"] for s in result["sends"]} == {r.id for r in rows}
    again = _run(bank, campaign, page=10)  # a third run decides nobody
    assert (again["decided"], again["already_decided"]) == (0, 60)
    assert again["sends"] == result["sends"]


KILLED_MID_RUN = """
import datetime as dt, sys, time
from nextoffer.service.campaigns import service as campaigns
from nextoffer.service.db import Database
from nextoffer.service.ledger import service as ledger
from nextoffer.service.snapshots.cache import SnapshotCache

written = ledger.append_new_decisions
pages = []

def stall(session, rows):  # the third page decided and written, not committed
    written(session, rows)
    pages.append(len(rows))
    if len(pages) == 3:
        session.flush()
        open(sys.argv[2], "w").write(str(len(rows)))
        time.sleep(600)

ledger.append_new_decisions = stall
db = Database(sys.argv[1])
now = dt.datetime.fromisoformat(sys.argv[3])
listed = [f"c-{i:03d}" for i in range(60)]
campaign = campaigns.Campaign("killed", "email", customers=listed)
campaigns.run(db, SnapshotCache(db).get(), None, campaign, now, page=10)
"""


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_run_killed_mid_page_resumes_and_decides_everyone_exactly_once(
    bank: Database, database_url: str, tmp_path: Path
) -> None:
    flag = tmp_path / "mid-run"
    child = subprocess.Popen([sys.executable, "-c", KILLED_MID_RUN, database_url, str(flag),
                              NOW.isoformat()])  # fmt: skip
    try:
        for _ in range(600):
            if flag.exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert flag.exists(), "the child never reached the middle of its run"
        assert int(flag.read_text()) == 10
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert len(_campaign_rows(bank, "killed")) == 20  # the killed page left nothing
    listed = [f"c-{i:03d}" for i in range(CUSTOMERS)]
    result = _run(bank, campaigns.Campaign("killed", "email", customers=listed), page=10)
    assert (result["decided"], result["already_decided"]) == (40, 20)
    rows = _campaign_rows(bank, "killed")
    assert Counter(r.customer_id for r in rows) == Counter(listed)


@pytest.mark.parametrize(
    ("campaign", "field", "words"),
    [
        (campaigns.Campaign("x", "fax", customers=["c-001"]), "channel", "unknown channel 'fax'"),
        (campaigns.Campaign("x", "email", ("email-hero", "banner"), customers=["c-001"]),
         "placements[1]", "unknown placement 'banner'"),
        (campaigns.Campaign("x", "email", segment="customer.tier == "), "segment", "line 1"),
        (campaigns.Campaign("x", "email", segment="customer.shoeSize > 3"), "segment",
         "shoeSize"),
        (campaigns.Campaign("x", "email"), "customers", "a list of customers or a segment"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_naming_the_field_before_anything_is_decided(
    bank: Database, campaign: campaigns.Campaign, field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        _run(bank, campaign)
    assert caught.value.errors[0]["field"] == field
    assert words in caught.value.errors[0]["message"]
    assert _rows(bank) == []


# -- the API ------------------------------------------------------------------------------


@pytest.fixture
def app(bank: Database, database_url: str) -> Iterator[FastAPI]:
    application = create_app(Settings(database_url=database_url, attach_refresh_seconds=0),
                             clock=lambda: NOW)  # fmt: skip
    with application.state.db.transaction() as session:
        application.state.keys = {role: create_key(session, role, f"{role} person")
                                  for role in ("author", "client")}  # fmt: skip
    yield application
    if application.state.pipeline is not None:
        asyncio.run(application.state.pipeline.close())
        asyncio.run(application.state.db.dispose_async())
    application.state.db.dispose()


def _post(app: FastAPI, body: Any, role: str = "author") -> httpx.Response:
    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {app.state.keys[role]}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post("/v1/campaigns", json=body, headers=headers)

    return asyncio.run(post())


def test_the_api_runs_a_segment_campaign_and_a_second_post_decides_nobody_again(
    bank: Database, app: FastAPI
) -> None:
    body = {"name": "api-spring", "channel": "email", "segment": "customer.tenureMonths >= 60"}
    first = _post(app, body)
    assert first.status_code == 200, first.text
    members = [f"c-{i:03d}" for i in range(48, CUSTOMERS)]
    assert [s["customer_id"] for s in first.json()["sends"]] == members
    again = _post(app, body)
    assert again.status_code == 200
    assert (again.json()["decided"], again.json()["already_decided"]) == (0, len(members))
    assert again.json()["sends"] == first.json()["sends"]
    assert len(_campaign_rows(bank, "api-spring")) == len(members)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a", "channel": "fax", "customers": ["c-001"]}, "channel"),
        ({"name": "a", "channel": "email", "placements": ["nope"], "customers": ["c-1"]},
         "placements[0]"),
        ({"name": "a", "channel": "email", "segment": "customer.nope"}, "segment"),
        ({"name": "a b", "channel": "email", "customers": ["c-1"]}, "name"),
        ({"name": "a", "channel": "email"}, "customers"),
    ],
)  # fmt: skip
def test_the_api_refuses_bad_input_with_a_422_naming_the_field(
    bank: Database, app: FastAPI, body: dict[str, Any], field: str
) -> None:
    answer = _post(app, body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == field
    assert _rows(bank) == []


def test_a_client_key_cannot_run_a_campaign(bank: Database, app: FastAPI) -> None:
    answer = _post(app, {"name": "a", "channel": "email", "customers": ["c-001"]}, role="client")
    assert answer.status_code == 403
