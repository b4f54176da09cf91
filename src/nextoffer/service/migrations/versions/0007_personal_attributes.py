"""Personal attributes kept with the personal data, and declared payloads of outcome types.

``personal_data.attributes`` holds the attributes the customer schema declares personal
(erased with the rest of the row); ``outcome_types.payload`` the payload fields a custom
outcome type declares (an event's payload may hold only those).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # nullable columns: a plain ADD COLUMN on both databases (no table copy on SQLite)
    op.add_column("personal_data", sa.Column("attributes", JSON))
    op.add_column("outcome_types", sa.Column("payload", JSON))


def downgrade() -> None:
    with op.batch_alter_table("outcome_types") as batch:
        batch.drop_column("payload")
    with op.batch_alter_table("personal_data") as batch:
        batch.drop_column("attributes")
