"""PostgreSQL: ``decisions_keys`` holds each decision's ``occurred_at`` too.

A decision looked up by its id (what an event names) had to be looked for in every monthly
partition of ``decisions``: ``id`` is not the partition key, so each partition's index on it
was probed, and a ledger of twenty months paid twenty probes per lookup. With the time in
the key table, a lookup by id reads ``decisions_keys`` (its unique index on ``id``) and then
the one partition that holds ``(seq, occurred_at)``, through its primary key, whatever the
number of partitions; and the events that name the decision, which were written after it,
are looked for only in the partitions from its month on.

The key trigger writes ``NEW.occurred_at`` from now on; the existing keys get their
decision's time in the migration (the key table's append-only trigger is set aside for that
one statement, in the migration's transaction). SQLite: nothing changes.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

CLAIM = (
    "INSERT INTO decisions_keys (id, idempotency_key, seq{time}) "
    "VALUES (NEW.id, NEW.idempotency_key, NEW.seq{new_time}) "
    "ON CONFLICT (idempotency_key) DO NOTHING; "
    "IF NOT FOUND THEN RETURN NULL; END IF;"
)


def _trigger_function(with_time: bool) -> None:
    claim = CLAIM.format(time=", occurred_at" if with_time else "",
                         new_time=", NEW.occurred_at" if with_time else "")  # fmt: skip
    op.execute(
        "CREATE OR REPLACE FUNCTION nextoffer_decisions_keys() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN {claim} RETURN NEW; END $$"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("ALTER TABLE decisions_keys ADD COLUMN occurred_at timestamptz")
    op.execute("ALTER TABLE decisions_keys DISABLE TRIGGER decisions_keys_append_only")
    op.execute(
        "UPDATE decisions_keys AS k SET occurred_at = d.occurred_at FROM decisions AS d "
        "WHERE d.seq = k.seq"
    )
    op.execute("ALTER TABLE decisions_keys ENABLE TRIGGER decisions_keys_append_only")
    _trigger_function(with_time=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    _trigger_function(with_time=False)
    op.execute("ALTER TABLE decisions_keys DROP COLUMN occurred_at")
