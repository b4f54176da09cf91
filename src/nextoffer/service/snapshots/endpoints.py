"""Publishing and the snapshots API: ``POST /v1/catalog/publish``, ``GET /v1/snapshots`` (who
published what) and ``GET /v1/snapshots/live``.

Publishing builds and stores a snapshot, so its route lives here; its path and its tag stay
the catalog's (an approver takes the catalog's pending edits live).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from ..http import SessionDep, allow
from ..keys.service import Principal
from . import service
from .schemas import PublishIn

__all__ = ["router"]

router = APIRouter(tags=["catalog"])


@router.post("/v1/catalog/publish", status_code=201)
def publish(
    session: SessionDep,
    who: Annotated[Principal, Depends(allow("approver"))],
    body: PublishIn | None = None,
) -> dict[str, Any]:
    """Take the catalog (every pending edit) live in a new snapshot version, audited with who
    published and what it took live; every worker swaps to it within a second."""
    return dict(service.publish(session, body.version if body else None, actor=who.id))


@router.get("/v1/snapshots", dependencies=[Depends(allow("author", "approver"))])
def snapshot_log(session: SessionDep) -> list[dict[str, Any]]:
    """The last 100 publishes, newest first: version, who (key id and label), why (catalog,
    rule, attach-refresh) and what each took live."""
    return [dict(p) for p in service.publishes(session)]


@router.get("/v1/snapshots/live", dependencies=[Depends(allow("client", "author", "approver"))])
def live(request: Request) -> dict[str, Any]:
    """The live snapshot: its version, sizes, and the rules it holds disabled
    (``needs_attention``: published before a check that now refuses their trigger)."""
    return dict(service.summary(request.app.state.snapshots.get()))
