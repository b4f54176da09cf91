"""Customers and personal data.

A customer is a pseudonymous id with attributes (validated against the declared customer
schema), holdings and segments. Personal data (name, e-mail, phone) lives in its own table
and never enters the ledger; the erasure sweeper deletes it once ``erase_after`` has passed
(``retention_days`` after it was last written) or when the subject asks, and writes an
erasure record. The ledger stays whole: it only ever held the pseudonymous id.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from ...core.rules import ContextError, CustomerSchema, coerce_attribute
from ..db import dialect_insert
from ..errors import InvalidInput, NotFound
from ..tables import customers, erasures, personal_data

__all__ = [
    "CustomerIn",
    "PersonalDataIn",
    "erase",
    "get_customer",
    "put_personal",
    "sweep",
    "upsert",
]


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attributes: dict[str, Any] = Field(default_factory=dict)
    holdings: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list
    )
    segments: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list
    )


class PersonalDataIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=500)] | None = None
    email: Annotated[str, Field(max_length=500, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    phone: Annotated[str, Field(max_length=100)] | None = None


def _upsert(session: Session, table: sa.Table, key: str, values: dict[str, Any]) -> None:
    stmt = dialect_insert(session, table).values(values)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[key], set_={k: v for k, v in values.items() if k != key}
        )
    )


def upsert(session: Session, customer_id: str, body: Any, schema: CustomerSchema) -> dict[str, Any]:
    try:
        data = CustomerIn.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from None
    errors = []
    for name, value in data.attributes.items():
        kind = schema.attributes.get(name)
        if kind is None:
            known = ", ".join(sorted(schema.attributes)) or "none declared"
            errors.append(
                {"field": f"attributes.{name}", "message": f"not in the customer schema ({known})"}
            )
            continue
        if value is None:
            continue
        try:
            coerce_attribute(f"attributes.{name}", kind, value)
        except ContextError as exc:
            errors.append({"field": exc.field, "message": str(exc).split(": ", 1)[1]})
    if errors:
        raise InvalidInput(errors)
    row = {"id": customer_id, "attributes": data.attributes, "holdings": data.holdings,
           "segments": data.segments, "updated_at": dt.datetime.now(dt.UTC)}  # fmt: skip
    _upsert(session, customers, "id", row)
    return {"id": customer_id, **data.model_dump()}


_CUSTOMER = sa.select(customers).where(customers.c.id == sa.bindparam("customer_id"))


def get_customer(session: Session, customer_id: str) -> dict[str, Any] | None:
    row = session.execute(_CUSTOMER, {"customer_id": customer_id}).first()
    if row is None:
        return None
    return {
        "id": row.id,
        "attributes": row.attributes,
        "holdings": row.holdings,
        "segments": row.segments,
    }


def put_personal(
    session: Session, customer_id: str, body: Any, retention_days: int
) -> dict[str, Any]:
    try:
        data = PersonalDataIn.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from None
    now = dt.datetime.now(dt.UTC)
    erase_after = now + dt.timedelta(days=retention_days)
    _upsert(session, personal_data, "customer_id",
            {"customer_id": customer_id, **data.model_dump(), "updated_at": now, "erase_after": erase_after})  # fmt: skip
    return {"customer_id": customer_id, "erase_after": erase_after.isoformat()}


def erase(session: Session, customer_id: str, reason: str = "request") -> None:
    """Erase one customer's personal data now (a subject's request), and record it."""
    result = session.execute(
        sa.delete(personal_data).where(personal_data.c.customer_id == customer_id)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"no personal data for customer {customer_id!r}")
    session.execute(sa.insert(erasures).values(customer_id=customer_id, reason=reason))


def sweep(session: Session, now: dt.datetime | None = None) -> int:
    """Erase every personal-data row past its retention; returns how many."""
    now = now or dt.datetime.now(dt.UTC)
    due = (
        session.execute(
            sa.select(personal_data.c.customer_id).where(personal_data.c.erase_after <= now)
        )
        .scalars()
        .all()
    )
    erased = 0
    for customer_id in due:
        # another worker's sweep may have erased it meanwhile: record only what this one did
        gone = session.execute(
            sa.delete(personal_data).where(personal_data.c.customer_id == customer_id)
        )
        if gone.rowcount:  # type: ignore[attr-defined]
            session.execute(sa.insert(erasures).values(customer_id=customer_id, reason="retention"))
            erased += 1
    return erased
