"""What a campaign writes to the ledger (``service/campaigns``): each customer's row is the
row a single live decision on the same channel at the same moment would write, column by
column (the request as given, the decision with its exploration's logged probabilities and
candidates, the trace, the features, the uplift estimates used), but for the campaign's
idempotency key; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from nextoffer.core.request import Request
from nextoffer.scenarios import bank_snapshot
from nextoffer.service.campaigns import service as campaigns
from nextoffer.service.db import Database
from nextoffer.service.decisions import service as decisions
from nextoffer.service.snapshots.cache import SnapshotCache
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish
from nextoffer.service.tables import cate_estimates, customers
from nextoffer.service.tables import decisions as decisions_table
from tests.clock import NOW

CUSTOMERS = 40
# what the database fills, and the stage timings of the trace: never the same twice
UNPINNED = ("seq", "occurred_at", "idempotency_key")


def _customer(i: int) -> dict[str, Any]:
    return {"id": f"c-{i:03d}", "attributes": {
                "tier": ("basic", "premium", "gold")[i % 3], "tenureMonths": 3 * i,
                "hasCreditCard": i % 4 == 0, "balance": 500.0 * i},
            "holdings": ["checking", "savings-account"][: 1 + i % 2],
            "segments": ["VIP"] if i % 7 == 0 else [], "updated_at": NOW}  # fmt: skip


def _estimate(i: int, offer: str, tau: float) -> dict[str, Any]:
    return {"customer_id": f"c-{i:03d}", "offer_id": offer, "tau": tau, "lower": tau - 0.05,
            "upper": tau + 0.05, "base_rate": 0.1, "segment": "persuadable" if tau > 0 else
            "sure-thing", "model_version": "m-1", "scored_at": NOW}  # fmt: skip


@pytest.fixture
def exploring_bank(db: Database) -> Database:
    """The bank with its e-mail exploring by Thompson sampling (each decision logs the
    probabilities of its draws and the candidates drawn among), 40 stored customers, and
    CATE estimates for some of them (τ and intervals, which Thompson sampling draws from)."""
    spec = bank_snapshot()
    for channel in spec["channels"]:
        if channel["id"] == "email":
            channel["exploration"] = {"kind": "thompson"}
    with db.transaction() as session:
        load_spec(session, spec)
        publish(session, "bank-1")
        session.execute(sa.insert(customers), [_customer(i) for i in range(CUSTOMERS)])
        session.execute(sa.insert(cate_estimates), [
            *(_estimate(i, "savings-account", -0.04) for i in range(0, CUSTOMERS, 3)),
            *(_estimate(i, "credit-card", 0.08) for i in range(1, CUSTOMERS, 4)),
        ])  # fmt: skip
    return db


def _pinned(row: Any) -> dict[str, Any]:
    out = {k: v for k, v in row._asdict().items() if k not in UNPINNED}
    if out["trace"] is not None:
        out["trace"] = {**out["trace"], "stages": [
            {k: v for k, v in s.items() if k != "micros"} for s in out["trace"]["stages"]
        ]}  # fmt: skip
    return out


def _single_rows(db: Database, members: list[str], made: list[str]) -> dict[str, Any]:
    """The row a single live decision on e-mail at NOW writes for each member (with the
    decision id the campaign will give it), each in a transaction rolled back."""
    cache, clock = SnapshotCache(db), decisions.LiveClock(lambda: NOW)
    out = {}
    for customer, decision_id in zip(members, made, strict=False):
        with db.sessions() as session, session.begin():
            request = Request.model_validate({"customer": {"id": customer}, "channel": "email",
                                              "at": NOW, "placements": []})  # fmt: skip
            decisions.decide(session, cache, request, clock=clock, decision_id=decision_id)
            out[customer] = session.execute(
                sa.select(decisions_table).where(decisions_table.c.id == decision_id)
            ).one()
            session.rollback()
    return out


def test_a_campaign_writes_the_rows_single_decisions_would(exploring_bank: Database) -> None:
    db = exploring_bank
    snapshot = SnapshotCache(db).get()
    # an earlier campaign: its decisions are contacts that the monthly cap counts
    earlier = [f"c-{i:03d}" for i in range(0, CUSTOMERS, 2)]
    campaigns.run(db, snapshot, None, campaigns.Campaign("march", "email", customers=earlier),
                  NOW - dt.timedelta(days=3), page=6)  # fmt: skip
    members = [f"c-{i:03d}" for i in range(CUSTOMERS) if i % 3 != 1]  # basic and gold
    # a campaign's decision ids are made of its keys, so each single decision is given its
    # customer's: an exploring decision is seeded by its id
    made = [campaigns.decision_id("april", customer) for customer in members]
    expected = _single_rows(db, members, made)
    campaign = campaigns.Campaign("april", "email", segment='customer.tier in ["basic", "gold"]')
    result = campaigns.run(db, snapshot, None, campaign, NOW, page=7)
    assert result["decided"] == len(members)
    with db.read() as session:
        written = session.execute(sa.select(decisions_table).where(
            decisions_table.c.idempotency_key.like("campaign:april:%")))  # fmt: skip
        rows = {r.customer_id: r for r in written}
    assert sorted(rows) == members
    # what is pinned: the exploration's draws, the control group, the uplift estimates
    assert all(r.decision["exploration"]["slots"] for r in rows.values() if r.shown)
    assert any(r.control for r in rows.values())
    assert any(o["tau"] == -0.04 for r in rows.values()
               for p in r.decision["placements"] + r.decision["counterfactual"]
               for o in p["offers"])  # fmt: skip
    for customer in members:
        assert rows[customer].idempotency_key == campaigns.decision_key("april", customer)
        assert rows[customer].id == campaigns.decision_id("april", customer)
        assert _pinned(rows[customer]) == _pinned(expected[customer]), customer
