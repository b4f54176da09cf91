"""What the probes and the metrics read, on the health connection (``Database.probe``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy import Connection

from ..tables import snapshots, uplift_models

__all__ = ["any_published", "models_trained", "published_at"]


def any_published(connection: Connection) -> bool:
    """Whether a snapshot was ever published."""
    return connection.execute(sa.select(snapshots.c.seq).limit(1)).first() is not None


def published_at(connection: Connection, version: str) -> dt.datetime | None:
    """When snapshot ``version`` was published (None: no such version)."""
    at: dt.datetime | None = connection.execute(
        sa.select(snapshots.c.published_at).where(snapshots.c.version == version)
    ).scalar()
    return at


def models_trained(connection: Connection, versions: Collection[str]) -> list[dt.datetime]:
    """When each of the model ``versions`` was trained."""
    if not versions:
        return []
    rows = connection.execute(
        sa.select(uplift_models.c.trained_at).where(uplift_models.c.version.in_(list(versions)))
    )
    return [at for (at,) in rows]
