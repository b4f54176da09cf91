"""PostgreSQL: the ledger is partitioned by month of ``occurred_at``; every partition, even one
created after the migration, is append-only, and ids, idempotency keys and journey transition
numbers stay unique across partitions. SQLite stays unpartitioned."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import DatabaseError, IntegrityError

from nextoffer.service.db import Database
from nextoffer.service.ledger import repository, service
from nextoffer.service.migrate import alembic_config, upgrade
from nextoffer.testing.postgres import ThrowawayPostgres

pytestmark = pytest.mark.postgres
PARTITIONED = ("decisions", "events", "journey_transitions")
FUTURE = dt.datetime(2031, 3, 14, 12, tzinfo=dt.UTC)  # a month no partition had


@pytest.fixture
def pg(postgres: ThrowawayPostgres) -> Iterator[Database]:
    database = Database(postgres.new_database())
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(params=["application", "owner"])
def pg_as(postgres: ThrowawayPostgres, request: pytest.FixtureRequest) -> Iterator[Database]:
    """The database as the application role (refused by its privileges) or as the owner
    (refused by the append-only triggers)."""
    url = postgres.new_database()
    database = Database(url if request.param == "application" else postgres.owner_url(url))
    yield database
    database.dispose()


def _refusal(db: Database) -> str:
    """What refuses a rewrite of the ledger as ``db``'s role."""
    return "permission denied" if db.engine.url.username == "nextoffer_app" else "append-only"


def _row(table: str, n: int, at: str = "now()") -> str:
    return {
        "events": "INSERT INTO events (id, idempotency_key, type, payload, occurred_at) "
                  f"VALUES ('e-{n}', 'k-{n}', 'click', '{{}}', {at})",
        "decisions": "INSERT INTO decisions (id, idempotency_key, channel, snapshot_version, "
                     "control, shown, request, decision, occurred_at) VALUES "
                     f"('d-{n}', 'k-{n}', 'email', 'v1', false, '[]', '{{}}', '{{}}', {at})",
        "journey_transitions": "INSERT INTO journey_transitions (journey_id, customer_id, n, "
                               "version, kind, at, record, occurred_at) VALUES "
                               f"('j', 'c', {n}, 1, 'enter', now(), '{{}}', {at})",
    }[table]  # fmt: skip


