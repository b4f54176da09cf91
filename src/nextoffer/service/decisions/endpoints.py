"""``POST /v1/decisions`` and ``GET /v1/decisions/{id}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from ...core.request import Request as DecisionRequest
from ..errors import InvalidInput
from ..http import SessionDep, allow
from . import service

router = APIRouter(tags=["decisions"])


# The decision endpoint reads its Idempotency-Key header itself (documented here as FastAPI
# would document it) and sends its answer as it is: as a header parameter and a return value
# to validate, FastAPI would handle both on every request, a tenth of a decision's work.
_IDEMPOTENCY_KEY = {
    "name": "idempotency-key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "title": "Idempotency-Key"},
}


@router.post(
    "/v1/decisions",
    dependencies=[Depends(allow("client"))],
    response_model=dict[str, Any],
    openapi_extra={"parameters": [_IDEMPOTENCY_KEY]},
)
async def decide(request: Request, body: DecisionRequest) -> JSONResponse:
    """Which offers to show where, for one customer, now; written to the ledger with its id.

    With an ``Idempotency-Key`` header, a retry returns the original decision."""
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 200:
        raise InvalidInput.one("idempotency-key", "must be 1 to 200 characters")
    state = request.app.state
    decision = await service.decide_async(
        state.db, state.snapshots, body, idempotency_key, state.models, state.pipeline
    )
    return JSONResponse(decision)


@router.get(
    "/v1/decisions/{decision_id}", dependencies=[Depends(allow("client", "author", "approver"))]
)
def get(session: SessionDep, decision_id: Annotated[str, Path(max_length=36)]) -> dict[str, Any]:
    """A decision from the ledger, with its request and trace."""
    return service.get(session, decision_id)
