"""The hash chain's SQL: the ledger's rows to seal and to verify, the chain, the checkpoints.

Every table of ``LEDGER_TABLES`` is chained: those with a ``seq`` column in ``seq`` order
(``SEQ_LEDGERS``), the others (rule revisions, journey versions: keyed by their primary
key) in the order they were sealed, by ``created_at`` then key (``KEYED_LEDGERS``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..db import dialect_insert
from ..tables import LEDGER_TABLES, ledger_chain, ledger_checkpoints, ledger_watermarks, metadata

__all__ = ["KEYED_LEDGERS", "SEALER_WATERMARK", "SEQ_LEDGERS", "SETTLE_TIMEOUT", "Entry",
           "append", "chain_entries", "chain_hashes", "chained_keys", "checkpoints",
           "decision_row", "entry", "head", "insert_checkpoint", "keyed_rows",
           "latest_checkpoint", "lock_sealer", "row_key", "rows_after", "seq_rows", "settled"]  # fmt: skip

SEALER_WATERMARK = "ledger_chain"  # the row of ``ledger_watermarks`` sealers take turns on
SETTLE_TIMEOUT = "2s"
SEQ_LEDGERS = tuple(t for t in LEDGER_TABLES if "seq" in metadata.tables[t].c)
KEYED_LEDGERS = {
    t: tuple(c.name for c in metadata.tables[t].primary_key.columns)
    for t in LEDGER_TABLES
    if t not in SEQ_LEDGERS
}
# (n, seq, row_key, digest, hash)
Entry = tuple[int, int, str | None, bytes, bytes]
_ENTRY = (ledger_chain.c.n, ledger_chain.c.seq, ledger_chain.c.row_key, ledger_chain.c.digest,
          ledger_chain.c.hash)  # fmt: skip


def row_key(ledger: str, row: Mapping[Any, Any]) -> str:
    """A keyed ledger row's key, as ``ledger_chain.row_key`` keeps it (a JSON list)."""
    return json.dumps([row[c] for c in KEYED_LEDGERS[ledger]], separators=(",", ":"))


