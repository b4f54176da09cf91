"""Evaluation SQL: the logged decisions of a window, their outcomes, stored snapshots."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..tables import decisions, events, snapshots

__all__ = [
    "DECISION_COLUMNS",
    "OUTCOME_COLUMNS",
    "OUTCOME_TYPES",
    "ledger_now",
    "logged_decisions",
    "outcomes",
    "snapshot_spec",
    "snapshot_versions",
]

_BATCH = 500
OUTCOME_TYPES = ("accept", "convert")
# the columns ``logged_decisions`` and ``outcomes`` read (the archive's too)
DECISION_COLUMNS = ("seq", "id", "customer_id", "channel", "control", "request", "decision",
                    "features", "occurred_at")  # fmt: skip
OUTCOME_COLUMNS = ("seq", "decision_id", "offer_id", "type", "value", "occurred_at")


def ledger_now(session: Session) -> dt.datetime:
    """The database server's clock, which times every row of the ledger (UTC)."""
    if session.get_bind().dialect.name == "sqlite":
        text = session.execute(sa.text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
        return dt.datetime.fromisoformat(str(text)).replace(tzinfo=dt.UTC)
    value: dt.datetime = session.execute(sa.select(sa.func.now())).scalar_one()
    return value.astimezone(dt.UTC)


def logged_decisions(
    session: Session, since: dt.datetime, until: dt.datetime, channel: str | None, limit: int
) -> list[Any]:
    """The newest ``limit`` decisions logged from ``since`` to ``until`` (on ``channel``),
    oldest first: id, customer, channel, control flag, request, decision, features, time."""
    query = (
        sa.select(decisions.c.seq, decisions.c.id, decisions.c.customer_id, decisions.c.channel,
                  decisions.c.control, decisions.c.request, decisions.c.decision,
                  decisions.c.features, decisions.c.occurred_at)
        .where(decisions.c.occurred_at >= since, decisions.c.occurred_at <= until)
        .order_by(decisions.c.seq.desc())
        .limit(limit)
    )  # fmt: skip
    if channel is not None:
        query = query.where(decisions.c.channel == channel)
    return sorted(session.execute(query), key=lambda row: row.seq)


def outcomes(session: Session, decision_ids: Collection[str]) -> list[Any]:
    """The attributed accept and convert events that name these decisions: seq, decision,
    offer, type, value, time (``OUTCOME_COLUMNS``)."""
    ids = sorted(set(decision_ids))
    out: list[Any] = []
    for start in range(0, len(ids), _BATCH):
        query = sa.select(
            events.c.seq, events.c.decision_id, events.c.offer_id, events.c.type,
            events.c.value, events.c.occurred_at,
        ).where(
            events.c.decision_id.in_(ids[start : start + _BATCH]),
            events.c.type.in_(OUTCOME_TYPES),
            events.c.offer_id.is_not(None),
            events.c.attributed,
        )  # fmt: skip
        out += session.execute(query)
    return out


def snapshot_spec(session: Session, version: str) -> dict[str, Any] | None:
    """The stored spec of snapshot ``version`` (None: no such version)."""
    spec: dict[str, Any] | None = session.execute(
        sa.select(snapshots.c.spec).where(snapshots.c.version == version)
    ).scalar()
    return spec


def snapshot_versions(session: Session, limit: int) -> list[str]:
    """The newest ``limit`` stored snapshot versions, newest first."""
    return list(
        session.execute(
            sa.select(snapshots.c.version).order_by(snapshots.c.seq.desc()).limit(limit)
        ).scalars()
    )
