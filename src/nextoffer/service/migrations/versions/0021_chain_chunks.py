"""The ledger's chain keeps the root of every complete chunk of its Merkle tree, so that a
decision's inclusion proof reads a chunk's hashes and the chunks' roots, not every hash of
the ``decisions`` chain.

Entry n of a table's chain whose n is a multiple of ``CHUNK`` (1,024) holds in
``chunk_root`` the RFC 6962 root of the perfect subtree of entries ``n - 1023 .. n`` (the
sealer writes it with the entry). Entries sealed before this revision have none: a proof
hashes those chunks' leaves instead (correct, slower). A partial index finds the roots.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger_chain", sa.Column("chunk_root", sa.LargeBinary))
    where = sa.text("chunk_root IS NOT NULL")
    op.create_index("ix_ledger_chain_chunks", "ledger_chain", ["ledger", "n"],
                    postgresql_where=where, sqlite_where=where)  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_ledger_chain_chunks", "ledger_chain")
    op.drop_column("ledger_chain", "chunk_root")
