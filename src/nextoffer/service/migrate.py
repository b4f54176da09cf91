"""Migrations: ``nextoffer migrate`` brings the configured database to the newest schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from .db import Database

__all__ = ["alembic_config", "heads", "schema_at", "upgrade"]

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
