"""The ledger means what it says: no row is ever replaced, idempotency keys are scoped to the
client that sent them and remember the body they came with, and an outcome says whether it is
attributed to a decision that showed its offer to its customer.

- SQLite: ``INSERT OR REPLACE`` (and ``REPLACE INTO``, ``ON CONFLICT … DO UPDATE``) removed
  the old row without firing the no-DELETE triggers (SQLite fires them only with
  ``PRAGMA recursive_triggers``, which the service now sets, but a shell does not). Each
  append-only table gets a trigger that refuses an INSERT whose key exists already, so no
  connection can replace a row, whatever its pragmas.
- ``events.client``: the API key id that sent the event (NULL for rows from before this
  revision, whose keys were global); ``events.idempotency_key`` then holds ``client:key``
  (still one unique column: changing the constraint would rebuild the table on SQLite).
- ``events.body_hash``: the SHA-256 of the event as received, to tell a retry from a reuse.
- ``events.attributed``: whether the event names a decision that showed its offer to its
  customer; unattributed outcomes are stored and never counted. Older rows stay as counted.

New columns rewrite no row (the no-UPDATE triggers are not involved).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# each append-only table and its unique keys (a tuple: one composite key)
KEYS: dict[str, list[tuple[str, ...]]] = {
    "events": [("seq",), ("id",), ("idempotency_key",)],
    "decisions": [("seq",), ("id",), ("idempotency_key",)],
    "erasures": [("seq",)],
    "audit": [("seq",)],
    "rule_revisions": [("rule_id", "revision")],
}


def _no_replace(table: str, keys: list[tuple[str, ...]]) -> str:
    match = " OR ".join(
        "(" + " AND ".join(f"{column} = NEW.{column}" for column in key) + ")" for key in keys
    )
    return (
        f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
        f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {match}) "
        f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: INSERT over an existing row "
        f"of {table}'); END"
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column("events", sa.Column("client", sa.String(32)))
    op.add_column("events", sa.Column("body_hash", sa.String(64)))
    op.add_column(
        "events",
        sa.Column("attributed", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    if sqlite:
        for table, keys in KEYS.items():
            op.execute(_no_replace(table, keys))
    else:  # room for the client's id before the key (a longer varchar rewrites no row)
        op.alter_column(
            "events", "idempotency_key", type_=sa.String(240), existing_type=sa.String(200)
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in KEYS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_replace")
    else:
        op.alter_column(
            "events", "idempotency_key", type_=sa.String(200), existing_type=sa.String(240)
        )
    for column in ("attributed", "body_hash", "client"):  # SQLite >= 3.35 drops in place
        op.execute(f"ALTER TABLE events DROP COLUMN {column}")
