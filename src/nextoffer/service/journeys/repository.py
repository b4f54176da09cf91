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
from psycopg.types.json import Jsonb
from pydantic_core import to_json
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from ...core.journeys import Enrollment, Transition
from ..db import binary_parameters, copy_insert, copy_update, unnest_insert
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
    "enrollment_values",
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
    "transition_values",
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


# a due enrollment's state as its JSON text: parsed and checked at once by the scheduler
# (``Enrollment.from_json``), not first into a dict by the driver
_DUE_COLUMNS = [*(c for c in enrollments.c if c.name != "state"),
                sa.cast(enrollments.c.state, sa.Text).label("state")]  # fmt: skip


def due(session: Session, at: dt.datetime, limit: int) -> list[Row[Any]]:
    """Up to ``limit`` enrollments due at ``at``, earliest first, each locked for this
    transaction; PostgreSQL skips rows another transaction holds (``SKIP LOCKED``), so
    several schedulers share the work and none waits for another. Their ``state`` is JSON
    text."""
    query = (
        sa.select(*_DUE_COLUMNS)
        .where(enrollments.c.due_at.is_not(None), enrollments.c.due_at <= at)
        .order_by(enrollments.c.due_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    return list(session.execute(query))


# PostgreSQL advisory locks of the journeys (the first of the two keys), one per customer
_LOCKS = 0x4A52


_KEYS = sa.bindparam("keys", type_=postgresql.ARRAY(sa.Integer))
# (one round trip for a tick's thousand customers: 3 ms, where a statement per key took
# 130-190 ms, more than the rest of the tick)
_LOCK_ALL = sa.text(
    "SELECT count(pg_advisory_xact_lock(:space, k)) FROM unnest(CAST(:keys AS integer[])) AS k"
).bindparams(_KEYS)
_TRY_LOCK_ALL = sa.text(
    "SELECT k FROM unnest(CAST(:keys AS integer[])) AS k WHERE pg_try_advisory_xact_lock(:space, k)"
).bindparams(_KEYS)


def _lock_key(customer_id: str) -> int:
    digest = hashlib.blake2b(customer_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_customers(session: Session, customer_ids: Collection[str]) -> None:
    """Lock these customers' enrollments for this transaction, waiting for a transaction
    that holds one (PostgreSQL, in a fixed order, so that two transactions never wait for
    each other in a cycle; SQLite has one writer at a time). One statement: the keys
    ascending, unnested in that order."""
    if session.get_bind().dialect.name == "sqlite" or not customer_ids:
        return
    keys = sorted({_lock_key(c) for c in customer_ids})
    session.execute(_LOCK_ALL, {"space": _LOCKS, "keys": keys})


def try_lock_customers(session: Session, customer_ids: Collection[str]) -> set[str]:
    """Those of these customers whose lock this transaction could take without waiting (all
    of them on SQLite), in one statement."""
    if session.get_bind().dialect.name == "sqlite" or not customer_ids:
        return set(customer_ids)
    by_key: dict[int, list[str]] = {}
    for c in customer_ids:
        by_key.setdefault(_lock_key(c), []).append(c)
    held: set[str] = set()
    for (key,) in session.execute(_TRY_LOCK_ALL, {"space": _LOCKS, "keys": sorted(by_key)}):
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
# one UPDATE for many enrollments (SQLite: executemany): each row only if it still has the
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
# PostgreSQL: new enrollments in one INSERT of an array per column (binary parameters);
# moved ones and transitions through COPY (``copy_update``, ``copy_insert``)
_KEY = {"k_journey": "journey_id", "k_customer": "customer_id", "k_expected": "transitions"}
_ENROLLMENT_COLUMNS = [c.name for c in enrollments.c]
_INSERT_PG = binary_parameters(unnest_insert(
    enrollments, _ENROLLMENT_COLUMNS,
    "ON CONFLICT (journey_id, customer_id) DO NOTHING RETURNING customer_id",
))  # fmt: skip
_TRANSITION_COLUMNS = [c.name for c in journey_transitions.c
                       if c.name not in ("seq", "occurred_at")]  # fmt: skip
_JSON_COLUMNS = frozenset({"state", "record"})


def enrollment_values(e: Enrollment, updated_at: dt.datetime) -> dict[str, Any]:
    """The ``enrollments`` row of ``e`` (``write_enrollments`` takes it); its ``state`` is
    the enrollment itself, stored as its JSON (``to_dict``'s form)."""
    return {"journey_id": e.journey, "customer_id": e.customer, "version": e.version,
            "status": e.status, "step": e.step, "due_at": e.due_at, "state": e,
            "transitions": e.seq, "updated_at": updated_at}  # fmt: skip


def transition_values(t: Transition, decision_id: str | None = None) -> dict[str, Any]:
    """The ``journey_transitions`` row of ``t`` (``decision_id``: the decision that caused
    it, when the transition does not name one; ``insert_transitions`` takes it); its
    ``record`` is the transition itself, stored as its JSON (``to_dict``'s form)."""
    return {"journey_id": t.journey, "customer_id": t.customer, "n": t.seq,
            "version": t.version, "kind": t.kind, "from_step": t.from_step,
            "to_step": t.to_step, "reason": t.reason or None,
            "decision_id": t.decision_id or decision_id, "event_id": None, "at": t.at,
            "record": t}  # fmt: skip


def _plain(value: Any) -> Any:
    """A JSON column's value as plain data (an enrollment or a transition as its dict)."""
    return value.to_dict() if isinstance(value, Enrollment | Transition) else value


def _json(value: Any) -> bytes:
    """A JSON column's value as JSON text: an enrollment or a transition serialized at once
    (``to_json``; an enrollment released with its two transitions: 4.3 us, where
    ``json.dumps`` of their dicts took 16.4 us)."""
    return value.to_json() if isinstance(value, Enrollment | Transition) else to_json(value)


def _sqlite_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _plain(v) if k in _JSON_COLUMNS else v for k, v in r.items()} for r in rows]


def _copied(row: dict[str, Any], names: Sequence[str]) -> list[Any]:
    """A row's values for ``COPY`` (JSON as its text)."""
    return [_json(row[n]).decode() if n in _JSON_COLUMNS else row[n] for n in names]


def write_enrollments(
    session: Session, new: Sequence[dict[str, Any]], moved: Sequence[tuple[dict[str, Any], int]]
) -> bool:
    """Insert the ``new`` enrollments (first entries) and update the ``moved`` ones (each
    with the transitions it was read with), a statement for each kind; False when a row was
    not written because another driver got there first (the caller rolls back)."""
    written = 0
    on_sqlite = session.get_bind().dialect.name == "sqlite"
    if new and on_sqlite:
        statement = (
            sqlite.insert(enrollments)
            .on_conflict_do_nothing(index_elements=["journey_id", "customer_id"])
            .returning(enrollments.c.customer_id, sort_by_parameter_order=True)
        )
        written += len(session.execute(statement, _sqlite_rows(new)).all())
    elif new:
        arrays = {name: [Jsonb(r[name], dumps=_json) for r in new] if name in _JSON_COLUMNS
                  else [r[name] for r in new] for name in _ENROLLMENT_COLUMNS}  # fmt: skip
        written += len(session.connection().exec_driver_sql(_INSERT_PG, arrays).all())
    if moved and on_sqlite:
        params = [{**v, "state": _plain(v["state"]), "k_journey": v["journey_id"],
                   "k_customer": v["customer_id"], "k_expected": expected}
                  for v, expected in moved]  # fmt: skip
        written += session.execute(_UPDATE, params).rowcount  # type: ignore[attr-defined]
    elif moved:
        rows = ([v["journey_id"], v["customer_id"], expected, *_copied(v, _COLUMNS)]
                for v, expected in moved)  # fmt: skip
        written += copy_update(session, enrollments, _KEY, _COLUMNS, rows)
    return written == len(new) + len(moved)


def insert_transitions(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Append transitions, in one statement."""
    if not rows:
        return
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.insert(journey_transitions), _sqlite_rows(rows))
    else:
        copy_insert(session, journey_transitions, _TRANSITION_COLUMNS,
                    (_copied(r, _TRANSITION_COLUMNS) for r in rows))  # fmt: skip


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
