"""The dashboard's reads over the ledger and the catalog: counts per time bucket, grouped in
the database (a bucket is ``floor(epoch seconds / width)``, in each dialect's own words)."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..tables import api_keys, catalog_items, dashboard_sessions, decisions, events, snapshots

__all__ = ["DecisionValue", "catalog_changed_at", "decision_counts", "decision_rows", "delete_session",
           "event_counts", "first_decision", "insert_session", "live_session",
           "published_at"]  # fmt: skip


def _bucket(session: Session, column: Any, width: int) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        seconds = sa.cast(sa.func.strftime("%s", column), sa.Integer)
        return sa.cast(seconds / width, sa.Integer)
    return sa.cast(sa.func.floor(sa.extract("epoch", column) / width), sa.BigInteger)


def first_decision(session: Session, since: dt.datetime) -> dt.datetime | None:
    first: dt.datetime | None = session.execute(
        sa.select(sa.func.min(decisions.c.occurred_at)).where(decisions.c.occurred_at >= since)
    ).scalar()
    return first


def decision_counts(session: Session, since: dt.datetime, width: int) -> list[tuple[int, int, int]]:
    """(bucket, decisions, of which in the control group) per bucket since ``since``."""
    bucket = _bucket(session, decisions.c.occurred_at, width).label("bucket")
    control = sa.func.sum(sa.case((decisions.c.control, 1), else_=0))
    rows = session.execute(
        sa.select(bucket, sa.func.count(), control)
        .where(decisions.c.occurred_at >= since)
        .group_by(bucket)
    )
    return [(int(b), int(n), int(c or 0)) for b, n, c in rows]


def event_counts(
    session: Session, since: dt.datetime, width: int, types: tuple[str, ...]
) -> list[tuple[int, str, int, float]]:
    """(bucket, type, events, summed value) per bucket and type since ``since``."""
    bucket = _bucket(session, events.c.occurred_at, width).label("bucket")
    rows = session.execute(
        sa.select(bucket, events.c.type, sa.func.count(), sa.func.sum(events.c.value))
        .where(events.c.occurred_at >= since, events.c.type.in_(types), events.c.attributed)
        .group_by(bucket, events.c.type)
    )
    return [(int(b), str(t), int(n), float(v or 0.0)) for b, t, n, v in rows]


class DecisionValue(NamedTuple):
    """What the overview reads of a decision: when, whether in the control group, the
    expected value of the offers it placed (their ``ev``, summed) and the rules that fired."""

    occurred_at: dt.datetime
    control: bool
    ev: float
    rules: list[str]


# PostgreSQL picks the values out of each decision in the database: the rows carry a few
# numbers and ids instead of every decision's document (20,000 of them parsed in Python were
# most of the overview's read)
_EVS = "$.placements[*].offers[*].ev"
_RULES = "$.rules_fired[*].id"


def decision_rows(session: Session, since: dt.datetime, limit: int) -> list[DecisionValue]:
    """The newest decisions since ``since`` (at most ``limit``), as ``DecisionValue``."""
    newest = (
        sa.select(decisions.c.occurred_at, decisions.c.control)
        .where(decisions.c.occurred_at >= since)
        .order_by(decisions.c.seq.desc())
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        paths = [sa.func.jsonb_path_query_array(decisions.c.decision, sa.literal(p).cast(_JsonPath))
                 for p in (_EVS, _RULES)]  # fmt: skip
        rows = session.execute(newest.add_columns(*paths))
        return [DecisionValue(at, control, sum(float(v) for v in evs if v is not None),
                              [str(r) for r in rules]) for at, control, evs, rules in rows]  # fmt: skip
    out = []
    for at, control, decision in session.execute(newest.add_columns(decisions.c.decision)):
        ev = sum(s.get("ev") or 0.0 for p in decision["placements"] for s in p["offers"])
        rules = [rule["id"] for rule in decision.get("rules_fired", ())]
        out.append(DecisionValue(at, control, float(ev), rules))
    return out


class _JsonPath(sa.types.UserDefinedType[str]):
    """PostgreSQL's ``jsonpath`` type, for a cast."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "jsonpath"


def catalog_changed_at(session: Session) -> dt.datetime | None:
    changed: dt.datetime | None = session.execute(
        sa.select(sa.func.max(catalog_items.c.updated_at))
    ).scalar()
    return changed


def published_at(session: Session) -> tuple[str, dt.datetime] | None:
    """The newest snapshot's version and when it was published."""
    row = session.execute(
        sa.select(snapshots.c.version, snapshots.c.published_at)
        .order_by(snapshots.c.seq.desc())
        .limit(1)
    ).first()
    return None if row is None else (row.version, row.published_at)


# -- sessions -----------------------------------------------------------------------------


def insert_session(session: Session, id_hash: str, key_id: str, role: str,
                   now: dt.datetime, expires: dt.datetime) -> None:  # fmt: skip
    """A new session; the expired ones go at the same time (nothing else reads them)."""
    session.execute(sa.delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= now))
    session.execute(sa.insert(dashboard_sessions).values(
        id_hash=id_hash, key_id=key_id, role=role, created_at=now, expires_at=expires))  # fmt: skip


def live_session(session: Session, id_hash: str, now: dt.datetime) -> Any:
    """The unexpired session with ``id_hash`` and its key's role and label, if the key is
    still there, not revoked and not expired (a row with ``key_id``, ``role``, ``label``),
    else None."""
    key = api_keys.c
    return session.execute(
        sa.select(dashboard_sessions.c.key_id, key.role, key.label)
        .join(api_keys, key.id == dashboard_sessions.c.key_id)
        .where(dashboard_sessions.c.id_hash == id_hash, dashboard_sessions.c.expires_at > now,
               key.revoked_at.is_(None), sa.or_(key.expires_at.is_(None), key.expires_at > now))
    ).first()  # fmt: skip


def delete_session(session: Session, id_hash: str) -> None:
    session.execute(sa.delete(dashboard_sessions).where(dashboard_sessions.c.id_hash == id_hash))
