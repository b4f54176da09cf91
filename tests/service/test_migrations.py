"""The schema comes from the migrations, and the ledger is append-only in the database itself."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError

from nextoffer.service.db import Database
from nextoffer.service.tables import LEDGER_TABLES


def test_migrations_create_every_table(db: Database) -> None:
    names = set(sa.inspect(db.engine).get_table_names())
    assert {"events", "decisions", "erasures", "customers", "personal_data", "snapshots",
            "catalog_items", "api_keys", "outcome_types", "alembic_version"} <= names  # fmt: skip


def _insert_event(conn: sa.Connection, key: str) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO events (id, idempotency_key, type, payload) "
            "VALUES (:id, :key, 'accept', '{}')"
        ),
        {"id": key, "key": key},
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET type = 'decline'",
        "DELETE FROM events",
        "UPDATE decisions SET control = NOT control",
        "DELETE FROM decisions",
        "DELETE FROM erasures",
    ],
)
def test_the_database_rejects_update_and_delete_on_the_ledger(
    owner_db: Database, statement: str
) -> None:
    db = owner_db  # its triggers refuse even the owner (the application role: test_roles.py)
    with db.engine.begin() as conn:
        _insert_event(conn, "e-1")
        conn.execute(
            sa.text(
                "INSERT INTO decisions (id, channel, snapshot_version, control, shown, request, decision) "
                "VALUES ('d-1', 'email', 'v1', false, '[]', '{}', '{}')"
            )
        )
        conn.execute(
            sa.text("INSERT INTO erasures (customer_id, reason) VALUES ('c-1', 'request')")
        )
    with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
        conn.execute(sa.text(statement))
    with db.engine.connect() as conn:
        for table in ("events", "decisions", "erasures"):
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 1


_ONE_ROW = {
    "events": "INSERT INTO events (id, idempotency_key, type, payload) VALUES ('e', 'e', 'click', '{}')",
    "decisions": "INSERT INTO decisions (id, channel, snapshot_version, control, shown, request, decision)"
                 " VALUES ('d', 'email', 'v1', false, '[]', '{}', '{}')",
    "erasures": "INSERT INTO erasures (customer_id, reason) VALUES ('c', 'request')",
    "audit": "INSERT INTO audit (action, actor, subject, details) VALUES ('a', 'b', 'c', '{}')",
    "rule_revisions": "INSERT INTO rule_revisions (rule_id, revision, trigger, text, offers, priority,"
                      " description, author, reason, source, created_at) VALUES ('r', 1, '{}', 't', '[]',"
                      " 1, '', 'a', '', '{}', CURRENT_TIMESTAMP)",
    "journey_versions": "INSERT INTO journey_versions (journey_id, version, definition, author,"
                        " reason, source, created_at) VALUES ('j', 1, '{}', 'a', '', '{}',"
                        " CURRENT_TIMESTAMP)",
    "journey_transitions": "INSERT INTO journey_transitions (journey_id, customer_id, n, version,"
                           " kind, at, record) VALUES ('j', 'c', 0, 1, 'enter', CURRENT_TIMESTAMP,"
                           " '{}')",
}  # fmt: skip


@pytest.mark.parametrize("table", LEDGER_TABLES)
@pytest.mark.parametrize("action", ["UPDATE", "DELETE"])
def test_every_append_only_table_rejects_update_and_delete(
    owner_db: Database, table: str, action: str
) -> None:
    db = owner_db
    with db.engine.begin() as conn:
        conn.execute(sa.text(_ONE_ROW[table]))
    column = {"rule_revisions": "revision", "journey_versions": "version"}.get(table, "seq")
    statement = (
        f"UPDATE {table} SET {column} = {column}" if action == "UPDATE" else f"DELETE FROM {table}"
    )
    with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
        conn.execute(sa.text(statement))


def test_occurred_at_is_the_database_servers_clock(db: Database) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    with db.engine.begin() as conn:
        _insert_event(conn, "e-2")
        stamp = conn.execute(sa.text("SELECT occurred_at FROM events")).scalar_one()
    if isinstance(stamp, str):  # SQLite keeps text: UTC, to the millisecond
        stamp = dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC)
    assert before <= stamp <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)


@pytest.mark.postgres
def test_truncate_is_rejected_on_postgres(postgres: object) -> None:
    from nextoffer.service.migrate import upgrade
    from nextoffer.testing.postgres import ThrowawayPostgres

    assert isinstance(postgres, ThrowawayPostgres)
    database = Database(postgres.owner_url(postgres.new_database()))
    upgrade(database)
    with pytest.raises(DatabaseError, match="append-only"), database.engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE events"))
    database.dispose()
