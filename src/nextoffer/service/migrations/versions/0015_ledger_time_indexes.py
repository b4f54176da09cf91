"""PostgreSQL: BRIN indexes on the ledger's ``occurred_at`` (decisions, events).

The dashboard's overview reads a window of the ledger by ``occurred_at`` (1 hour to 30 days).
Partition pruning narrows it to the one or two monthly partitions the window spans; a BRIN
index (the range of ``occurred_at`` in each block of 128 pages) narrows it to the blocks the
window covers, since rows arrive in time order. It costs almost nothing to keep on insert
(no entry per row) and little space, unlike a B-tree on the decision path's tables. Created
on the partitioned tables, so every partition, present and future, has its own. SQLite:
nothing (a B-tree on ``occurred_at`` would slow every write of the ledger).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLES = ("decisions", "events")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in TABLES:
        op.execute(f"CREATE INDEX ix_{table}_occurred_at ON {table} USING brin (occurred_at)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in TABLES:
        op.execute(f"DROP INDEX ix_{table}_occurred_at")
