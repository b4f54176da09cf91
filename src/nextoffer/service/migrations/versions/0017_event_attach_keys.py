"""Events record what the attach refresh needs of the decision they name.

The refresh counts each new showing (an impression or accept of an offer a decision showed)
by its pitch: the offer, the rule that nominated it in the decision, and the channel. It
looked up each showing's decision twice (its key, then its row in the partition of its
month) to find the nominating rule, and the decision's time, from which the partitions an
earlier event of the same showing can be in are known. Both are known when the event is
written (its attribution reads the decision), so the event keeps them:

- ``decision_at``: the named decision's ``occurred_at`` (events naming a decision in the
  ledger);
- ``rule_id``: the rule that nominated the event's offer in that decision, ``""`` for none
  (attributed events about an offer).

Rows written before this revision keep NULL in both (the ledger is not rewritten): the
refresh looks their decisions up as before. Both dialects.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("decision_at", sa.DateTime(timezone=True)))
    op.add_column("events", sa.Column("rule_id", sa.String(200)))


def downgrade() -> None:
    # (SQLite drops a column in place since 3.35; a batch copy would lose the ledger's triggers)
    op.execute("ALTER TABLE events DROP COLUMN rule_id")
    op.execute("ALTER TABLE events DROP COLUMN decision_at")