def _count(db: Database, table: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_the_ledger_tables_are_partitioned_with_this_and_next_months_partition(
    pg: Database,
) -> None:
    with pg.transaction() as session:
        assert service.keep_partitions(session) == 0  # the migration made them
        found = repository.partitions(session)
    now = dt.datetime.now(dt.UTC)
    after = (now.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    for table in PARTITIONED:
        names = {row.name for row in found if row.ledger == table}
        assert {f"{table}_p{now:%Y_%m}", f"{table}_p{after:%Y_%m}"} <= names


@pytest.mark.parametrize("table", PARTITIONED)
@pytest.mark.parametrize(
    "statement",
    ["UPDATE {p} SET occurred_at = occurred_at", "DELETE FROM {p}", "TRUNCATE {p}",
     "UPDATE {t} SET seq = seq", "DELETE FROM {t}", "TRUNCATE {t}"],
)  # fmt: skip
def test_a_new_partition_rejects_update_delete_and_truncate(
    pg_as: Database, table: str, statement: str
) -> None:
    pg = pg_as
    with pg.transaction() as session:
        assert service.keep_partitions(session, FUTURE) == len(PARTITIONED) * 2
    partition = f"{table}_p2031_03"
    with pg.engine.begin() as conn:
        conn.execute(sa.text(_row(table, 1, "'2031-03-20T00:00:00Z'")))
    assert _count(pg, partition) == 1
    with pytest.raises(DatabaseError, match=_refusal(pg)), pg.engine.begin() as conn:
        conn.execute(sa.text(statement.format(p=partition, t=table)))
    assert _count(pg, partition) == 1


@pytest.mark.parametrize("table", ["events", "decisions"])
def test_an_idempotency_key_is_written_once_across_partitions(pg: Database, table: str) -> None:
    with pg.transaction() as session:
        service.keep_partitions(session, FUTURE)
    with pg.engine.begin() as conn:
        conn.execute(sa.text(_row(table, 1)))
        # the same key in another month's partition: not written, as ON CONFLICT DO NOTHING
        retry = _row(table, 1, "'2031-03-20T00:00:00Z'").replace(f"'{table[0]}-1'", "'x-2'")
        assert conn.execute(sa.text(retry + " RETURNING seq")).first() is None
    assert _count(pg, table) == 1
    # the same id under another key, in another partition: refused
    with pytest.raises(IntegrityError), pg.engine.begin() as conn:
        conn.execute(sa.text(_row(table, 1, "'2031-03-20T00:00:00Z'").replace("'k-1'", "'k-9'")))
    assert _count(pg, table) == 1


def test_a_journey_transition_number_is_unique_across_partitions(pg: Database) -> None:
    with pg.transaction() as session:
        service.keep_partitions(session, FUTURE)
    with pg.engine.begin() as conn:
        conn.execute(sa.text(_row("journey_transitions", 0)))
    with pytest.raises(IntegrityError), pg.engine.begin() as conn:
        conn.execute(sa.text(_row("journey_transitions", 0, "'2031-03-20T00:00:00Z'")))
    assert _count(pg, "journey_transitions") == 1


def test_a_row_in_a_month_without_a_partition_is_refused(pg: Database) -> None:
    with pytest.raises(DatabaseError, match="no partition"), pg.engine.begin() as conn:
        conn.execute(sa.text(_row("events", 1, "'2040-01-01T00:00:00Z'")))
    assert _count(pg, "events") == 0


def test_the_key_tables_are_append_only(pg_as: Database) -> None:
    pg = pg_as
    with pg.engine.begin() as conn:
        for table in PARTITIONED:
            conn.execute(sa.text(_row(table, 1)))
    for statement in ("DELETE FROM events_keys", "UPDATE decisions_keys SET id = id",
                      "DELETE FROM journey_transitions_keys", "TRUNCATE events_keys"):  # fmt: skip
        with pytest.raises(DatabaseError, match=_refusal(pg)), pg.engine.begin() as conn:
            conn.execute(sa.text(statement))


def test_the_migration_moves_every_row_into_its_months_partition(
    postgres: ThrowawayPostgres,
) -> None:
    db = Database(postgres.new_database(migrated=False))  # the owner's, to migrate
    upgrade(db, "0013")
    with db.engine.begin() as conn:
        for n, days in enumerate((0, 40, 400)):
            at = f"now() - interval '{days} days'"
            for table in PARTITIONED:
                conn.execute(sa.text(_row(table, n, at)))
        before = {t: conn.execute(sa.text(f"SELECT seq, occurred_at FROM {t} ORDER BY seq")).all()
                  for t in PARTITIONED}  # fmt: skip
    upgrade(db)
    with db.engine.begin() as conn:
        for table in PARTITIONED:
            rows = conn.execute(sa.text(f"SELECT seq, occurred_at FROM {table} ORDER BY seq"))
            assert rows.all() == before[table]
            oldest = before[table][-1].occurred_at  # 400 days ago: its own month's partition
            where = conn.execute(
                sa.text(f"SELECT tableoid::regclass::text FROM {table} WHERE seq = :s"),
                {"s": before[table][-1].seq},
            ).scalar_one()
            assert where == f"{table}_p{oldest.astimezone(dt.UTC):%Y_%m}"
            # the sequence goes on where it was
            conn.execute(sa.text(_row(table, 7)))
            newest = conn.execute(sa.text(f"SELECT max(seq) FROM {table}")).scalar_one()
            assert newest == before[table][-1].seq + 1
        # the keys came along: a retry of a migrated event is still recognised
        retry = _row("events", 1).replace("'e-1'", "'e-x'")
        assert conn.execute(sa.text(retry + " RETURNING seq")).first() is None
        partitioned = conn.execute(
            sa.text("SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c "
                    "ON c.oid = p.partrelid WHERE c.relname IN "
                    "('decisions', 'events', 'journey_transitions')")
        ).scalar_one()  # fmt: skip
        assert partitioned == 3
    # and back: the tables unpartitioned, with their rows
    with db.engine.begin() as connection:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0013")
    assert _count(db, "events") == 4
    db.dispose()


def test_sqlite_keeps_one_table_per_ledger(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/n.db")
    upgrade(db)
    with db.transaction() as session:
        assert service.keep_partitions(session) == 0
    names = set(sa.inspect(db.engine).get_table_names())
    assert not any(name.startswith("events_p") for name in names)
    db.dispose()


@pytest.mark.parametrize("table", PARTITIONED)
def test_a_seq_is_unique_across_partitions_and_on_conflict_cannot_rewrite(
    pg: Database, table: str
) -> None:
    with pg.transaction() as session:
        service.keep_partitions(session, FUTURE)
    with pg.engine.begin() as conn:
        conn.execute(sa.text(_row(table, 1)))
        seq = conn.execute(sa.text(f"SELECT seq FROM {table}")).scalar_one()
    # the same seq in another month, under new keys: refused
    forged = _row(table, 2, "'2031-03-20T00:00:00Z'").replace(" (", " (seq, ", 1)
    forged = forged.replace("VALUES (", f"VALUES ({seq}, ", 1)
    with pytest.raises(IntegrityError, match="duplicate key"), pg.engine.begin() as conn:
        conn.execute(sa.text(forged))
    # ON CONFLICT on the partitioned table's own primary key: refused before any rewrite (the
    # key table's trigger runs first; an UPDATE would meet the append-only trigger)
    with pg.engine.connect() as conn:
        at = conn.execute(sa.text(f"SELECT occurred_at FROM {table}")).scalar_one()
    again = (
        _row(table, 3, ":at").replace(" (", " (seq, ", 1).replace("VALUES (", f"VALUES ({seq}, ", 1)
    )
    upsert = sa.text(f"{again} ON CONFLICT (seq, occurred_at) DO UPDATE SET seq = {table}.seq")
    with (
        pytest.raises(DatabaseError, match=r"append-only|duplicate key|permission denied"),
        pg.engine.begin() as conn,
    ):
        conn.execute(upsert, {"at": at})
    assert _count(pg, table) == 1


_MONTH_OF_ROWS = {  # 20,000 rows over March 2031, in time order (as the ledger receives them)
    "decisions": "INSERT INTO decisions (id, channel, snapshot_version, control, shown, request,"
                 " decision, customer_id, occurred_at) SELECT 'd-' || i, 'email', 'v1', false,"
                 " '[]', '{}', '{}', 'c-' || (i % 500), timestamptz '2031-03-01' + i * interval"
                 " '2 minutes' FROM generate_series(1, 20000) AS i",
    "events": "INSERT INTO events (id, idempotency_key, type, payload, customer_id, occurred_at)"
              " SELECT 'e-' || i, 'k-' || i, 'click', '{}', 'c-' || (i % 500),"
              " timestamptz '2031-03-01' + i * interval '2 minutes'"
              " FROM generate_series(1, 20000) AS i",
}  # fmt: skip


@pytest.mark.parametrize("table", ["decisions", "events"])
def test_a_day_of_the_ledger_is_read_through_its_partitions_brin_index(
    postgres: ThrowawayPostgres, pg: Database, table: str
) -> None:
    with pg.transaction() as session:
        service.keep_partitions(session, FUTURE)
    with pg.engine.begin() as conn:
        conn.execute(sa.text(_MONTH_OF_ROWS[table]))
    owner = Database(postgres.owner_url(pg.url))  # ANALYZE is the owner's (autovacuum's)
    with owner.engine.begin() as conn:
        conn.exec_driver_sql(f"ANALYZE {table}")
    owner.dispose()
    with pg.engine.begin() as conn:
        copies = (
            conn.exec_driver_sql(
                "SELECT inhrelid::regclass::text FROM pg_inherits "
                f"WHERE inhparent = 'ix_{table}_occurred_at'::regclass"
            )
            .scalars()
            .all()
        )
        plan = " ".join(
            row[0]
            for row in conn.exec_driver_sql(
                f"EXPLAIN SELECT * FROM {table} WHERE occurred_at >= '2031-03-20'"
                " AND occurred_at < '2031-03-21'"
            )
        )
    assert f"{table}_p2031_03_occurred_at_idx" in copies  # the new partition has its own
    assert f"Bitmap Index Scan on {table}_p2031_03_occurred_at_idx" in plan, plan
    assert f"{table}_p2031_04" not in plan  # other months pruned
