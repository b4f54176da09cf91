"""Ledger SQL: idempotent inserts and the reads the engine and the API need."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..tables import decisions, events, outcome_types

__all__ = [
    "customer_contacts",
    "get_decision",
    "insert_decision",
    "insert_events",
    "outcome_classes",
    "register_outcome_type",
]


def _insert(session: Session, table: sa.Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def insert_events(
    session: Session, rows: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """Insert ``rows``; a row whose idempotency key exists already is not written again.

    Returns every row as stored (new or original), in the order given, and how many were
    duplicates. ``INSERT … ON CONFLICT DO NOTHING`` makes concurrent retries safe.
    """
    if not rows:
        return [], 0
    keys = [r["idempotency_key"] for r in rows]
    stmt = _insert(session, events).values(list(rows))
    stmt = stmt.on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(events.c.id)
    written = len(session.execute(stmt).all())
    stored = {
        row.idempotency_key: row._asdict()
        for row in session.execute(sa.select(events).where(events.c.idempotency_key.in_(keys)))
    }
    # a key repeated inside one batch counts as a duplicate of its first occurrence
    return [stored[k] for k in keys], len(rows) - written


def insert_decision(session: Session, row: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Insert a decision row; with an idempotency key seen before, return the original.

    Returns the stored row and whether it was a replay of an earlier request.
    """
    stmt = _insert(session, decisions).values(row)
    if row.get("idempotency_key") is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["idempotency_key"])
    inserted = session.execute(stmt.returning(*decisions.c)).first()
    if inserted is not None:
        return inserted._asdict(), False
    stored = session.execute(
        sa.select(decisions).where(decisions.c.idempotency_key == row["idempotency_key"])
    ).one()
    return stored._asdict(), True


def get_decision(session: Session, decision_id: str) -> dict[str, Any] | None:
    row = session.execute(sa.select(decisions).where(decisions.c.id == decision_id)).first()
    return None if row is None else row._asdict()


def register_outcome_type(session: Session, name: str, classification: str) -> bool:
    """Register a custom outcome type; False when it exists already."""
    stmt = _insert(session, outcome_types).values(
        name=name, classification=classification, created_at=dt.datetime.now(dt.UTC)
    )
    result = session.execute(
        stmt.on_conflict_do_nothing(index_elements=["name"]).returning(outcome_types.c.name)
    )
    return result.first() is not None


def outcome_classes(session: Session) -> dict[str, str]:
    rows = session.execute(sa.select(outcome_types.c.name, outcome_types.c.classification))
    return dict(
        rows.tuples().all()
    )  # a list of pairs (a Result has keys(), dict() would misread it)


def customer_contacts(
    session: Session, customer_id: str, since: dt.datetime
) -> tuple[list[Any], list[Any]]:
    """The customer's decisions (what was shown) and outcome events since ``since``, oldest
    first, by the database's ``occurred_at`` (both read through the customer/time indexes)."""
    shown = session.execute(
        sa.select(
            decisions.c.id, decisions.c.channel, decisions.c.session_id, decisions.c.shown,
            decisions.c.control, decisions.c.occurred_at,
        )
        .where(decisions.c.customer_id == customer_id, decisions.c.occurred_at >= since)
        .order_by(decisions.c.occurred_at, decisions.c.seq)
    ).all()  # fmt: skip
    outcomes = session.execute(
        sa.select(
            events.c.type, events.c.offer_id, events.c.channel, events.c.session_id,
            events.c.decision_id, events.c.value, events.c.occurred_at, events.c.reported_at,
            events.c.id,
        )
        .where(events.c.customer_id == customer_id, events.c.occurred_at >= since)
        .order_by(events.c.occurred_at, events.c.seq)
    ).all()  # fmt: skip
    return list(shown), list(outcomes)
