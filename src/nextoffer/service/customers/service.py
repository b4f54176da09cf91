"""Customers and personal data.

A customer is a pseudonymous id with attributes (validated against the declared customer
schema), holdings and segments. Personal data lives in its own table and never enters the
ledger: name, e-mail and phone (``PUT /v1/customers/{id}/personal-data``) and the attributes
the customer schema declares ``personal`` (sent with the customer, stored only there). The
erasure sweeper deletes it once ``erase_after`` has passed (``retention_days`` after it was
last written) or when the subject asks, and writes an erasure record. The ledger stays
whole: it only ever held the pseudonymous id.

Customer ids, holdings and segments are ``Identifier``s (letters, digits, ``_ . : -``): a
code, never a name or an e-mail address; an undeclared attribute is refused (422).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from ...core.request import Identifier, Request
from ...core.rules import CustomerSchema
from ..db import dialect_insert
from ..errors import InvalidInput, NotFound
from ..tables import customers, erasures, personal_data

__all__ = [
    "CustomerIn",
    "PersonalDataIn",
    "check_request",
    "erase",
    "get_customer",
    "put_personal",
    "sweep",
    "upsert",
]


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attributes: dict[str, Any] = Field(default_factory=dict)
    holdings: Annotated[list[Identifier], Field(max_length=1_000)] = Field(default_factory=list)
    segments: Annotated[list[Identifier], Field(max_length=1_000)] = Field(default_factory=list)


class PersonalDataIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=500)] | None = None
    email: Annotated[str, Field(max_length=500, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    phone: Annotated[str, Field(max_length=100)] | None = None


def check_request(schema: CustomerSchema, request: Request) -> None:
    """Refuse a request (for a decision, a dry run) whose customer attributes do not fit the
    schema: every problem at once, named ``customer.attributes.<name>``. Undeclared and
    personal attributes are refused: the request is written to the ledger."""
    if request.customer is None or not request.customer.attributes:
        return
    problems = schema.check.problems(request.customer.attributes, "customer.attributes")
    if problems:
        raise InvalidInput([{"field": f, "message": m} for f, m in problems])


def _upsert(session: Session, table: sa.Table, key: str, values: dict[str, Any]) -> None:
    stmt = dialect_insert(session, table).values(values)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[key], set_={k: v for k, v in values.items() if k != key}
        )
    )


def upsert(
    session: Session,
    customer_id: str,
    body: Any,
    schema: CustomerSchema,
    retention_days: int = 365,
) -> dict[str, Any]:
    """Create or replace a customer. Its personal attributes are stored with its personal
    data (until ``retention_days`` from now, or an erasure), the others with the customer;
    the answer echoes only what is stored with the customer."""
    try:
        data = CustomerIn.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from None
    check = schema.check
    problems = check.problems(data.attributes, "attributes", personal=True)
    if problems:
        raise InvalidInput([{"field": f, "message": m} for f, m in problems])
    plain = {k: v for k, v in data.attributes.items() if not check.is_personal(k)}
    personal = {k: v for k, v in data.attributes.items() if check.is_personal(k)}
    now = dt.datetime.now(dt.UTC)
    row = {"id": customer_id, "attributes": plain, "holdings": data.holdings,
           "segments": data.segments, "updated_at": now}  # fmt: skip
    _upsert(session, customers, "id", row)
    if personal:
        _upsert(session, personal_data, "customer_id",
                {"customer_id": customer_id, "attributes": personal, "updated_at": now,
                 "erase_after": now + dt.timedelta(days=retention_days)})  # fmt: skip
    else:  # a replacement: personal attributes no longer sent are no longer kept
        session.execute(
            sa.update(personal_data)
            .where(
                personal_data.c.customer_id == customer_id, personal_data.c.attributes.isnot(None)
            )
            .values(attributes=sa.null())
        )
    return {"id": customer_id, "attributes": plain, "holdings": data.holdings,
            "segments": data.segments}  # fmt: skip


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
