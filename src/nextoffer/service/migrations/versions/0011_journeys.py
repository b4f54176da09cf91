"""Journeys: versioned definitions under four eyes, enrollments, and transitions.

- ``journeys``: one row per journey, with its live version (null: none, new entries stop).
- ``journey_versions``: every published version of a definition; append-only like rule
  revisions (a customer stays on the version they entered with, so a version never changes).
- ``journey_proposals``: a definition waiting for an approver (four eyes, like rules).
- ``enrollments``: one per (journey, customer), the current state the transitions add up to,
  with ``due_at`` (partial index) for the scheduler.
- ``journey_transitions``: every transition of every enrollment, append-only; ``n`` numbers
  the transitions of one (journey, customer), unique, so that two drivers racing on one
  enrollment can never both record its next step.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Time = sa.DateTime(timezone=True)
# each new append-only table and its unique keys (a tuple: one composite key)
APPEND_ONLY: dict[str, list[tuple[str, ...]]] = {
    "journey_versions": [("journey_id", "version")],
    "journey_transitions": [("seq",), ("journey_id", "customer_id", "n")],
}


def _server_now() -> sa.TextClause:
    return sa.text("CURRENT_TIMESTAMP")


def _append_only(table: str, keys: list[tuple[str, ...]], sqlite: bool) -> None:
    if sqlite:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {action} on {table}'); END"
            )
        match = " OR ".join("(" + " AND ".join(f"{c} = NEW.{c}" for c in key) + ")" for key in keys)
        op.execute(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {match}) "
            f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: INSERT over an existing row "
            f"of {table}'); END"
        )
    else:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION nextoffer_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION nextoffer_append_only()"
        )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "journeys",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("live_version", sa.Integer),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_table(
        "journey_versions",
        sa.Column("journey_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("source", JSON, nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_table(
        "journey_proposals",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("journey_id", sa.String(200), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reviewer", sa.String(200)),
        sa.Column("review_reason", sa.Text),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_index("ix_journey_proposals_journey", "journey_proposals", ["journey_id", "status"])
    op.create_table(
        "enrollments",
        sa.Column("journey_id", sa.String(200), primary_key=True),
        sa.Column("customer_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.String(200)),
        sa.Column("due_at", Time),
        sa.Column("state", JSON, nullable=False),
        sa.Column("transitions", sa.Integer, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_index("ix_enrollments_customer", "enrollments", ["customer_id"])
    op.create_index(
        "ix_enrollments_due",
        "enrollments",
        ["due_at"],
        postgresql_where=sa.text("due_at IS NOT NULL"),
        sqlite_where=sa.text("due_at IS NOT NULL"),
    )
    op.create_table(
        "journey_transitions",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("journey_id", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_step", sa.String(200)),
        sa.Column("to_step", sa.String(200)),
        sa.Column("reason", sa.Text),
        sa.Column("decision_id", sa.String(36)),
        sa.Column("event_id", sa.String(36)),
        sa.Column("at", Time, nullable=False),
        sa.Column("record", JSON, nullable=False),
        sa.Column("occurred_at", Time, nullable=False, server_default=_server_now()),
        sa.UniqueConstraint("journey_id", "customer_id", "n", name="uq_journey_transitions_n"),
    )
    op.create_index("ix_journey_transitions_journey", "journey_transitions", ["journey_id", "seq"])
    for table, keys in APPEND_ONLY.items():
        _append_only(table, keys, sqlite)


def downgrade() -> None:
    for table in ("journey_transitions", "enrollments", "journey_proposals", "journey_versions",
                  "journeys"):  # fmt: skip
        op.drop_table(table)
