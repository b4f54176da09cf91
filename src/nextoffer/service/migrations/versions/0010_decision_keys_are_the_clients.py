"""Decisions' idempotency keys are each client's own and remember the request they came
with, as events' are since revision 0006.

- ``decisions.idempotency_key`` holds ``client:key`` (the sender's API key id, then its
  key): two clients' equal keys are two decisions. Rows from before this revision keep
  their key as given (a retry of one after the upgrade is a new decision). PostgreSQL: room
  for the client's id before the key (a longer varchar rewrites no row).
- ``decisions.body_hash``: the SHA-256 of the request as validated, to tell a retry (the
  original comes back) from a reuse with another request (409). NULL for older rows and
  for decisions without a key.

A new column rewrites no row (the no-UPDATE triggers are not involved).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("decisions", sa.Column("body_hash", sa.String(64)))
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "decisions", "idempotency_key", type_=sa.String(240), existing_type=sa.String(200)
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "decisions", "idempotency_key", type_=sa.String(200), existing_type=sa.String(240)
        )
    op.execute("ALTER TABLE decisions DROP COLUMN body_hash")  # SQLite >= 3.35 drops in place
