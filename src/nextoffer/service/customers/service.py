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

from sqlalchemy.orm import Session

from ...core.request import Request
from ...core.rules import CustomerSchema
from ..errors import InvalidInput, NotFound
from . import repository
from .schemas import Customer, CustomerIn, PersonalDataIn, PersonalDataKept

__all__ = [
    "check_request",
    "erase",
    "get_customer",
    "put_personal",
    "sweep",
    "upsert",
]


def check_request(schema: CustomerSchema, request: Request) -> None:
    """Refuse a request (for a decision, a dry run) whose customer attributes do not fit the
    schema: every problem at once, named ``customer.attributes.<name>``. Undeclared and
    personal attributes are refused: the request is written to the ledger."""
    if request.customer is None or not request.customer.attributes:
        return
    problems = schema.check.problems(request.customer.attributes, "customer.attributes")
    if problems:
        raise InvalidInput([{"field": f, "message": m} for f, m in problems])


def upsert(
    session: Session,
    customer_id: str,
    data: CustomerIn,
    schema: CustomerSchema,
    retention_days: int = 365,
) -> Customer:
    """Create or replace a customer. Its personal attributes are stored with its personal
    data (until ``retention_days`` from now, or an erasure), the others with the customer;
    the answer echoes only what is stored with the customer."""
    check = schema.check
    problems = check.problems(data.attributes, "attributes", personal=True)
    if problems:
        raise InvalidInput([{"field": f, "message": m} for f, m in problems])
    plain = {k: v for k, v in data.attributes.items() if not check.is_personal(k)}
    personal = {k: v for k, v in data.attributes.items() if check.is_personal(k)}
    now = dt.datetime.now(dt.UTC)
    row = {"id": customer_id, "attributes": plain, "holdings": data.holdings,
           "segments": data.segments, "updated_at": now}  # fmt: skip
    repository.upsert_customer(session, row)
    if personal:
        repository.upsert_personal(session, {
            "customer_id": customer_id, "attributes": personal, "updated_at": now,
            "erase_after": now + dt.timedelta(days=retention_days)})  # fmt: skip
    else:  # a replacement: personal attributes no longer sent are no longer kept
        repository.forget_personal_attributes(session, customer_id)
    return {"id": customer_id, "attributes": plain, "holdings": data.holdings,
            "segments": data.segments}  # fmt: skip


def get_customer(session: Session, customer_id: str) -> Customer | None:
    """The customer as stored (without personal data), or None."""
    row = repository.customer(session, customer_id)
    if row is None:
        return None
    return {
        "id": row.id,
        "attributes": row.attributes,
        "holdings": row.holdings,
        "segments": row.segments,
    }


def put_personal(
    session: Session, customer_id: str, data: PersonalDataIn, retention_days: int
) -> PersonalDataKept:
    """Store a customer's name, e-mail and phone apart from everything else, until
    ``retention_days`` from now (or an erasure)."""
    now = dt.datetime.now(dt.UTC)
    erase_after = now + dt.timedelta(days=retention_days)
    repository.upsert_personal(session, {
        "customer_id": customer_id, **data.model_dump(), "updated_at": now,
        "erase_after": erase_after})  # fmt: skip
    return {"customer_id": customer_id, "erase_after": erase_after.isoformat()}


def erase(session: Session, customer_id: str, reason: str = "request") -> None:
    """Erase one customer's personal data now (a subject's request), and record it."""
    if not repository.delete_personal(session, customer_id):
        raise NotFound(f"no personal data for customer {customer_id!r}")
    repository.record_erasure(session, customer_id, reason)


def sweep(session: Session, now: dt.datetime | None = None) -> int:
    """Erase every personal-data row past its retention; returns how many."""
    now = now or dt.datetime.now(dt.UTC)
    erased = 0
    for customer_id in repository.due_for_erasure(session, now):
        # another worker's sweep may have erased it meanwhile: record only what this one did
        if repository.delete_personal(session, customer_id):
            repository.record_erasure(session, customer_id, "retention")
            erased += 1
    return erased
