"""The catalog API and publishing: ``/v1/catalog/{kind}/{id}``, ``POST /v1/catalog/publish``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..http import SessionDep, allow
from . import service

router = APIRouter(tags=["catalog"])
Kind = Literal["product", "offer", "channel", "policy", "settings"]
ItemId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: (
        Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")] | None
    ) = None


@router.get("/v1/catalog/{kind}", dependencies=[Depends(allow("author", "approver"))])
def list_items(session: SessionDep, kind: Kind) -> list[dict[str, Any]]:
    return service.list_items(session, kind)


@router.get("/v1/catalog/{kind}/{item_id}", dependencies=[Depends(allow("author", "approver"))])
def get_item(session: SessionDep, kind: Kind, item_id: ItemId) -> dict[str, Any]:
    item = service.get_item(session, kind, item_id)
    assert item is not None
    return item


@router.put("/v1/catalog/{kind}/{item_id}", dependencies=[Depends(allow("author"))])
def put_item(
    session: SessionDep,
    kind: Kind,
    item_id: ItemId,
    body: Annotated[dict[str, Any], Body()],
    response: Response,
) -> dict[str, Any]:
    """Create or replace an item (validated like the snapshot validates it)."""
    item, created = service.put_item(session, kind, item_id, body)
    response.status_code = 201 if created else 200
    return item


@router.delete(
    "/v1/catalog/{kind}/{item_id}", status_code=204, dependencies=[Depends(allow("author"))]
)
def delete_item(session: SessionDep, kind: Kind, item_id: ItemId) -> None:
    service.delete_item(session, kind, item_id)


@router.post("/v1/catalog/publish", status_code=201, dependencies=[Depends(allow("approver"))])
def publish(session: SessionDep, body: PublishIn | None = None) -> dict[str, Any]:
    """Build the catalog into a new snapshot version; every worker swaps to it within a second."""
    return service.publish(session, body.version if body else None)


@router.get("/v1/snapshots/live", dependencies=[Depends(allow("client", "author", "approver"))])
def live(request: Request) -> dict[str, Any]:
    snapshot = request.app.state.snapshots.get()
    return {"version": snapshot.version, "offers": len(snapshot.offers), "rules": len(snapshot.rules),
            "channels": sorted(snapshot.channels)}  # fmt: skip
