"""Migrations: ``nextoffer migrate`` brings the configured database to the newest schema."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from .db import Database

__all__ = ["alembic_config", "behind", "heads", "may_migrate", "schema_at", "upgrade"]

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    cfg = alembic_config(db.url)
    with db.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


_heads: frozenset[str] | None = None


def heads() -> frozenset[str]:
    """The newest revision(s) this code knows (read from the migrations once)."""
    global _heads
    if _heads is None:
        script = ScriptDirectory.from_config(alembic_config("sqlite://"))
        _heads = frozenset(script.get_heads())
    return _heads


def schema_at(connection: Connection) -> frozenset[str]:
    """The revision(s) the database's schema is at (empty: never migrated)."""
    return frozenset(MigrationContext.configure(connection).get_current_heads())


def behind(db: Database) -> tuple[str | None, str] | None:
    """The database's revision (None: an empty database) and the newest, when it is not at
    the newest; None when it is. Reads ``alembic_version`` only."""
    head = ScriptDirectory.from_config(alembic_config(db.url)).get_current_head()
    assert head is not None
    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return None if current == head else (current, head)


def may_migrate(db: Database) -> bool:
    """Whether the role ``db`` connects as may migrate it: SQLite, or a PostgreSQL role that
    may create tables in the schema and is (or is a member of) the owner of its tables. The
    application role of a two-role set-up (``nextoffer db create-roles``) may not."""
    if db.is_sqlite:
        return True
    with db.engine.connect() as connection:
        return bool(
            connection.execute(
                sa.text(
                    "SELECT has_schema_privilege(current_schema(), 'CREATE') AND coalesce(("
                    "SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c "
                    "WHERE c.oid = to_regclass('alembic_version')), true)"
                )
            ).scalar_one()
        )
