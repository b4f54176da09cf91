"""API-key SQL: one row per key (its public id, the hash of the whole key, role, label, and
when it was revoked, expires and was last used)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..tables import api_keys

__all__ = ["all_keys", "insert_key", "key_row", "labels_of", "revoke", "touch"]


def insert_key(
    session: Session,
    key_id: str,
    key_hash: str,
    role: str,
    label: str,
    at: dt.datetime,
    expires_at: dt.datetime | None = None,
) -> None:
    """Store a new key (its hash, never the key)."""
    session.execute(
        sa.insert(api_keys).values(
            id=key_id, hash=key_hash, role=role, label=label, created_at=at, expires_at=expires_at
        )
    )


def key_row(session: Session, key_id: str) -> Any | None:
    """The key's ``hash``, ``role``, ``label``, ``revoked_at`` and ``expires_at``, or None
    when there is no such key."""
    return session.execute(
        sa.select(
            api_keys.c.hash,
            api_keys.c.role,
            api_keys.c.label,
            api_keys.c.revoked_at,
            api_keys.c.expires_at,
        ).where(api_keys.c.id == key_id)
    ).first()


def all_keys(session: Session) -> list[Any]:
    """Every key (never its hash), oldest first: ``id``, ``role``, ``label``,
    ``created_at``, ``revoked_at``, ``expires_at``, ``last_used_at``."""
    c = api_keys.c
    return list(
        session.execute(
            sa.select(
                c.id, c.role, c.label, c.created_at, c.revoked_at, c.expires_at, c.last_used_at
            ).order_by(c.created_at, c.id)
        )
    )


def revoke(session: Session, key_id: str, at: dt.datetime) -> tuple[Any, bool] | None:
    """Revoke the key (unless it is already): its ``revoked_at`` after, and whether this
    revoked it; None when there is no such key."""
    done = session.execute(
        sa.update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    row = session.execute(sa.select(api_keys.c.revoked_at).where(api_keys.c.id == key_id)).first()
    return None if row is None else (row.revoked_at, done.rowcount == 1)  # type: ignore[attr-defined]


def touch(session: Session, uses: Mapping[str, dt.datetime]) -> None:
    """Record each key's latest use (never moving ``last_used_at`` back: another worker may
    have written a later one)."""
    for key_id, at in sorted(uses.items()):
        session.execute(
            sa.update(api_keys)
            .where(
                api_keys.c.id == key_id,
                sa.or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < at),
            )
            .values(last_used_at=at)
        )


def labels_of(session: Session, key_ids: Collection[str]) -> dict[str, str]:
    """The label of each of ``key_ids`` that exists and has one."""
    rows = session.execute(
        sa.select(api_keys.c.id, api_keys.c.label).where(api_keys.c.id.in_(sorted(key_ids)))
    )
    return {r.id: r.label for r in rows if r.label}
