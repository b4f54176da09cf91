"""Uplift: the customer as the engine saw them on each decision, models, and the CATE store.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    # a new nullable column rewrites no row: the ledger's no-UPDATE triggers are not involved
    op.add_column("decisions", sa.Column("features", JSON))
    op.create_table(
        "uplift_models",
        sa.Column("version", sa.String(200), primary_key=True),
        sa.Column("offer_id", sa.String(200), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("treated", sa.Integer, nullable=False),
        sa.Column("control", sa.Integer, nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.Column("model", sa.LargeBinary, nullable=False),
        sa.Column("trained_at", Time, nullable=False),
    )
    op.create_index("ix_uplift_models_offer_time", "uplift_models", ["offer_id", "trained_at"])
    op.create_table(
        "cate_estimates",
        sa.Column("customer_id", sa.String(200), primary_key=True),
        sa.Column("offer_id", sa.String(200), primary_key=True),
        sa.Column("tau", sa.Float, nullable=False),
        sa.Column("lower", sa.Float),
        sa.Column("upper", sa.Float),
        sa.Column("base_rate", sa.Float, nullable=False),
        sa.Column("segment", sa.String(32), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("scored_at", Time, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cate_estimates")
    op.drop_index("ix_uplift_models_offer_time", "uplift_models")
    op.drop_table("uplift_models")
    op.drop_column("decisions", "features")
