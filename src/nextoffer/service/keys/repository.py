"""API-key SQL: one row per key (its public id, the hash of the whole key, role, label)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..tables import api_keys

__all__ = ["insert_key", "key_row", "labels_of"]


def insert_key(
    session: Session, key_id: str, key_hash: str, role: str, label: str, at: dt.datetime
) -> None:
    """Store a new key (its hash, never the key)."""
    session.execute(
        sa.insert(api_keys).values(id=key_id, hash=key_hash, role=role, label=label, created_at=at)
    )


def key_row(session: Session, key_id: str) -> Any | None:
    """The key's ``hash``, ``role`` and ``label``, or None when there is no such key."""
    return session.execute(
        sa.select(api_keys.c.hash, api_keys.c.role, api_keys.c.label).where(api_keys.c.id == key_id)
    ).first()


def labels_of(session: Session, key_ids: Collection[str]) -> dict[str, str]:
    """The label of each of ``key_ids`` that exists and has one."""
    rows = session.execute(
        sa.select(api_keys.c.id, api_keys.c.label).where(api_keys.c.id.in_(sorted(key_ids)))
    )
    return {r.id: r.label for r in rows if r.label}
