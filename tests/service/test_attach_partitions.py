"""PostgreSQL: the attach refresh over a ledger of many monthly partitions reads, per new
showing, earlier events only from its decision's month on, and no decision when the event
records its decision's time and rule (revision 0017; an older event: its decision's key and
the one partition holding the decision); its counts still equal a full recount. Showings
of archived decisions are left to a recount with the archive. The decisions' key table
holds each decision's time (revision 0016), old keys included."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import DatabaseError

from nextoffer.service.archive import service as archive
from nextoffer.service.attach import repository, service
from nextoffer.service.db import Database
from nextoffer.service.ledger import repository as ledger
from nextoffer.service.migrate import alembic_config, upgrade
from nextoffer.testing.postgres import ThrowawayPostgres, owner_url

pytestmark = pytest.mark.postgres
NOW = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
MONTHS = 14


@pytest.fixture
def pg(postgres: ThrowawayPostgres) -> Iterator[Database]:
    database = Database(postgres.new_database())
    upgrade(database)
    with database.transaction() as session:
        ledger.create_partitions(session, NOW - dt.timedelta(days=31 * MONTHS), NOW)
    yield database
    database.dispose()


def _decision(conn: sa.Connection, name: str, at: dt.datetime, offer: str, rule: str) -> None:
    body = {"placements": [{"offers": [{"offer": offer, "rules": [rule]}]}]}
    conn.execute(
        sa.text("INSERT INTO decisions (id, channel, snapshot_version, control, shown, request, "
                "decision, occurred_at) VALUES (:id, 'email', 'v1', false, :shown, '{}', "
                ":decision, :at)"),
        {"id": name, "shown": json.dumps([offer]), "decision": json.dumps(body), "at": at},
    )  # fmt: skip


# decision id -> (its time, its rule): what an event records of its decision since revision
# 0017; older events record nothing, and the refresh looks their decisions up
Decided = dict[str, tuple[dt.datetime, str]]


def _event(conn: sa.Connection, key: str, kind: str, decision: str, offer: str,
           at: dt.datetime, recorded: Decided) -> None:  # fmt: skip
    decision_at, rule = recorded.get(decision, (None, None))
    conn.execute(
        sa.text("INSERT INTO events (id, idempotency_key, type, decision_id, offer_id, channel, "
                "payload, occurred_at, decision_at, rule_id) VALUES (:key, :key, :kind, "
                ":decision, :offer, 'email', '{}', :at, :decision_at, :rule)"),
        {"key": key, "kind": kind, "decision": decision, "offer": offer, "at": at,
         "decision_at": decision_at, "rule": rule},
    )  # fmt: skip


@pytest.fixture(params=[False, True], ids=["looked-up", "recorded"])
def recorded(request: pytest.FixtureRequest) -> Decided:
    """The history's decisions as its events record them (none: older events)."""
    if not request.param:
        return {}
    decided = {f"d-{n}": (_month(n), f"r{n % 3}") for n in range(1, MONTHS - 1)}
    return decided | {"d-0": (NOW, "r9")}


def _month(n: int) -> dt.datetime:
    """The 15th of the month ``n`` months before NOW's."""
    year, month = divmod(NOW.year * 12 + NOW.month - 1 - n, 12)
    return dt.datetime(year, month + 1, 15, 12, tzinfo=dt.UTC)


def _history(db: Database, recorded: Decided) -> None:
    """A decision a month for 12 months, each shown (an impression) that month."""
    with db.engine.begin() as conn:
        for n in range(1, MONTHS - 1):
            at = _month(n)
            _decision(conn, f"d-{n}", at, "wine", f"r{n % 3}")
            _event(conn, f"old-{n}", "impression", f"d-{n}", "wine", at + dt.timedelta(hours=1),
                   recorded)  # fmt: skip


def test_old_showings_seen_again_count_once_and_new_ones_count(
    pg: Database, recorded: Decided
) -> None:
    _history(pg, recorded)
    first = pg.run(service.refresh)
    assert (first["shown"], first["accepted"]) == (12, 0)
    with pg.engine.begin() as conn:
        # a year-old showing shown again (not counted again) and accepted (counted), a
        # showing of last month, accepted only, and a decision of this month shown
        _event(conn, "again-12", "impression", "d-12", "wine", NOW, recorded)
        _event(conn, "accept-12", "accept", "d-12", "wine", NOW, recorded)
        _event(conn, "accept-1", "accept", "d-1", "wine", NOW, recorded)
        _decision(conn, "d-0", NOW, "coffee", "r9")
        _event(conn, "new-0", "impression", "d-0", "coffee", NOW, recorded)
        _event(
            conn, "nowhere", "impression", "d-missing", "coffee", NOW, recorded
        )  # no such decision
    second = pg.run(service.refresh)
    assert (second["shown"], second["accepted"]) == (13, 2)
    with pg.read() as session:
        stored, recounted = repository.stored_counts(session), repository.count_ledger(session)
    assert stored == recounted
    assert stored[("wine", "r0", "email")] == [4, 1]  # months 3, 6, 9, 12; 12 accepted
    assert stored[("coffee", "r9", "email")] == [1, 0]


