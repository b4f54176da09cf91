"""The catalog API: ``/v1/catalog/{kind}/{id}`` (publishing is the snapshots domain's)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Response
from pydantic import Field

from ..errors import ServiceError
from ..http import SessionDep, allow
from . import service

router = APIRouter(tags=["catalog"])
Kind = Literal["product", "offer", "channel", "policy", "settings"]
ItemId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]


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
    """Create or replace an item, validated like the snapshot validates it. A full
    replacement: a field the body does not give takes its default (PATCH changes only the
    fields it names). Pending until an approver publishes."""
    written = service.put_item(session, kind, item_id, body)
    response.status_code = 201 if written.created else 200
    return written.item


class UnsupportedMediaType(ServiceError):
    status = 415


MERGE_PATCH = "application/merge-patch+json"


def _merge_patch_type(content_type: Annotated[str | None, Header()] = None) -> None:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in (MERGE_PATCH, "application/json"):
        raise UnsupportedMediaType(
            f"a PATCH body is a JSON merge patch: Content-Type {MERGE_PATCH} (or application/json),"
            f" not {media or 'none'}"
        )


@router.patch(
    "/v1/catalog/{kind}/{item_id}",
    dependencies=[Depends(allow("author")), Depends(_merge_patch_type)],
    openapi_extra={"requestBody": {"required": True, "content": {
        MERGE_PATCH: {"schema": {"type": "object"}},
        "application/json": {"schema": {"type": "object"}}}}},
)  # fmt: skip
def patch_item(
    session: SessionDep,
    kind: Kind,
    item_id: ItemId,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Change the fields the body names: a JSON merge patch (RFC 7396; a field set to null
    goes back to its default, an array is replaced whole). Validated like PUT."""
    return service.patch_item(session, kind, item_id, body)


@router.delete(
    "/v1/catalog/{kind}/{item_id}", status_code=204, dependencies=[Depends(allow("author"))]
)
def delete_item(session: SessionDep, kind: Kind, item_id: ItemId) -> None:
    service.delete_item(session, kind, item_id)
