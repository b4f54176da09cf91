"""Journeys SQL: definitions and their versions, proposals, enrollments and transitions.

Versions and transitions are ledger rows (append-only: the database refuses UPDATE and
DELETE on them). An enrollment is the state its transitions add up to, written with its
transitions in one transaction; its ``transitions`` column is the next transition's ``n``,
and ``(journey_id, customer_id, n)`` is unique, so two drivers that read the same state can
never both record its next step: the second one's insert fails and its transaction rolls
back whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from ..tables import (
    audit,
    customers,
    enrollments,
    events,
    journey_proposals,
    journey_transitions,
    journey_versions,
    journeys,
)

__all__ = [
    "any_active",
    "any_due",
    "converted_customers",
    "counts",
    "customer_profiles",
    "due",
    "enrollment",
    "enrollments_of_customer",
    "enrollments_of_journey",
    "inbound_channels",
    "insert_journey",
    "insert_proposal",
    "insert_transitions",
    "insert_version",
    "journey",
    "list_journeys",
    "list_proposals",
    "lock_customers",
    "proposal",
    "record",
    "report_rows",
    "segment_customers",
    "set_live_version",
    "set_proposal_status",
    "transitions_of",
    "try_lock_customers",
    "version",
    "versions",
    "waiting_for_customers",
    "write_enrollments",
]


def record(
    session: Session, action: str, actor: str, subject: str, details: dict[str, Any]
) -> None:
    """Write one action to the append-only audit log."""
    session.execute(
        sa.insert(audit).values(action=action, actor=actor, subject=subject, details=details)
    )


# -- definitions ------------------------------------------------------------------------


def journey(session: Session, journey_id: str) -> Row[Any] | None:
    return session.execute(sa.select(journeys).where(journeys.c.id == journey_id)).first()


def list_journeys(session: Session) -> list[Row[Any]]:
    return list(session.execute(sa.select(journeys).order_by(journeys.c.id)))


def insert_journey(session: Session, journey_id: str, at: dt.datetime) -> None:
    session.execute(sa.insert(journeys).values(id=journey_id, live_version=None, created_at=at))


def set_live_version(session: Session, journey_id: str, number: int | None) -> None:
    session.execute(
        sa.update(journeys).where(journeys.c.id == journey_id).values(live_version=number)
    )


def version(session: Session, journey_id: str, number: int) -> Row[Any] | None:
    return session.execute(
        sa.select(journey_versions).where(
            journey_versions.c.journey_id == journey_id, journey_versions.c.version == number
        )
    ).first()


def versions(session: Session, journey_id: str) -> list[Row[Any]]:
    return list(
        session.execute(
            sa.select(journey_versions)
            .where(journey_versions.c.journey_id == journey_id)
            .order_by(journey_versions.c.version)
        )
    )


def insert_version(session: Session, values: dict[str, Any]) -> int:
    """Append the journey's next version (its number: one more than the newest)."""
    newest = session.execute(
        sa.select(sa.func.max(journey_versions.c.version)).where(
            journey_versions.c.journey_id == values["journey_id"]
        )
    ).scalar()
    number = (newest or 0) + 1
    session.execute(sa.insert(journey_versions).values(**values, version=number))
    return number


def inbound_channels(session: Session) -> set[str]:
    """The channels of every inbound offer step of every stored version."""
    channels: set[str] = set()
    for (definition,) in session.execute(sa.select(journey_versions.c.definition)):
        for step in definition.get("steps", ()):
            if step.get("type") == "offer" and step.get("mode") == "inbound":
                channels.add(step["channel"])
    return channels


def insert_proposal(session: Session, values: dict[str, Any]) -> None:
    session.execute(sa.insert(journey_proposals).values(**values))


def proposal(session: Session, proposal_id: str) -> Row[Any] | None:
    return session.execute(
        sa.select(journey_proposals).where(journey_proposals.c.id == proposal_id)
    ).first()


def list_proposals(session: Session, status: str | None) -> list[Row[Any]]:
    query = sa.select(journey_proposals).order_by(journey_proposals.c.created_at)
    if status is not None:
        query = query.where(journey_proposals.c.status == status)
    return list(session.execute(query))


def set_proposal_status(
    session: Session, proposal_id: str, status: str, reviewer: str, reason: str, at: dt.datetime
) -> None:
    session.execute(
        sa.update(journey_proposals)
        .where(journey_proposals.c.id == proposal_id)
        .values(status=status, reviewer=reviewer, review_reason=reason, updated_at=at)
    )


