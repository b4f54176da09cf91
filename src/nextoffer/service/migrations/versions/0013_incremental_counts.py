"""Incremental counts: the attach counts are kept from a watermark on the ledger's sequence.

- ``ledger_watermarks``: for each counter kept from the ledger, the sequence number (``seq``)
  of the newest ledger row it has counted; a refresh counts only the rows after it and
  advances it in the same transaction as the counts it adds.
- ``attach_counts.impressions``: the raw number of showings with an impression (``shown`` is
  the larger of it and ``accepted``: an accept without its impression still counts as
  shown). The larger of two sums is not the sum of the larger of each part, so the raw
  counts are kept to add new rows to.

The stored counts are derived data (the ledger is their source): they are emptied here,
and the first refresh after the upgrade counts the whole ledger once, from sequence 0.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_watermarks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute("DELETE FROM attach_counts")
    op.add_column(
        "attach_counts",
        sa.Column("impressions", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("attach_counts", "impressions")
    op.drop_table("ledger_watermarks")
