"""The customer's contacts: a partial index on the decisions that showed something outside a
control group, which is all the decision path reads of a customer's decisions.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# as nextoffer.service.tables.CONTACTS at this revision (a migration does not follow later
# changes to the application's tables)
CONTACTS = {
    "postgresql": "NOT control AND jsonb_array_length(shown) > 0",
    "sqlite": "NOT control AND json_array_length(shown) > 0",
}


def upgrade() -> None:
    op.create_index(
        "ix_decisions_contacts",
        "decisions",
        ["customer_id", "occurred_at"],
        postgresql_where=sa.text(CONTACTS["postgresql"]),
        sqlite_where=sa.text(CONTACTS["sqlite"]),
    )


def downgrade() -> None:
    op.drop_index("ix_decisions_contacts", table_name="decisions")
