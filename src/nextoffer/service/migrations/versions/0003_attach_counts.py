"""Attach counts: showings and acceptances per pitch, recounted from the ledger.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attach_counts",
        sa.Column("offer_id", sa.String(200), primary_key=True),
        sa.Column("rule_id", sa.String(200), primary_key=True),  # "" when no rule nominated it
        sa.Column("channel", sa.String(200), primary_key=True),
        sa.Column("shown", sa.BigInteger, nullable=False),
        sa.Column("accepted", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("attach_counts")