def lock_sealer(session: Session) -> None:
    """Take the sealers' turn until this transaction ends (one sealer at a time: no fork)."""
    stmt = dialect_insert(session, ledger_watermarks).values(
        name=SEALER_WATERMARK, seq=0, updated_at=dt.datetime.now(dt.UTC)
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    query = sa.select(ledger_watermarks.c.seq).where(ledger_watermarks.c.name == SEALER_WATERMARK)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    session.execute(query)


def settled(session: Session) -> dict[str, int] | None:
    """Per ``seq`` ledger, the newest ``seq`` below which no row can still appear (see
    ``attach.repository.settled_seq``: PostgreSQL hands out numbers before commit, so a
    SHARE lock granted on the table, for a moment, proves no writer is in flight). One
    table at a time, each lock alone in its transaction: a writer that holds one ledger
    table and waits for another can never deadlock with it. None: the writers in flight
    did not finish within ``SETTLE_TIMEOUT``."""
    bind = session.get_bind()
    newest = {t: sa.select(sa.func.coalesce(sa.func.max(metadata.tables[t].c.seq), 0))
              for t in SEQ_LEDGERS}  # fmt: skip
    if bind.dialect.name == "sqlite":  # a write transaction holds the lock: nothing in flight
        return {t: int(session.execute(q).scalar_one()) for t, q in newest.items()}
    assert isinstance(bind, sa.Engine)
    found = {}
    try:
        with bind.connect() as connection:
            for table in newest:
                with connection.begin():  # (the lock as the owner: revision 0020)
                    connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{SETTLE_TIMEOUT}'")
                    found[table] = int(connection.execute(
                        sa.text("SELECT nextoffer_settled_seq(:ledger)"), {"ledger": table}
                    ).scalar_one())  # fmt: skip
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            return None
        raise
    return found


def head(session: Session, ledger: str) -> Entry | None:
    """The chain's last entry for ``ledger`` (None: nothing sealed yet)."""
    row = session.execute(
        sa.select(*_ENTRY).where(ledger_chain.c.ledger == ledger)
        .order_by(ledger_chain.c.n.desc()).limit(1)
    ).one_or_none()  # fmt: skip
    return None if row is None else (int(row[0]), int(row[1]), row[2], bytes(row[3]), bytes(row[4]))


def rows_after(
    session: Session, ledger: str, after: int, upto: int, limit: int
) -> list[sa.RowMapping]:
    """Rows of a ``seq`` ledger with ``after < seq <= upto``, in ``seq`` order, at most ``limit``."""
    table = metadata.tables[ledger]
    query = (
        sa.select(table).where(table.c.seq > after, table.c.seq <= upto)
        .order_by(table.c.seq).limit(limit)
    )  # fmt: skip
    return list(session.execute(query).mappings())


def keyed_rows(session: Session, ledger: str) -> list[sa.RowMapping]:
    """Every row of a keyed ledger, by ``created_at`` then key (these tables are small)."""
    table = metadata.tables[ledger]
    key = [table.c[c] for c in KEYED_LEDGERS[ledger]]
    return list(session.execute(sa.select(table).order_by(table.c.created_at, *key)).mappings())


def seq_rows(session: Session, ledger: str, after: int, limit: int) -> list[sa.RowMapping]:
    """Up to ``limit`` rows of a ``seq`` ledger after ``after``, in ``seq`` order (a page)."""
    table = metadata.tables[ledger]
    query = sa.select(table).where(table.c.seq > after).order_by(table.c.seq).limit(limit)
    return list(session.execute(query).mappings())


def chain_entries(session: Session, ledger: str, after: int, limit: int, upto: int) -> list[Entry]:
    """Up to ``limit`` entries of ``ledger``'s chain numbered in ``(after, upto]`` (a page)."""
    rows = session.execute(
        sa.select(*_ENTRY).where(ledger_chain.c.ledger == ledger, ledger_chain.c.n > after,
                                 ledger_chain.c.n <= upto)
        .order_by(ledger_chain.c.n).limit(limit)
    )  # fmt: skip
    return [(int(n), int(s), k, bytes(d), bytes(h)) for n, s, k, d, h in rows]


def chained_keys(session: Session, ledger: str) -> set[str]:
    """The keys of a keyed ledger's rows already sealed."""
    query = sa.select(ledger_chain.c.row_key).where(ledger_chain.c.ledger == ledger)
    return {k for (k,) in session.execute(query)}


def chain_hashes(session: Session, ledger: str, after: int, upto: int) -> Iterator[bytes]:
    """The hashes of ``ledger``'s chain entries numbered in ``(after, upto]``, in order."""
    rows = session.execute(
        sa.select(ledger_chain.c.hash).where(ledger_chain.c.ledger == ledger,
                                             ledger_chain.c.n > after, ledger_chain.c.n <= upto)
        .order_by(ledger_chain.c.n)
    )  # fmt: skip
    return (bytes(h) for (h,) in rows)


def entry(session: Session, ledger: str, seq: int) -> Entry | None:
    row = session.execute(
        sa.select(*_ENTRY).where(ledger_chain.c.ledger == ledger, ledger_chain.c.seq == seq)
    ).one_or_none()
    return None if row is None else (int(row[0]), int(row[1]), row[2], bytes(row[3]), bytes(row[4]))


def append(session: Session, ledger: str, entries: Sequence[Entry]) -> None:
    if entries:
        session.execute(
            ledger_chain.insert(),
            [{"ledger": ledger, "n": n, "seq": s, "row_key": k, "digest": d, "hash": h}
             for n, s, k, d, h in entries],
        )  # fmt: skip


def decision_row(session: Session, decision_id: str) -> sa.RowMapping | None:
    table = metadata.tables["decisions"]
    query = sa.select(table).where(table.c.id == decision_id)
    return session.execute(query).mappings().one_or_none()


def checkpoints(session: Session, after: int = 0) -> list[sa.RowMapping]:
    """The stored checkpoints numbered above ``after``, oldest first."""
    query = (
        sa.select(ledger_checkpoints).where(ledger_checkpoints.c.number > after)
        .order_by(ledger_checkpoints.c.number)
    )  # fmt: skip
    return list(session.execute(query).mappings())


def latest_checkpoint(session: Session) -> sa.RowMapping | None:
    query = sa.select(ledger_checkpoints).order_by(ledger_checkpoints.c.number.desc()).limit(1)
    return session.execute(query).mappings().one_or_none()


def insert_checkpoint(session: Session, row: Mapping[str, Any]) -> None:
    session.execute(ledger_checkpoints.insert().values(**row))
