"""Campaigns' SQL: the stored customers, page by page, over which a segment is evaluated."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from ..tables import customers

__all__ = ["count_customers", "customers_after"]

_PAGE = (
    sa.select(customers.c.id, customers.c.attributes, customers.c.holdings, customers.c.segments)
    .where(customers.c.id > sa.bindparam("after"))
    .order_by(customers.c.id)
    .limit(sa.bindparam("limit"))
)


def customers_after(session: Session, after: str, limit: int) -> list[Row[Any]]:
    """Stored customers after id ``after`` (by id, through the primary key), ``limit`` of
    them, with what a segment condition reads (attributes, holdings, segments)."""
    return list(session.execute(_PAGE, {"after": after, "limit": limit}))


def count_customers(session: Session) -> int:
    """How many customers are stored (what a segment's evaluation reads through)."""
    return int(session.execute(sa.select(sa.func.count()).select_from(customers)).scalar_one())