# -- enrollments and transitions ----------------------------------------------------------


def enrollment(session: Session, journey_id: str, customer_id: str) -> Row[Any] | None:
    return session.execute(
        sa.select(enrollments).where(
            enrollments.c.journey_id == journey_id, enrollments.c.customer_id == customer_id
        )
    ).first()


def enrollments_of_journey(session: Session, journey_id: str) -> list[Row[Any]]:
    """Every enrollment of the journey, by customer."""
    return list(session.execute(
        sa.select(enrollments).where(enrollments.c.journey_id == journey_id)
        .order_by(enrollments.c.customer_id)
    ))  # fmt: skip


def enrollments_of_customer(
    session: Session, customer_ids: Collection[str], *, lock: bool = False
) -> list[Row[Any]]:
    """Every enrollment of these customers (``lock``: each row locked for this transaction,
    PostgreSQL; SQLite's one writer needs no lock)."""
    query = sa.select(enrollments).where(enrollments.c.customer_id.in_(list(customer_ids)))
    if lock:
        query = query.order_by(
            enrollments.c.journey_id, enrollments.c.customer_id
        ).with_for_update()
    return list(session.execute(query))


def waiting_for_customers(
    session: Session, customer_ids: Collection[str], journey_ids: Collection[str]
) -> list[Row[Any]]:
    """The active enrollments of these customers in these journeys."""
    return list(
        session.execute(
            sa.select(enrollments).where(
                enrollments.c.customer_id.in_(list(customer_ids)),
                enrollments.c.journey_id.in_(list(journey_ids)),
                enrollments.c.status == "active",
            )
        )
    )


def any_due(session: Session, at: dt.datetime) -> bool:
    """Whether an enrollment is due at ``at``."""
    query = sa.select(enrollments.c.journey_id).where(
        enrollments.c.due_at.is_not(None), enrollments.c.due_at <= at
    )
    return session.execute(query.limit(1)).first() is not None


def due(session: Session, at: dt.datetime, limit: int) -> list[Row[Any]]:
    """Up to ``limit`` enrollments due at ``at``, earliest first, each locked for this
    transaction; PostgreSQL skips rows another transaction holds (``SKIP LOCKED``), so
    several schedulers share the work and none waits for another."""
    query = (
        sa.select(enrollments)
        .where(enrollments.c.due_at.is_not(None), enrollments.c.due_at <= at)
        .order_by(enrollments.c.due_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    return list(session.execute(query))


# PostgreSQL advisory locks of the journeys (the first of the two keys), one per customer
_LOCKS = 0x4A52


def _lock_key(customer_id: str) -> int:
    digest = hashlib.blake2b(customer_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_customers(session: Session, customer_ids: Collection[str]) -> None:
    """Lock these customers' enrollments for this transaction, waiting for a transaction
    that holds one (PostgreSQL, in a fixed order, so that two transactions never wait for
    each other in a cycle; SQLite has one writer at a time)."""
    if session.get_bind().dialect.name == "sqlite":
        return
    for key in sorted({_lock_key(c) for c in customer_ids}):
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCKS, key)))


def try_lock_customers(session: Session, customer_ids: Collection[str]) -> set[str]:
    """Those of these customers whose lock this transaction could take without waiting (all
    of them on SQLite)."""
    if session.get_bind().dialect.name == "sqlite" or not customer_ids:
        return set(customer_ids)
    by_key: dict[int, list[str]] = {}
    for c in customer_ids:
        by_key.setdefault(_lock_key(c), []).append(c)
    held: set[str] = set()
    for key in sorted(by_key):
        if session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(_LOCKS, key))).scalar():
            held.update(by_key[key])
    return held


def any_active(session: Session) -> bool:
    """Whether any enrollment is active (a customer is in some journey)."""
    return (
        session.execute(
            sa.select(enrollments.c.journey_id).where(enrollments.c.status != "exited").limit(1)
        ).first()
        is not None
    )


_COLUMNS = ("version", "status", "step", "due_at", "state", "transitions", "updated_at")
# one UPDATE for many enrollments (executemany): each row only if it still has the
# transitions it was read with
_UPDATE = (
    sa.update(enrollments)
    .where(
        enrollments.c.journey_id == sa.bindparam("k_journey"),
        enrollments.c.customer_id == sa.bindparam("k_customer"),
        enrollments.c.transitions == sa.bindparam("k_expected"),
    )
    .values({c: sa.bindparam(c) for c in _COLUMNS})
)


