"""The ledger's hash chain and its signed checkpoints.

- ``ledger_chain``: one entry per sealed ledger row, per ledger table, numbered ``n`` from 1
  in the order the sealer chained them (``seq`` order; tables keyed without a ``seq`` —
  rule revisions, journey versions — in the order they were sealed, their key in
  ``row_key``): the row's ``seq`` (or ``n``), its digest and its chain hash (see
  ``nextoffer.core.chain``). Append-only, like the ledger.
- ``ledger_checkpoints``: every signed checkpoint (RFC 6962 tree heads over each table's
  chain), the signed text as written to the checkpoint directory; ``frontier`` (not signed)
  keeps the roots of each tree's perfect subtrees, from which the next checkpoint grows.
  Append-only.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Time = sa.DateTime(timezone=True)
KEYS: dict[str, list[tuple[str, ...]]] = {
    "ledger_chain": [("ledger", "n"), ("ledger", "seq")],
    "ledger_checkpoints": [("number",)],
}


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
        return
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
        "ledger_chain",
        sa.Column("ledger", sa.String(64), primary_key=True),
        sa.Column("n", sa.BigInteger, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("row_key", sa.Text),
        sa.Column("digest", sa.LargeBinary, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("ledger", "seq", name="uq_ledger_chain_seq"),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("signed", sa.Text, nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("frontier", JSON, nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    for table, keys in KEYS.items():
        _append_only(table, keys, sqlite)


def downgrade() -> None:
    op.drop_table("ledger_checkpoints")
    op.drop_table("ledger_chain")
