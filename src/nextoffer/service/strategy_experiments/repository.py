"""Strategy experiment SQL: the experiments, their audit records, and the decisions and
outcomes their reports count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..tables import audit, decisions, events, strategy_experiments

__all__ = ["arm_decisions", "control_decisions", "get", "insert", "last_decision", "list_all",
           "lock_all", "outcomes", "record", "running", "update"]  # fmt: skip

_CHUNK = 1000  # ids per IN list


def insert(session: Session, row: dict[str, Any]) -> None:
    session.execute(sa.insert(strategy_experiments).values(**row))


def get(session: Session, experiment_id: str, *, for_update: bool = False) -> Any:
    """The experiment's row (None: no such experiment); ``for_update``: locked until the
    transaction ends (PostgreSQL; SQLite's write transaction holds the whole database)."""
    query = sa.select(strategy_experiments).where(strategy_experiments.c.id == experiment_id)
    if for_update:
        query = query.with_for_update()
    return session.execute(query).first()


def list_all(session: Session, status: str | None = None) -> list[Any]:
    query = sa.select(strategy_experiments).order_by(strategy_experiments.c.created_at.desc(),
                                                     strategy_experiments.c.id)  # fmt: skip
    if status is not None:
        query = query.where(strategy_experiments.c.status == status)
    return list(session.execute(query))


def lock_all(session: Session) -> None:
    """Lock every experiment's row until the transaction ends (PostgreSQL; SQLite's write
    transaction holds the whole database): two approvers starting experiments on one
    channel at once take turns, and the second sees the first running."""
    session.execute(
        sa.select(strategy_experiments.c.id).order_by(strategy_experiments.c.id).with_for_update()
    ).all()


def running(session: Session) -> list[Any]:
    """The running experiments: id, definition and start, in order of id."""
    return list(
        session.execute(
            sa.select(strategy_experiments.c.id, strategy_experiments.c.definition,
                      strategy_experiments.c.started_at)
            .where(strategy_experiments.c.status == "running")
            .order_by(strategy_experiments.c.id)
        )
    )  # fmt: skip


def update(session: Session, experiment_id: str, values: dict[str, Any]) -> None:
    session.execute(
        sa.update(strategy_experiments)
        .where(strategy_experiments.c.id == experiment_id)
        .values(**values)
    )


def record(
    session: Session, action: str, actor: str, subject: str, details: dict[str, Any]
) -> None:
    """An entry of the audit log (``experiment_propose``, ``experiment_start``, …)."""
    session.execute(
        sa.insert(audit).values(action=action, actor=actor, subject=subject, details=details)
    )


def arm_decisions(session: Session, experiment_id: str) -> list[Any]:
    """The experiment's decisions: id, customer, arm, in ledger order."""
    return list(
        session.execute(
            sa.select(decisions.c.id, decisions.c.customer_id, decisions.c.arm)
            .where(decisions.c.strategy_experiment == experiment_id)
            .order_by(decisions.c.seq)
        )
    )


def last_decision(session: Session) -> int:
    """The ledger's newest decision's sequence number (0: none yet)."""
    return int(session.execute(sa.select(sa.func.max(decisions.c.seq))).scalar() or 0)


def control_decisions(
    session: Session, channels: Sequence[str], after: int, until: int | None
) -> list[Any]:
    """The holdout's control-group decisions on ``channels`` after the decision ``after``
    (up to ``until``): id and customer, in ledger order."""
    query = (
        sa.select(decisions.c.id, decisions.c.customer_id)
        .where(decisions.c.control, decisions.c.customer_id.is_not(None),
               decisions.c.channel.in_(list(channels)), decisions.c.seq > after)
        .order_by(decisions.c.seq)
    )  # fmt: skip
    if until is not None:
        query = query.where(decisions.c.seq <= until)
    return list(session.execute(query))


def outcomes(session: Session, decision_ids: Sequence[str]) -> list[Any]:
    """The attributed accept and convert events naming these decisions: decision, type,
    value."""
    found: list[Any] = []
    for i in range(0, len(decision_ids), _CHUNK):
        chunk = list(decision_ids[i : i + _CHUNK])
        found.extend(
            session.execute(
                sa.select(events.c.decision_id, events.c.type, events.c.value).where(
                    events.c.decision_id.in_(chunk),
                    events.c.type.in_(("accept", "convert")),
                    events.c.attributed,
                )
            )
        )
    return found
