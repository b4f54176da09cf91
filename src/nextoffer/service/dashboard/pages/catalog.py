"""The catalog: its items by kind, an item's JSON editor, deleting, and publishing."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from ...catalog import service as catalog
from ...errors import InvalidInput
from ...keys.service import Principal, require
from ...limits import Refused, check_json
from ...snapshots import service as snapshots
from .. import service
from ..views import PREFIX, act, page
from .common import Id, Viewer, read

__all__ = ["router"]

router = APIRouter()
Kind = Annotated[str, Path(pattern="^(product|offer|channel|policy|settings)$")]


@router.get("/catalog")
def catalog_page(request: Request, who: Viewer) -> Response:
    """Every item of the catalog, by kind, and whether it differs from the live snapshot."""
    with read(request) as session:
        items = {kind: catalog.list_items(session, kind) for kind in catalog.KINDS}
        state = service.catalog_status(session)
    return page(request, "catalog.html", "Catalog", who, items=items, state=state)


def _item_page(request: Request, who: Principal, kind: str, item_id: str | None, body: str,
               status: int = 200, errors: list[dict[str, str]] | None = None) -> Response:  # fmt: skip
    title = f"{kind} {item_id}" if item_id else f"New {kind}"
    return page(request, "item.html", title, who, status, kind=kind, item_id=item_id, body=body,
                errors=errors or [])  # fmt: skip


@router.get("/catalog/{kind}/new")
def new_item(request: Request, who: Viewer, kind: Kind) -> Response:
    """The item editor, empty: a new item of ``kind``."""
    return _item_page(request, who, kind, None, "{\n}")


@router.get("/catalog/{kind}/{item_id}")
def item(request: Request, who: Viewer, kind: Kind, item_id: Id) -> Response:
    """The item editor holding the item's JSON."""
    with read(request) as session:
        body = catalog.get_item(session, kind, item_id)
    return _item_page(request, who, kind, item_id, json.dumps(body, indent=2, ensure_ascii=False))


@router.post("/catalog/publish")
def publish(request: Request, who: Viewer) -> Response:
    """Publish the catalog as a new snapshot (an approver)."""

    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("approver",))
        done = snapshots.publish(session, actor=who.id)
        return f"{PREFIX}/catalog", f"published snapshot {done['version']}: live within a second"

    def again(session: Session, errors: list[dict[str, str]], status: int) -> Response:
        items = {kind: catalog.list_items(session, kind) for kind in catalog.KINDS}
        return page(request, "catalog.html", "Catalog", who, status, items=items,
                    state=service.catalog_status(session), errors=errors)  # fmt: skip

    return act(request, work, again)


@router.post("/catalog/{kind}")
def save_item(request: Request, who: Viewer, kind: Kind,
              item_id: Annotated[str, Form(max_length=200)], body: Annotated[str, Form(max_length=500_000)],
              new: Annotated[bool, Form()] = False) -> Response:  # fmt: skip
    """Create or save an item from the editor's JSON (an author), under the API's limits."""

    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("author",))
        if kind == "settings" and item_id != "default":
            raise InvalidInput.one("id", "the settings item is called 'default'")
        if not item_id:
            raise InvalidInput.one("id", "give the item an id")
        limits = request.app.state.settings  # the API's limits hold for the editor's JSON too
        try:
            check_json(body.encode("utf-8", "surrogatepass"), limits.max_json_depth,
                       limits.max_list_items)  # fmt: skip
            data = json.loads(body)
        except Refused as exc:
            raise InvalidInput.one(exc.field, exc.message) from None
        except json.JSONDecodeError as exc:
            raise InvalidInput.one(
                "body", f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        if new and catalog.get_item(session, kind, item_id, missing_ok=True) is not None:
            raise InvalidInput.one("id", f"a {kind} {item_id!r} exists already")
        verb = "created" if catalog.put_item(session, kind, item_id, data).created else "saved"
        return (f"{PREFIX}/catalog/{kind}/{item_id}",
                f"{verb} {kind} {item_id}; publish the catalog to put it live")  # fmt: skip

    return act(request, work, lambda s, errors, status: _item_page(
        request, who, kind, None if new else item_id, body, status, errors))  # fmt: skip


@router.post("/catalog/{kind}/{item_id}/delete")
def delete_item(request: Request, who: Viewer, kind: Kind, item_id: Id) -> Response:
    """Delete an item (an author); it leaves the live snapshot at the next publish."""

    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("author",))
        catalog.delete_item(session, kind, item_id)
        return f"{PREFIX}/catalog", f"deleted {kind} {item_id}; publish the catalog to put it live"

    def again(session: Session, errors: list[dict[str, str]], status: int) -> Response:
        body = catalog.get_item(session, kind, item_id, missing_ok=True)
        return _item_page(request, who, kind, item_id, json.dumps(body, indent=2), status, errors)

    return act(request, work, again)
