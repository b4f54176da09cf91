"""Snapshot SQL: the numbered snapshot versions and the audit log's publish records."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..rules.schemas import AuditRow
from ..tables import audit, snapshots
from .schemas import SnapshotData

__all__ = ["any_published", "insert_snapshot", "newest_seq", "newest_spec", "publish_records",
           "record_publish", "spec_at", "spec_of", "version_exists"]  # fmt: skip


def newest_spec(session: Session) -> SnapshotData | None:
    """The spec of the newest stored snapshot (None before the first publish)."""
    spec: SnapshotData | None = session.execute(
        sa.select(snapshots.c.spec).order_by(snapshots.c.seq.desc()).limit(1)
    ).scalar()
    return spec


def newest_seq(session: Session) -> int | None:
    """The newest snapshot's sequence number (None before the first publish)."""
    seq: int | None = session.execute(sa.select(sa.func.max(snapshots.c.seq))).scalar()
    return seq


def spec_at(session: Session, seq: int) -> SnapshotData:
    """The spec of snapshot number ``seq`` (which exists)."""
    spec: SnapshotData = session.execute(
        sa.select(snapshots.c.spec).where(snapshots.c.seq == seq)
    ).scalar_one()
    return spec


def spec_of(session: Session, version: str) -> SnapshotData | None:
    """The spec of the stored snapshot ``version`` (None: no such version)."""
    spec: SnapshotData | None = session.execute(
        sa.select(snapshots.c.spec).where(snapshots.c.version == version)
    ).scalar()
    return spec


def any_published(session: Session) -> bool:
    """Whether any snapshot is stored."""
    return session.execute(sa.select(snapshots.c.seq).limit(1)).first() is not None


def version_exists(session: Session, version: str) -> bool:
    """Whether a snapshot of ``version`` is stored."""
    found = session.execute(sa.select(snapshots.c.seq).where(snapshots.c.version == version))
    return found.first() is not None


def insert_snapshot(
    session: Session, version: str, spec: SnapshotData, published_at: dt.datetime
) -> None:
    """Store the next snapshot version."""
    session.execute(
        sa.insert(snapshots).values(version=version, spec=spec, published_at=published_at)
    )


def record_publish(session: Session, actor: str, version: str, details: dict[str, Any]) -> None:
    """Write a publish to the audit log (action ``publish``, subject the version)."""
    session.execute(
        sa.insert(audit).values(action="publish", actor=actor, subject=version, details=details)
    )


def publish_records(session: Session, limit: int) -> list[AuditRow]:
    """The newest ``limit`` publish records of the audit log, newest first."""
    rows = session.execute(
        sa.select(audit)
        .where(audit.c.action == "publish")
        .order_by(audit.c.seq.desc())
        .limit(limit)
    )
    return [AuditRow(**row._mapping) for row in rows]
