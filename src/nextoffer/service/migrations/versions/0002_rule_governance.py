"""Rule governance: rules with a live revision, immutable revisions, proposals, the audit log.

``rule_revisions`` and ``audit`` are append-only like the ledger (the database rejects
UPDATE and DELETE on them).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Time = sa.DateTime(timezone=True)
APPEND_ONLY = ("rule_revisions", "audit")


def _server_now() -> sa.TextClause:
    if op.get_bind().dialect.name == "sqlite":
        return sa.text("(strftime('%Y-%m-%d %H:%M:%f', 'now'))")
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "rules",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("live_revision", sa.Integer),
        sa.Column("stats", JSON),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_table(
        "rule_revisions",
        sa.Column("rule_id", sa.String(200), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column("trigger", JSON, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("offers", JSON, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("source", JSON, nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_table(
        "proposals",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("trigger", JSON, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("offers", JSON, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("stats", JSON),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("occurred_at", Time, nullable=False, server_default=_server_now()),
    )
    op.create_index("ix_audit_subject", "audit", ["subject", "seq"])
    if op.get_bind().dialect.name == "sqlite":
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {action} on {table}'); END"
                )
    else:
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION nextoffer_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION nextoffer_append_only()"
            )


def downgrade() -> None:
    op.drop_index("ix_audit_subject", "audit")
    for table in ("audit", "proposals", "rule_revisions", "rules"):
        op.drop_table(table)
