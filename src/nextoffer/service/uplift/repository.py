"""Uplift SQL: decisions and conversions in a window, models, and the CATE store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.orm import Session

from ..db import dialect_insert
from ..tables import cate_estimates, customers, decisions, events, uplift_models
from .schemas import EstimateRow, StoredModel

__all__ = [
    "CONVERSION_COLUMNS",
    "DECISION_COLUMNS",
    "all_customers",
    "conversions_between",
    "decisions_after",
    "decisions_since",
    "estimated_pairs",
    "estimates_of",
    "estimates_of_many",
    "estimates_of_many_async",
    "features_of_decisions",
    "get_model",
    "insert_missing_estimates",
    "last_decision_seq",
    "latest_models",
    "list_models",
    "live_versions",
    "segment_mix",
    "store_model",
    "upsert_estimates",
]

_BATCH = 500
# the columns ``decisions_since`` and ``conversions_between`` read (the archive's too)
DECISION_COLUMNS = ("seq", "id", "customer_id", "control", "experiment", "shown", "decision",
                    "features", "occurred_at")  # fmt: skip
CONVERSION_COLUMNS = ("seq", "customer_id", "offer_id", "value", "occurred_at")


def decisions_since(
    session: Session, since: dt.datetime, experiment: str | None = None
) -> list[Any]:
    """Decisions about known customers since ``since``, oldest first (their ``DECISION_COLUMNS``)."""
    query = (
        sa.select(decisions.c.seq, decisions.c.id, decisions.c.customer_id, decisions.c.control,
                  decisions.c.experiment, decisions.c.shown, decisions.c.decision,
                  decisions.c.features, decisions.c.occurred_at)
        .where(decisions.c.occurred_at >= since, decisions.c.customer_id.is_not(None))
        .order_by(decisions.c.seq)
    )  # fmt: skip
    if experiment is not None:
        query = query.where(decisions.c.experiment == experiment)
    return list(session.execute(query))


def last_decision_seq(session: Session) -> int:
    """The newest decision's sequence number (0 when there is none)."""
    return int(session.execute(sa.select(sa.func.max(decisions.c.seq))).scalar() or 0)


def decisions_after(session: Session, seq: int, limit: int) -> list[Any]:
    """At most ``limit`` decisions about known customers after ``seq``, oldest first:
    (seq, customer_id), without their features (most customers need none)."""
    return list(
        session.execute(
            sa.select(decisions.c.seq, decisions.c.customer_id)
            .where(decisions.c.seq > seq, decisions.c.customer_id.is_not(None))
            .order_by(decisions.c.seq)
            .limit(limit)
        )
    )


def features_of_decisions(session: Session, seqs: Collection[int]) -> dict[int, Any]:
    """The features recorded with these decisions, by sequence number (None: none)."""
    wanted = sorted(set(seqs))
    out: dict[int, Any] = {}
    for start in range(0, len(wanted), _BATCH):
        query = sa.select(decisions.c.seq, decisions.c.features).where(
            decisions.c.seq.in_(wanted[start : start + _BATCH])
        )
        out.update((seq, features) for seq, features in session.execute(query))
    return out


def estimated_pairs(session: Session, customer_ids: Collection[str]) -> set[tuple[str, str]]:
    """The (customer, offer) pairs among ``customer_ids`` that have an estimate."""
    ids = list(customer_ids)
    pairs: set[tuple[str, str]] = set()
    for start in range(0, len(ids), _BATCH):
        query = sa.select(cate_estimates.c.customer_id, cate_estimates.c.offer_id).where(
            cate_estimates.c.customer_id.in_(ids[start : start + _BATCH])
        )
        pairs.update((c, o) for c, o in session.execute(query))
    return pairs


def conversions_between(session: Session, since: dt.datetime, until: dt.datetime) -> list[Any]:
    """Convert events attributed to an offer (they name a decision that showed it, or would
    have, to their customer), with seq, customer, offer, value and time, oldest first."""
    return list(
        session.execute(
            sa.select(
                events.c.seq,
                events.c.customer_id,
                events.c.offer_id,
                events.c.value,
                events.c.occurred_at,
            )
            .where(
                events.c.type == "convert",
                events.c.offer_id.is_not(None),
                events.c.attributed,
                events.c.customer_id.is_not(None),
                events.c.occurred_at >= since,
                events.c.occurred_at <= until,
            )
            .order_by(events.c.seq)
        )
    )


def all_customers(session: Session, ids: Sequence[str] | None = None) -> list[Any]:
    query = sa.select(customers.c.id, customers.c.attributes, customers.c.holdings,
                      customers.c.segments).order_by(customers.c.id)  # fmt: skip
    if ids is None:
        return list(session.execute(query))
    out: list[Any] = []
    for start in range(0, len(ids), _BATCH):
        out += session.execute(query.where(customers.c.id.in_(ids[start : start + _BATCH])))
    return out


def store_model(session: Session, row: StoredModel) -> None:
    """Store a trained model: the newest of its offer, so the live one."""
    session.execute(sa.insert(uplift_models).values(row))


