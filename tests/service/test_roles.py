"""PostgreSQL roles: the application role (what every PostgreSQL test and ``serve`` connect
as) cannot rewrite, disable or drop the ledger's guarantees; the owner migrates; the
service's few needs beyond INSERT and SELECT run through the owner's two functions."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from nextoffer.service.attach.repository import settled_seq
from nextoffer.service.db import Database
from nextoffer.service.ledger import repository as ledger
from nextoffer.service.migrate import upgrade
from nextoffer.service.tables import audit
from nextoffer.testing.postgres import ThrowawayPostgres

from ..cli.test_rules_cli import NEXTOFFER

pytestmark = pytest.mark.postgres

T0 = dt.datetime(2026, 3, 8, 14, 30, tzinfo=dt.UTC)

# what a tester did as the role `serve` migrated with, before the roles were split
REFUSED = [
    "ALTER TABLE audit DISABLE TRIGGER audit_append_only",
    "ALTER TABLE decisions DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_append_only ON audit",
    "DROP TRIGGER events_no_truncate ON events",
    "CREATE OR REPLACE FUNCTION nextoffer_append_only() RETURNS trigger LANGUAGE plpgsql"
    " AS $$ BEGIN RETURN NEW; END $$",
    "CREATE OR REPLACE FUNCTION nextoffer_ledger_partitions(first timestamptz, last timestamptz)"
    " RETURNS integer LANGUAGE sql AS $$ SELECT 0 $$",
    "ALTER TABLE audit ALTER COLUMN seq TYPE bigint USING (seq * 0)",
    "ALTER TABLE audit ALTER COLUMN actor TYPE varchar(200) USING ('forged')",
    "TRUNCATE audit",
    "TRUNCATE events",
    "DROP TABLE audit",
    "DROP TABLE decisions CASCADE",
    "UPDATE audit SET actor = 'forged'",
    "DELETE FROM audit",
    "UPDATE decisions SET control = NOT control",
    "DELETE FROM decisions",
    "UPDATE events SET type = 'accept'",
    "DELETE FROM events",
    "UPDATE decisions_keys SET seq = seq + 1",
    "DELETE FROM events_keys",
    "UPDATE erasures SET reason = 'none'",
    "UPDATE rule_revisions SET rule_id = 'x'",
    "UPDATE journey_transitions SET n = n + 1",
    "LOCK TABLE events IN SHARE MODE",
    "CREATE TABLE audit_copy (x int)",
    "CREATE FUNCTION nextoffer_mine() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$",
    "ALTER TABLE events DETACH PARTITION events_p2026_03",
]


@pytest.fixture
def app_url(postgres: ThrowawayPostgres) -> str:
    url = postgres.new_database("roles")
    owner = Database(postgres.owner_url(url))
    with owner.transaction() as session:
        ledger.create_partitions(session, T0, T0)  # the month of the rows below
    owner.dispose()
    db = Database(url)
    with db.transaction() as session:
        session.execute(sa.insert(audit).values(action="a", actor="alice", subject="s", details={}))
    db.dispose()
    return url


def _sqlstate(url: str, statement: str) -> str | None:
    """The statement's SQLSTATE as ``url``'s role (None: it ran), rolled back either way."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            return exc.sqlstate
        finally:
            conn.rollback()
    return None


@pytest.mark.parametrize("statement", REFUSED)
def test_the_application_role_is_refused(app_url: str, statement: str) -> None:
    assert _sqlstate(app_url, statement) == "42501"  # insufficient_privilege (not an owner)


def test_the_owner_could_and_the_ledger_is_whole_after_the_application_tried(
    postgres: ThrowawayPostgres, app_url: str
) -> None:
    owner = postgres.owner_url(app_url)
    # the same statement as the owner is not refused for its privileges (the triggers still
    # refuse rewriting rows: the owner is trusted with the schema, not with rewriting)
    assert _sqlstate(owner, "ALTER TABLE audit DISABLE TRIGGER audit_append_only") is None
    for statement in REFUSED:
        _sqlstate(app_url, statement)
    db = Database(owner)
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(audit.c.actor)).scalars().all()
        enabled = conn.execute(sa.text(
            "SELECT tgenabled FROM pg_trigger WHERE tgname = 'audit_append_only'")).scalar_one()  # fmt: skip
    db.dispose()
    assert rows == ["alice"]
    assert enabled == "O"


