"""Experiment SQL: the experiments the ledger's decisions name."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..tables import decisions

__all__ = ["experiments"]


def experiments(session: Session) -> list[Any]:
    """Every experiment the ledger's decisions name, with counts per arm and the time span."""
    control = sa.func.sum(sa.case((decisions.c.control, 1), else_=0))
    return list(
        session.execute(
            sa.select(
                decisions.c.experiment,
                sa.func.count(),
                control,
                sa.func.min(decisions.c.occurred_at),
                sa.func.max(decisions.c.occurred_at),
            )
            .where(decisions.c.experiment.is_not(None))
            .group_by(decisions.c.experiment)
            .order_by(decisions.c.experiment)
        )
    )
