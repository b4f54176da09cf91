"""``GET /v1/decisions/{id}/proof``: a decision's inclusion proof against a signed checkpoint."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from ..http import SessionDep, allow
from . import service

router = APIRouter(tags=["decisions"])


@router.get(
    "/v1/decisions/{decision_id}/proof",
    dependencies=[Depends(allow("client", "author", "approver"))],
    responses={404: {"description": "No such decision"},
               409: {"description": "Not sealed, or in no checkpoint yet: retry later"}},
)  # fmt: skip
def proof(session: SessionDep, decision_id: Annotated[str, Path(max_length=36)]) -> dict[str, Any]:
    """The decision's row as sealed (its canonical text), its chain hash, and the RFC 6962
    audit path from it to the ``decisions`` root of the latest signed checkpoint, with that
    checkpoint: a client checks it with the public key alone (see the README)."""
    return dict(service.proof(session, decision_id))
