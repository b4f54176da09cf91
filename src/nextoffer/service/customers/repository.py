"""Customer SQL: customers (pseudonymous), their personal data apart, and erasure records."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..db import dialect_insert
from ..tables import customers, erasures, personal_data

__all__ = ["customer", "delete_personal", "due_for_erasure", "forget_personal_attributes",
           "record_erasure", "upsert_customer", "upsert_personal"]  # fmt: skip

_CUSTOMER = sa.select(customers).where(customers.c.id == sa.bindparam("customer_id"))


def _upsert(session: Session, table: sa.Table, key: str, values: dict[str, Any]) -> None:
    stmt = dialect_insert(session, table).values(values)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[key], set_={k: v for k, v in values.items() if k != key}
        )
    )


def upsert_customer(session: Session, values: dict[str, Any]) -> None:
    """Create or replace a customer row (``id``, attributes, holdings, segments, time)."""
    _upsert(session, customers, "id", values)


def upsert_personal(session: Session, values: dict[str, Any]) -> None:
    """Create or update a customer's personal-data row (the columns ``values`` names)."""
    _upsert(session, personal_data, "customer_id", values)


def forget_personal_attributes(session: Session, customer_id: str) -> None:
    """Clear the personal attributes kept for a customer (name, e-mail, phone stay)."""
    session.execute(
        sa.update(personal_data)
        .where(personal_data.c.customer_id == customer_id, personal_data.c.attributes.isnot(None))
        .values(attributes=sa.null())
    )


def customer(session: Session, customer_id: str) -> Any | None:
    """The customer's row, or None."""
    return session.execute(_CUSTOMER, {"customer_id": customer_id}).first()


def delete_personal(session: Session, customer_id: str) -> bool:
    """Delete a customer's personal data; whether there was any."""
    result = session.execute(
        sa.delete(personal_data).where(personal_data.c.customer_id == customer_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_erasure(session: Session, customer_id: str, reason: str) -> None:
    """Write an erasure record."""
    session.execute(sa.insert(erasures).values(customer_id=customer_id, reason=reason))


def due_for_erasure(session: Session, now: dt.datetime) -> list[str]:
    """The customers whose personal data is past its retention at ``now``."""
    return list(
        session.execute(
            sa.select(personal_data.c.customer_id).where(personal_data.c.erase_after <= now)
        )
        .scalars()
        .all()
    )