def test_the_application_role_inserts_and_reads_and_owns_nothing(
    postgres: ThrowawayPostgres, app_url: str
) -> None:
    db = Database(app_url)
    with db.transaction() as session:
        session.execute(sa.insert(audit).values(action="b", actor="bob", subject="s", details={}))
        session.execute(sa.text(
            "INSERT INTO events (id, idempotency_key, type, payload, occurred_at) "
            "VALUES ('e1', 'k1', 'click', '{}', :at)"), {"at": T0})  # fmt: skip
    with db.engine.connect() as conn:
        actors = conn.execute(sa.select(audit.c.actor).order_by(audit.c.seq)).scalars().all()
        events = conn.execute(sa.text("SELECT id FROM events")).scalars().all()
        owned = conn.execute(sa.text(
            "SELECT count(*) FROM pg_class WHERE relowner = "
            "(SELECT oid FROM pg_roles WHERE rolname = current_user)")).scalar_one()  # fmt: skip
    assert actors == ["alice", "bob"]
    assert events == ["e1"]
    assert owned == 0
    # what the service needs beyond that runs as the owner's two functions
    with db.transaction() as session:
        made = ledger.create_partitions(
            session, T0 + dt.timedelta(days=400), T0 + dt.timedelta(days=400)
        )
        assert made == 3
    with db.read() as session:  # (its lock waits for the partitions' transaction)
        assert settled_seq(session) == 1
    db.dispose()
    name = f"decisions_p{T0 + dt.timedelta(days=400):%Y_%m}"
    # a partition made later belongs to the owner, and the application may not rewrite it
    assert _sqlstate(app_url, f"UPDATE {name} SET control = true") == "42501"
    assert _sqlstate(app_url, f"SELECT count(*) FROM {name}") is None
    app = Database(app_url)
    upgrade(app)  # at the newest revision: nothing to do, nothing refused
    app.dispose()


def _run(*args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "COLUMNS": "200"}
    for name in (
        "NEXTOFFER_DATABASE_URL",
        "NEXTOFFER_OWNER_DATABASE_URL",
        "NEXTOFFER_APP_PASSWORD",
    ):
        environ.pop(name, None)
    environ.update(env)
    return subprocess.run([str(NEXTOFFER), *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=environ)  # fmt: skip


def test_the_application_role_cannot_migrate_and_says_what_to_run(
    postgres: ThrowawayPostgres,
) -> None:
    owner = postgres.new_database("behind", migrated=False)
    owning = Database(owner)
    upgrade(owning, "0017")
    app = owner.replace(postgres.owner, postgres.app)
    with owning.engine.begin() as conn:
        conn.execute(sa.text(f"GRANT SELECT ON alembic_version TO {postgres.app}"))
    owning.dispose()
    refused = _run("migrate", NEXTOFFER_DATABASE_URL=app)
    assert refused.returncode == 1
    assert "at revision 0017" in refused.stderr
    assert "NEXTOFFER_OWNER_DATABASE_URL" in refused.stderr
    assert "Traceback" not in refused.stderr
    done = _run("migrate", NEXTOFFER_DATABASE_URL=app, NEXTOFFER_OWNER_DATABASE_URL=owner)
    assert done.returncode == 0, done.stderr
    # migrated as the owner, and the application role granted what it needs
    db = Database(app)
    with db.transaction() as session:
        session.execute(sa.insert(audit).values(action="c", actor="carol", subject="s", details={}))
        assert settled_seq(session) == 0
    db.dispose()
    assert _sqlstate(app, "DELETE FROM audit") == "42501"


def test_create_roles_makes_the_application_role_and_prints_its_password_once(
    postgres: ThrowawayPostgres,
) -> None:
    empty = postgres.new_database("create", migrated=False)
    superuser = empty.replace(postgres.owner, postgres.user)  # may create roles
    name = f"app_{uuid.uuid4().hex[:8]}"
    made = _run("db", "create-roles", "--owner-url", superuser, "--app-role", name)
    assert made.returncode == 0, made.stderr
    assert f"created the application role '{name}'" in made.stdout
    password = made.stdout.split("its password (printed only now):")[1].split()[0]
    again = _run("db", "create-roles", "--app-role", name, NEXTOFFER_OWNER_DATABASE_URL=superuser)
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stdout
    assert password not in again.stdout
    # the harness's server trusts every login; the role is a login that owns nothing
    app = superuser.replace(f"{postgres.user}@", f"{name}:{password}@")
    assert _sqlstate(app, "SELECT count(*) FROM audit") is None
    assert _sqlstate(app, "TRUNCATE audit") == "42501"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--owner-url", "sqlite:///x.db"], "SQLite has no roles"),
        ([], "--owner-url: give the owner role's URL"),
        (["--app-role", "nextoffer_owner"], "is the owner role"),
    ],
)
def test_create_roles_refuses_what_cannot_work(
    postgres: ThrowawayPostgres, args: list[str], message: str
) -> None:
    if args and args[0] == "--app-role":
        args = [*args, "--owner-url", postgres.owner_url(postgres.new_database("same"))]
    refused = _run("db", "create-roles", *args)
    assert refused.returncode == 1
    assert message in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_owner_without_createrole_is_told_how_to_make_the_role(
    postgres: ThrowawayPostgres,
) -> None:
    owner = postgres.owner_url(postgres.new_database("nocreate"))
    refused = _run("db", "create-roles", "--owner-url", owner, "--app-role", "not_there_yet")
    assert refused.returncode == 1
    assert "may not create or change roles" in refused.stderr
    assert "CREATE ROLE" in refused.stderr
