"""Archive SQL (PostgreSQL): the ledger's monthly partitions, their rows, and detaching one."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..tables import audit, decisions, events, journey_transitions

__all__ = ["ARCHIVE_ACTION", "LEDGERS", "Partition", "archived", "attached", "detach", "lock",
           "record", "rows"]  # fmt: skip

LEDGERS = {t.name: t for t in (decisions, events, journey_transitions)}
ARCHIVE_ACTION = "ledger-archive"
_NAME = re.compile(r"^(decisions|events|journey_transitions)_p(\d{4})_(\d{2})$")


@dataclass(frozen=True)
class Partition:
    ledger: str
    name: str
    start: dt.datetime  # inclusive, UTC
    end: dt.datetime  # exclusive


def attached(session: Session) -> list[Partition]:
    """The monthly partitions (as ``nextoffer_ledger_partitions`` names them) still attached
    to a ledger table, oldest first."""
    names = session.execute(
        sa.text(
            "SELECT child.relname FROM pg_inherits "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE parent.relname IN ('decisions', 'events', 'journey_transitions')"
        )
    ).scalars()
    found = []
    for name in names:
        match = _NAME.match(name)
        if match is None:
            continue
        ledger, year, month = match.group(1), int(match.group(2)), int(match.group(3))
        start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
        end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)
        found.append(Partition(ledger, name, start, end))
    return sorted(found, key=lambda p: (p.start, p.ledger))


def lock(session: Session, partition: Partition) -> None:
    """Wait for the writers in flight into ``partition`` and keep new ones out until this
    transaction ends (its month is over: none is expected)."""
    session.execute(sa.text(f'LOCK TABLE "{partition.name}" IN SHARE MODE'))


def rows(session: Session, partition: Partition, batch: int = 20_000) -> Iterator[list[Any]]:
    """The partition's rows in ``seq`` order, in lists of up to ``batch``, each row a tuple in
    the order of the ledger table's columns (as ``LEDGERS`` has them)."""
    columns = ", ".join(c.name for c in LEDGERS[partition.ledger].c)
    result = session.execute(
        sa.text(f'SELECT {columns} FROM "{partition.name}" ORDER BY seq'),
        execution_options={"stream_results": True, "yield_per": batch},
    )
    for chunk in result.partitions(batch):
        yield [tuple(row) for row in chunk]


def detach(session: Session, partition: Partition) -> None:
    """Detach ``partition`` from its ledger table: its rows leave the hot ledger (the table
    stays, under its name, until an operator drops it)."""
    session.execute(
        sa.text(f'ALTER TABLE "{partition.ledger}" DETACH PARTITION "{partition.name}"')
    )


def record(session: Session, partition: Partition, details: dict[str, Any]) -> None:
    """Record in the audit, in the transaction that detaches it, that ``partition`` was
    archived (``details``: the folder, its manifest entry)."""
    session.execute(
        sa.insert(audit).values(action=ARCHIVE_ACTION, actor="nextoffer ledger archive",
                                subject=partition.name, details=details)
    )  # fmt: skip


def archived(session: Session) -> dict[str, dict[str, Any]]:
    """The partitions recorded as archived (and so detached), by name: the newest record's
    details (its folder and manifest entry)."""
    rows = session.execute(
        sa.select(audit.c.subject, audit.c.details)
        .where(audit.c.action == ARCHIVE_ACTION)
        .order_by(audit.c.seq)
    )
    return dict(rows.tuples().all())