def test_showings_of_archived_decisions_are_left_to_a_recount_with_the_archive(
    pg: Database, recorded: Decided, tmp_path: Path
) -> None:
    _history(pg, recorded)
    pg.run(service.refresh)
    folder = tmp_path / "archive"
    owner = Database(owner_url(pg.url))  # detaching partitions is the owner's
    archived = archive.archive(owner.transaction, _month(6).replace(day=1), folder)
    owner.dispose()
    assert archived  # months 13 to 7 ago (with the months of no rows)
    with pg.engine.begin() as conn:
        # decision d-9 (archived with its events) accepted now, and d-2 (hot) accepted
        _event(conn, "accept-9", "accept", "d-9", "wine", NOW, recorded)
        _event(conn, "accept-2", "accept", "d-2", "wine", NOW, recorded)
    done = pg.run(service.refresh)
    assert done["accepted"] == 1  # d-9's earlier events are archived: not counted here
    with pg.transaction() as session:
        again = service.recount(session, archive.open_archive(session, folder))
    assert again["accepted"] == 2  # the recount reads the archive and counts it


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _plan_nodes(child)


def test_a_refresh_reads_only_the_partitions_of_its_showings_decisions(
    pg: Database, recorded: Decided
) -> None:
    _history(pg, recorded)
    pg.run(service.refresh)
    with pg.engine.begin() as conn:
        _event(conn, "again-2", "impression", "d-2", "wine", NOW, recorded)  # two months old
        _event(conn, "accept-2", "accept", "d-2", "wine", NOW, recorded)
    statements: list[tuple[str, Any]] = []
    with pg.transaction() as session:
        after = repository.lock_watermark(session, repository.ATTACH_WATERMARK)
        connection = session.connection()
        sa.event.listen(connection, "before_cursor_execute",
                        lambda c, cur, stmt, params, ctx, many: statements.append((stmt, params)))  # fmt: skip
        found = repository.count_new(session, after, after + 10)
        assert found == {("wine", "r2", "email"): [0, 1]}
        # the events' own records (no decision read), then the older events' lookups
        statement, params = statements[-2] if recorded else statements[-1]
        explained = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params
        ).scalar_one()
    nodes = list(_plan_nodes(explained[0]["Plan"]))
    d2_month = f"{_month(2):%Y_%m}"
    read: dict[str, set[str]] = {"decisions": set(), "earlier": set()}
    for node in nodes:
        relation, alias = node.get("Relation Name", ""), node.get("Alias", "")
        if not node.get("Actual Loops"):
            continue
        if relation.startswith("decisions_p"):
            read["decisions"].add(relation.removeprefix("decisions_p"))
        elif relation.startswith("events_p") and alias.startswith("earlier"):
            read["earlier"].add(relation.removeprefix("events_p"))
    # the decision's own partition (none when the events record what the refresh needs of
    # it), and earlier events from its month on (no older month)
    assert read["decisions"] == (set() if recorded else {d2_month})
    assert read["earlier"]
    assert min(read["earlier"]) == d2_month


def test_the_decision_keys_hold_the_decisions_time_old_keys_too(
    postgres: ThrowawayPostgres,
) -> None:
    db = Database(postgres.new_database(migrated=False))  # the owner's, to migrate
    upgrade(db, "0015")
    with db.transaction() as session:
        ledger.create_partitions(session, _month(5), NOW)
    with db.engine.begin() as conn:
        _decision(conn, "d-old", _month(5), "wine", "r1")
    upgrade(db)
    with db.engine.begin() as conn:
        _decision(conn, "d-new", NOW, "wine", "r1")
        keys = dict(conn.execute(sa.text("SELECT id, occurred_at FROM decisions_keys")).all())
    assert keys == {"d-old": _month(5), "d-new": NOW}
    # still append-only after the migration set its trigger aside for the backfill
    with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE decisions_keys SET occurred_at = now()"))
    with db.engine.begin() as connection:  # and back
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0015")
    with db.engine.begin() as conn:
        _decision(conn, "d-after", NOW, "wine", "r1")
        columns = conn.execute(sa.text("SELECT * FROM decisions_keys LIMIT 1")).keys()
    assert "occurred_at" not in columns
    db.dispose()


def test_the_services_connections_do_not_jit_compile(pg: Database) -> None:
    with pg.read() as session:
        assert session.execute(sa.text("SHOW jit")).scalar_one() == "off"

    async def shown() -> str:
        assert pg.async_sessions is not None
        async with pg.async_sessions() as session:
            value = (await session.execute(sa.text("SHOW jit"))).scalar_one()
        await pg.dispose_async()
        return str(value)

    assert asyncio.run(shown()) == "off"