_SUMMARY = [uplift_models.c[k] for k in ("version", "offer_id", "method", "outcome", "treated",
                                         "control", "report", "trained_at")]  # fmt: skip


def list_models(session: Session, offer: str | None = None) -> list[Any]:
    query = sa.select(*_SUMMARY).order_by(uplift_models.c.trained_at.desc())
    if offer is not None:
        query = query.where(uplift_models.c.offer_id == offer)
    return list(session.execute(query))


def latest_models(session: Session) -> dict[str, Any]:
    """The newest model of each offer (its summary), by offer."""
    latest: dict[str, Any] = {}
    for row in list_models(session):
        latest.setdefault(row.offer_id, row)
    return latest


def live_versions(session: Session) -> dict[str, str]:
    """The newest model version of each offer (no reports read: the decision path's poll)."""
    latest: dict[str, str] = {}
    rows = session.execute(
        sa.select(uplift_models.c.offer_id, uplift_models.c.version).order_by(
            uplift_models.c.trained_at.desc()
        )
    )
    for offer_id, version in rows:
        latest.setdefault(offer_id, version)
    return latest


def get_model(session: Session, version: str) -> bytes | None:
    blob = session.execute(
        sa.select(uplift_models.c.model).where(uplift_models.c.version == version)
    ).scalar()
    return bytes(blob) if blob is not None else None


def upsert_estimates(session: Session, rows: Iterable[EstimateRow]) -> int:
    """Store estimates, replacing the (customer, offer) pairs' earlier ones; how many."""
    batch = list(rows)
    if not batch:
        return 0
    stmt = dialect_insert(session, cate_estimates)
    keep = ("tau", "lower", "upper", "base_rate", "segment", "model_version", "scored_at")
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["customer_id", "offer_id"],
            set_={k: getattr(stmt.excluded, k) for k in keep},
        ),
        batch,
    )
    return len(batch)


def insert_missing_estimates(
    session: Session, rows: Iterable[EstimateRow], *, wait_for_disk: bool = True
) -> int:
    """Insert estimates for (customer, offer) pairs that have none; existing rows stay.

    ``wait_for_disk=False`` (PostgreSQL): the transaction's commit does not wait for its
    write-ahead log to reach the disk (``synchronous_commit = off`` for it alone; a crash
    may lose its last fraction of a second, never corrupt it). For estimates that can be
    scored again, so that their commits never queue behind, or ahead of, the ledger's."""
    batch = list(rows)
    if not batch:
        return 0
    if not wait_for_disk and session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL synchronous_commit = off"))
    stmt = dialect_insert(session, cate_estimates).on_conflict_do_nothing(
        index_elements=["customer_id", "offer_id"]
    )
    session.execute(stmt, batch)
    return len(batch)


_ESTIMATES = sa.select(cate_estimates).where(
    cate_estimates.c.customer_id == sa.bindparam("customer_id")
)


def estimates_of(session: Session, customer_id: str) -> list[Any]:
    return list(session.execute(_ESTIMATES, {"customer_id": customer_id}))


def estimates_of_many(session: Session, customer_ids: Collection[str]) -> dict[str, list[Any]]:
    """The estimates of several customers in one statement, by customer."""
    ids = list(dict.fromkeys(customer_ids))
    out: dict[str, list[Any]] = {cid: [] for cid in ids}
    rows = session.execute(
        sa.select(cate_estimates.c.customer_id, cate_estimates.c.offer_id, cate_estimates.c.tau,
                  cate_estimates.c.lower, cate_estimates.c.upper,
                  cate_estimates.c.segment).where(cate_estimates.c.customer_id.in_(ids))
    )  # fmt: skip
    for row in rows:
        out[row.customer_id].append(row)
    return out


_ESTIMATES_PG = (
    "SELECT customer_id, offer_id, tau, lower, upper, segment FROM cate_estimates"
    " WHERE customer_id = ANY(%(customer_ids)s)"
)


async def estimates_of_many_async(
    connection: psycopg.AsyncConnection[Any], customer_ids: Collection[str]
) -> dict[str, list[Any]]:
    """The estimates of several customers in one statement (the decision path's batched
    read on PostgreSQL's asyncio driver), by customer."""
    ids = list(dict.fromkeys(customer_ids))
    out: dict[str, list[Any]] = {cid: [] for cid in ids}
    async with connection.cursor(row_factory=namedtuple_row) as cursor:
        await cursor.execute(_ESTIMATES_PG, {"customer_ids": ids})
        rows: list[Any] = await cursor.fetchall()
        for row in rows:
            out[row.customer_id].append(row)
    return out


def segment_mix(session: Session) -> dict[str, dict[str, int]]:
    """How many customers are in each uplift segment, per offer."""
    mix: dict[str, dict[str, int]] = {}
    for offer, segment, n in session.execute(
        sa.select(cate_estimates.c.offer_id, cate_estimates.c.segment, sa.func.count()).group_by(
            cate_estimates.c.offer_id, cate_estimates.c.segment
        )
    ):
        mix.setdefault(offer, {})[segment] = int(n)
    return mix
