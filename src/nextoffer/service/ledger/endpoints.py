"""``POST /v1/events``, ``GET /v1/customers/{id}/history``, outcome types."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request, Response

from ..db import after_commit
from ..errors import Conflict
from ..http import SessionDep, allow, idempotency_header
from ..journeys.runner import Arrival
from ..keys.service import Principal
from ..operations.metrics import metrics
from . import repository, service
from .schemas import BUILTIN_TYPES, Event, EventIn, OutcomeTypeIn

router = APIRouter(tags=["ledger"])

_EVENT = EventIn.model_json_schema()
_EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _EVENT,
                        {"type": "array", "items": _EVENT, "minItems": 1},
                        {"type": "object", "required": ["events"], "additionalProperties": False,
                         "properties": {"events": {"type": "array", "items": _EVENT, "minItems": 1}}},
                    ]
                }
            }
        },
    }
}  # fmt: skip


@router.post("/v1/events", status_code=201, openapi_extra=_EVENTS_BODY)
def post_events(
    session: SessionDep,
    request: Request,
    response: Response,
    who: Annotated[Principal, Depends(allow("client"))],
    body: Annotated[Any, Body(include_in_schema=False)],
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """Record one event or a batch (all or nothing); a repeated idempotency key is not
    written twice, and a key reused for a different event is refused (409). Keys are the
    client's own: another API key's equal key is another event. Journeys waiting for these
    events move in the same transaction."""
    new: list[Event] = []
    result = service.ingest(
        session, body, idempotency_header(idempotency_key), client=who.id, new=new
    )
    # the journeys waiting for these events move in the same transaction, at the server's
    # time (the live decision path's clock)
    at = request.app.state.clock.now()
    request.app.state.journeys.on_events(session, [
        Arrival(e["customer_id"], e["type"], at, e["offer_id"], e["value"], e["id"])
        for e in new if e["customer_id"] is not None
    ])  # fmt: skip
    if result.get("duplicate") or result.get("accepted") == 0:
        response.status_code = 200
    # the events sent, less those written: the duplicates (retries, a key repeated unchanged),
    # counted once the transaction commits
    sent = 1 if "duplicate" in result else len(result["events"])
    types = [e["type"] for e in new]
    after_commit(session, lambda: metrics().ingested(types, sent - len(types)))
    return dict(result)


@router.get(
    "/v1/customers/{customer_id}/history",
    dependencies=[Depends(allow("client", "author", "approver"))],
)
def history(session: SessionDep, customer_id: str, days: int = 90) -> dict[str, Any]:
    """The customer's decisions and outcomes, oldest first, by the database's clock."""
    days = max(1, min(days, 3650))
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    readable = service.history_of(session, customer_id, since)
    return {"customer_id": customer_id, "days": days, "history": readable}


@router.post("/v1/outcome-types", status_code=201, dependencies=[Depends(allow("admin"))])
def register(session: SessionDep, body: OutcomeTypeIn, response: Response) -> dict[str, Any]:
    """Register a custom outcome type with a positive, negative or neutral classification,
    and the payload fields its events may carry (any other payload field is refused)."""
    if body.name in BUILTIN_TYPES:
        raise Conflict(f"{body.name!r} is a built-in event type")
    if not repository.register_outcome_type(session, body.name, body.classification, body.payload):
        raise Conflict(f"outcome type {body.name!r} exists already")
    return {"name": body.name, "classification": body.classification, "payload": body.payload}


@router.get("/v1/outcome-types", dependencies=[Depends(allow("client", "author", "approver"))])
def outcome_types(session: SessionDep) -> dict[str, str]:
    return repository.outcome_classes(session)
