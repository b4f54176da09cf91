"""Outbound campaigns on Spark (``service/campaigns/on_spark``): the local path's ledger rows
and send list, row for row, on the same stored customers; a stopped run resumes."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from nextoffer.scenarios import bank_snapshot
from nextoffer.service.campaigns import on_spark
from nextoffer.service.campaigns import service as campaigns
from nextoffer.service.db import Database
from nextoffer.service.ledger import service as ledger
from nextoffer.service.migrate import upgrade
from nextoffer.service.snapshots.cache import SnapshotCache
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish
from nextoffer.service.tables import cate_estimates, customers, decisions
from tests.clock import NOW

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CUSTOMERS = 60
SEGMENT = "customer.tenureMonths > 14"  # 57 of the 60


def _bank(path: Path) -> Database:
    """The bank's catalog with an e-mail that explores (ε = 0.5) and a holdout of a quarter,
    60 stored customers, CATE estimates for every third, and an earlier campaign's contacts
    for the first 30 (the monthly cap and the card's cooldown count them)."""
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    spec = bank_snapshot()
    for channel in spec["channels"]:
        if channel["id"] == "email":
            channel["exploration"] = {"kind": "epsilon_greedy", "epsilon": 0.5}
    spec["holdout"]["share"] = 0.25
    with db.transaction() as session:
        load_spec(session, spec)
        publish(session, "bank-1")
        session.execute(sa.insert(customers), [
            {"id": f"c-{i:03d}", "attributes": {"tier": "premium" if i % 2 == 0 else "basic",
             "tenureMonths": 12 + i, "hasCreditCard": i % 4 == 0, "balance": 900.0 * i},
             "holdings": ["checking"], "segments": [], "updated_at": NOW}
            for i in range(CUSTOMERS)
        ])  # fmt: skip
        session.execute(sa.insert(cate_estimates), [
            {"customer_id": f"c-{i:03d}", "offer_id": offer, "tau": tau, "lower": tau - 0.05,
             "upper": tau + 0.05, "base_rate": 0.1, "segment": "persuadable",
             "model_version": f"{offer}@test", "scored_at": NOW}
            for i in range(0, CUSTOMERS, 3)
            for offer, tau in (("credit-card", 0.2 - i / 300), ("savings-account", i / 400))
        ])  # fmt: skip
    earlier = campaigns.Campaign("winter", "email", customers=[f"c-{i:03d}" for i in range(30)])
    campaigns.run(db, SnapshotCache(db).get(), None, earlier, NOW)
    return db


def _after_the_ledger(db: Database) -> dt.datetime:
    """A minute after the newest decision (the policies count contacts by the database's
    clock, which wrote the earlier campaign's)."""
    with db.read() as session:
        newest = session.execute(sa.select(sa.func.max(decisions.c.occurred_at))).scalar_one()
    return ledger.utc(newest) + dt.timedelta(minutes=1)


def _stored(db: Database, name: str) -> list[dict[str, Any]]:
    """The campaign's ledger rows in ledger order, all but the database's write time (and
    the stage timings of a sampled trace)."""
    with db.read() as session:
        rows = session.execute(sa.select(decisions).where(
            decisions.c.idempotency_key.like(f"campaign:{name}:%")).order_by(decisions.c.seq))  # fmt: skip
        out = []
        for row in rows:
            stored = dict(row._mapping)
            del stored["occurred_at"]
            for stage in (stored["trace"] or {}).get("stages", ()):
                stage.pop("micros", None)
            out.append(stored)
    return out


def _twins(tmp_path: Path) -> tuple[Database, Database, dt.datetime]:
    """Two copies of one bank, byte for byte, and the time to run the campaign at."""
    first = _bank(tmp_path / "local.db")
    at = _after_the_ledger(first)
    first.dispose()
    shutil.copyfile(tmp_path / "local.db", tmp_path / "spark.db")
    return (Database(f"sqlite:///{tmp_path / 'local.db'}"),
            Database(f"sqlite:///{tmp_path / 'spark.db'}"), at)  # fmt: skip


def test_spark_decides_a_campaign_as_the_local_path_does_row_for_row(
    spark: SparkSession, tmp_path: Path
) -> None:
    local_db, spark_db, at = _twins(tmp_path)
    campaign = campaigns.Campaign("spring", "email", segment=SEGMENT)
    local = campaigns.run(local_db, SnapshotCache(local_db).get(), None, campaign, at, page=7)
    spec, snapshot = on_spark.live_snapshot(spark_db)
    covered: list[int] = []
    on = on_spark.run_on_spark(spark_db, spark, spec, snapshot, None, campaign, at, page=7,
                               pages_per_job=3, progress=covered.append)  # fmt: skip
    assert on == local
    assert sum(covered) == CUSTOMERS  # the segment read through every stored customer
    assert (on["customers"], on["decided"], on["already_decided"]) == (57, 57, 0)
    rows = _stored(spark_db, "spring")
    assert rows == _stored(local_db, "spring")
    assert len(rows) == 57
    assert [r["id"] for r in rows] == [campaigns.decision_id("spring", r["customer_id"])
                                       for r in rows]  # fmt: skip
    # what makes it a test of the engine's whole state: a control group, and exploration
    # (seeded by each decision's id) that left the greedy choice for some
    assert 0 < on["control"] < 57
    slots = [
        (r, s) for r in rows for s in (r["decision"].get("exploration") or {}).get("slots", ())
    ]
    assert all(r["decision"]["exploration"]["seed"] == r["id"] for r, _ in slots)
    explored = [s for _, s in slots if s["offer"] != s["candidates"][0]["offer"]]
    assert explored
    local_db.dispose()
    spark_db.dispose()


def test_a_spark_run_stopped_midway_resumes_deciding_nobody_twice(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _bank(tmp_path / "bank.db")
    at = _after_the_ledger(db)
    listed = [f"c-{i:03d}" for i in range(CUSTOMERS)]
    campaign = campaigns.Campaign("resumed", "email", customers=listed)
    spec, snapshot = on_spark.live_snapshot(db)
    written = ledger.append_new_decisions
    pages: list[int] = []

    def third_page_fails(session: Any, rows: Any) -> None:
        pages.append(len(rows))
        if len(pages) == 3:
            raise RuntimeError("the driver dies here")
        written(session, rows)

    monkeypatch.setattr(ledger, "append_new_decisions", third_page_fails)
    with pytest.raises(RuntimeError):
        on_spark.run_on_spark(db, spark, spec, snapshot, None, campaign, at, page=10)
    assert len(_stored(db, "resumed")) == 20  # two whole pages, nothing of the third
    monkeypatch.setattr(ledger, "append_new_decisions", written)
    result = on_spark.run_on_spark(db, spark, spec, snapshot, None, campaign, at, page=10)
    assert (result["decided"], result["already_decided"]) == (40, 20)
    assert [s["customer_id"] for s in result["sends"]] == listed
    rows = _stored(db, "resumed")
    assert Counter(r["customer_id"] for r in rows) == Counter(listed)  # exactly one each
    assert [s["decision_id"] for s in result["sends"]] == [
        campaigns.decision_id("resumed", c) for c in listed
    ]
    again = on_spark.run_on_spark(db, spark, spec, snapshot, None, campaign, at, page=10)
    assert (again["decided"], again["already_decided"]) == (0, 60)
    assert again["sends"] == result["sends"]
    db.dispose()
