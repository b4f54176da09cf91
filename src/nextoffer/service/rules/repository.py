"""Rules SQL shared with the snapshots: the live revision of every active rule."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..tables import rule_revisions, rules

__all__ = ["live_rules"]


def live_rules(session: Session) -> list[dict[str, Any]]:
    """The live revision of every active rule, as snapshot data, by rule id."""
    rows = session.execute(
        sa.select(rule_revisions)
        .join(
            rules,
            sa.and_(
                rules.c.id == rule_revisions.c.rule_id,
                rules.c.live_revision == rule_revisions.c.revision,
            ),
        )
        .order_by(rule_revisions.c.rule_id)
    )
    return [{"id": r.rule_id, "revision": r.revision, "trigger": r.trigger, "offers": r.offers,
             "priority": r.priority, "description": r.description} for r in rows]  # fmt: skip