def write_enrollments(
    session: Session, new: Sequence[dict[str, Any]], moved: Sequence[tuple[dict[str, Any], int]]
) -> bool:
    """Insert the ``new`` enrollments (first entries) and update the ``moved`` ones (each
    with the transitions it was read with), a statement for each kind; False when a row was
    not written because another driver got there first (the caller rolls back)."""
    written = 0
    if new:
        dialect = postgresql if session.get_bind().dialect.name != "sqlite" else sqlite
        statement = (
            dialect.insert(enrollments)
            .on_conflict_do_nothing(index_elements=["journey_id", "customer_id"])
            .returning(enrollments.c.customer_id, sort_by_parameter_order=True)
        )
        written += len(session.execute(statement, list(new)).all())
    if moved:
        params = [{**{c: v[c] for c in _COLUMNS}, "k_journey": v["journey_id"],
                   "k_customer": v["customer_id"], "k_expected": expected}
                  for v, expected in moved]  # fmt: skip
        written += session.execute(_UPDATE, params).rowcount  # type: ignore[attr-defined]
    return written == len(new) + len(moved)


def insert_transitions(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(sa.insert(journey_transitions), list(rows))


def transitions_of(
    session: Session, journey_id: str, customer_id: str | None = None
) -> list[Row[Any]]:
    query = sa.select(journey_transitions).where(journey_transitions.c.journey_id == journey_id)
    if customer_id is not None:
        query = query.where(journey_transitions.c.customer_id == customer_id)
    return list(session.execute(query.order_by(journey_transitions.c.seq)))


def counts(session: Session, journey_id: str, since: dt.datetime) -> tuple[int, int]:
    """(entries since ``since``, enrollments active now) of a journey: its caps' counts."""
    entered = session.execute(
        sa.select(sa.func.count())
        .select_from(journey_transitions)
        .where(
            journey_transitions.c.journey_id == journey_id,
            journey_transitions.c.kind == "enter",
            journey_transitions.c.at >= since,
        )
    ).scalar_one()
    active = session.execute(
        sa.select(sa.func.count())
        .select_from(enrollments)
        .where(enrollments.c.journey_id == journey_id, enrollments.c.status == "active")
    ).scalar_one()
    return int(entered), int(active)


def customer_profiles(session: Session, customer_ids: Collection[str]) -> dict[str, Row[Any]]:
    """The stored customers (attributes, holdings, segments) among ``customer_ids``."""
    rows = session.execute(
        sa.select(customers.c.id, customers.c.attributes, customers.c.holdings,
                  customers.c.segments).where(customers.c.id.in_(list(customer_ids)))
    )  # fmt: skip
    return {r.id: r for r in rows}


def segment_customers(session: Session, after: str, limit: int) -> list[Row[Any]]:
    """Stored customers after id ``after`` (by id), ``limit`` of them: an outbound journey's
    segment is evaluated over them page by page."""
    return list(
        session.execute(
            sa.select(customers.c.id, customers.c.attributes, customers.c.holdings,
                      customers.c.segments)
            .where(customers.c.id > after)
            .order_by(customers.c.id)
            .limit(limit)
        )
    )  # fmt: skip


def report_rows(session: Session, journey_id: str) -> list[Row[Any]]:
    """Every transition of the journey (what the report counts), in order."""
    return list(
        session.execute(
            sa.select(
                journey_transitions.c.customer_id, journey_transitions.c.kind,
                journey_transitions.c.from_step, journey_transitions.c.to_step,
                journey_transitions.c.reason, journey_transitions.c.at,
                journey_transitions.c.version, journey_transitions.c.record,
            )
            .where(journey_transitions.c.journey_id == journey_id)
            .order_by(journey_transitions.c.seq)
        )
    )  # fmt: skip


def converted_customers(
    session: Session, customer_ids: Collection[str], offers: Collection[str], since: dt.datetime
) -> dict[str, float]:
    """Per customer among ``customer_ids``: the value converted on ``offers`` since ``since``
    (a customer without a conversion is absent)."""
    rows = session.execute(
        sa.select(events.c.customer_id, sa.func.sum(sa.func.coalesce(events.c.value, 0.0)))
        .where(
            events.c.type == "convert",
            events.c.customer_id.in_(list(customer_ids)),
            events.c.offer_id.in_(list(offers)),
            events.c.occurred_at >= since,
        )
        .group_by(events.c.customer_id)
    )
    return {r[0]: float(r[1]) for r in rows}
