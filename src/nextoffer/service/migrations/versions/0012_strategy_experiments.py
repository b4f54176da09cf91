"""Strategy experiments: their definitions under four eyes, and the arm of each decision.

- ``strategy_experiments``: one row per experiment, its definition as validated, its status
  (proposed, running, stopped, promoted, withdrawn) and who proposed, started, stopped or
  promoted it and when (each action is also in the audit log).
- ``decisions.strategy_experiment`` and ``decisions.arm``: the experiment and the arm that
  decided a decision (NULL outside one; ``experiment`` stays the holdout's), with a partial
  index for the reports.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "strategy_experiments",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposer", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("started_by", sa.String(200)),
        sa.Column("started_at", Time),
        sa.Column("started_seq", sa.BigInteger),
        sa.Column("stopped_by", sa.String(200)),
        sa.Column("stopped_at", Time),
        sa.Column("stopped_seq", sa.BigInteger),
        sa.Column("stop_reason", sa.Text),
        sa.Column("promoted_by", sa.String(200)),
        sa.Column("promoted_at", Time),
        sa.Column("promotion_reason", sa.Text),
        sa.Column("promoted_arm", sa.String(200)),
        sa.Column("promoted_version", sa.String(200)),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_index("ix_strategy_experiments_status", "strategy_experiments", ["status"])
    # nullable columns without a default: no rewrite of the ledger's rows (the append-only
    # triggers fire on row updates, and none happens)
    op.add_column("decisions", sa.Column("strategy_experiment", sa.String(200)))
    op.add_column("decisions", sa.Column("arm", sa.String(200)))
    op.create_index(
        "ix_decisions_strategy_experiment",
        "decisions",
        ["strategy_experiment", "occurred_at"],
        postgresql_where=sa.text("strategy_experiment IS NOT NULL"),
        sqlite_where=sa.text("strategy_experiment IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_decisions_strategy_experiment", table_name="decisions")
    op.drop_column("decisions", "arm")  # SQLite 3.35+: in place, its triggers kept
    op.drop_column("decisions", "strategy_experiment")
    op.drop_index("ix_strategy_experiments_status", table_name="strategy_experiments")
    op.drop_table("strategy_experiments")
