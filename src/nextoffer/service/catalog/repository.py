"""Catalog SQL: one row per item (kind, id), its body the JSON its spec model validates."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..tables import catalog_items
from .schemas import CatalogItem

__all__ = ["delete_item", "get_item", "insert_item", "list_items", "update_item"]


def get_item(session: Session, kind: str, item_id: str) -> CatalogItem | None:
    """The item's body, or None when there is no such item."""
    row = session.execute(
        sa.select(catalog_items.c.body).where(
            catalog_items.c.kind == kind, catalog_items.c.id == item_id
        )
    ).first()
    return None if row is None else dict(row.body)


def list_items(session: Session, kind: str) -> list[CatalogItem]:
    """Every item of ``kind``, by id."""
    rows = session.execute(
        sa.select(catalog_items.c.body)
        .where(catalog_items.c.kind == kind)
        .order_by(catalog_items.c.id)
    )
    return [dict(r.body) for r in rows]


def insert_item(
    session: Session, kind: str, item_id: str, body: CatalogItem, at: dt.datetime
) -> None:
    """Store a new item."""
    session.execute(
        sa.insert(catalog_items).values(kind=kind, id=item_id, body=body, updated_at=at)
    )


def update_item(
    session: Session, kind: str, item_id: str, body: CatalogItem, at: dt.datetime
) -> None:
    """Replace an existing item's body."""
    session.execute(
        sa.update(catalog_items)
        .where(catalog_items.c.kind == kind, catalog_items.c.id == item_id)
        .values(body=body, updated_at=at)
    )


def delete_item(session: Session, kind: str, item_id: str) -> bool:
    """Delete an item; whether there was one."""
    result = session.execute(
        sa.delete(catalog_items).where(catalog_items.c.kind == kind, catalog_items.c.id == item_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
