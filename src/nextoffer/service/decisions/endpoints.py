"""``POST /v1/decisions`` and ``GET /v1/decisions/{id}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request

from ...core.request import Request as DecisionRequest
from ..http import SessionDep, allow
from . import service

router = APIRouter(tags=["decisions"])


@router.post("/v1/decisions", dependencies=[Depends(allow("client"))])
async def decide(
    request: Request,
    body: DecisionRequest,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> dict[str, Any]:
    """Which offers to show where, for one customer, now; written to the ledger with its id."""
    state = request.app.state
    return await service.decide_async(
        state.db, state.snapshots, body, idempotency_key, state.models, state.pipeline
    )


@router.get(
    "/v1/decisions/{decision_id}", dependencies=[Depends(allow("client", "author", "approver"))]
)
def get(session: SessionDep, decision_id: Annotated[str, Path(max_length=36)]) -> dict[str, Any]:
    """A decision from the ledger, with its request and trace."""
    return service.get(session, decision_id)
