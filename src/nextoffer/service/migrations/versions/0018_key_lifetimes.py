"""API keys can be revoked and can expire, and remember when they were last used.

- ``revoked_at``: when ``nextoffer keys revoke`` revoked the key (NULL: not revoked); a
  revoked key is refused from then on, and its dashboard sessions end with it;
- ``expires_at``: the end of the key's life (NULL: it does not expire), set at creation
  (``nextoffer keys create --expires 90d``);
- ``last_used_at``: the latest use a worker has written (each worker writes a key's uses at
  most once a minute, in the background; NULL: no use written yet).

Existing keys keep NULL in all three: live, without expiry, no use known. Both dialects.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

COLUMNS = ("revoked_at", "expires_at", "last_used_at")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("api_keys", sa.Column(name, sa.DateTime(timezone=True)))


def downgrade() -> None:
    # (SQLite drops a column in place since 3.35)
    for name in reversed(COLUMNS):
        op.execute(f"ALTER TABLE api_keys DROP COLUMN {name}")
