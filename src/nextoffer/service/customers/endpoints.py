"""``/v1/customers/{id}``: upsert and read customers; personal data and its erasure."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from ...core.request import IDENTIFIER
from ..errors import NotFound
from ..http import SessionDep, allow
from . import service
from .schemas import CustomerIn, PersonalDataIn

router = APIRouter(tags=["customers"])
# pseudonymous: a code, never a name or an e-mail address (see ``core.request``)
CustomerId = Annotated[str, Path(min_length=1, max_length=200, pattern=IDENTIFIER)]


@router.put("/v1/customers/{customer_id}", dependencies=[Depends(allow("client"))])
def upsert(request: Request, session: SessionDep, customer_id: CustomerId,
           body: CustomerIn) -> dict[str, Any]:  # fmt: skip
    """Create or replace a customer; attributes are checked against the customer schema (an
    undeclared one is refused); those it declares personal are kept with the personal data."""
    schema = request.app.state.snapshots.get().spec.customer_schema
    days = request.app.state.settings.retention_days
    return dict(service.upsert(session, customer_id, body, schema, days))


@router.get(
    "/v1/customers/{customer_id}", dependencies=[Depends(allow("client", "author", "approver"))]
)
def get(session: SessionDep, customer_id: CustomerId) -> dict[str, Any]:
    customer = service.get_customer(session, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id!r}")
    return dict(customer)


@router.put("/v1/customers/{customer_id}/personal-data", dependencies=[Depends(allow("admin"))])
def put_personal(request: Request, session: SessionDep, customer_id: CustomerId,
                 body: PersonalDataIn) -> dict[str, Any]:  # fmt: skip
    """Store name, e-mail and phone apart from everything else, until the retention ends."""
    days = request.app.state.settings.retention_days
    return dict(service.put_personal(session, customer_id, body, days))


@router.delete("/v1/customers/{customer_id}/personal-data", status_code=204,
               dependencies=[Depends(allow("admin"))])  # fmt: skip
def erase(session: SessionDep, customer_id: CustomerId) -> None:
    """Erase the customer's personal data now (a subject's request); the ledger stays whole."""
    service.erase(session, customer_id, "request")
