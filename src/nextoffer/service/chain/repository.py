"""The hash chain's SQL: the ledger's rows to seal and to verify, the chain, the checkpoints.

Every table of ``LEDGER_TABLES`` is chained: those with a ``seq`` column in ``seq`` order
(``SEQ_LEDGERS``), the others (rule revisions, journey versions: keyed by their primary
key) in the order they were sealed, by ``created_at`` then key (``KEYED_LEDGERS``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..ledger.repository import lock_watermark, settled_seqs
from ..tables import LEDGER_TABLES, ledger_chain, ledger_checkpoints, metadata

__all__ = ["KEYED_LEDGERS", "SEALER_WATERMARK", "SEQ_LEDGERS", "Entry",
           "append", "chain_entries", "chain_hashes", "chained_keys", "checkpoints",
           "decision_row", "entry", "head", "insert_checkpoint", "keyed_rows",
           "latest_checkpoint", "lock_sealer", "row_key", "rows_after", "seq_rows", "settled"]  # fmt: skip

SEALER_WATERMARK = "ledger_chain"  # the row of ``ledger_watermarks`` sealers take turns on
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
    lock_watermark(session, SEALER_WATERMARK)


def settled(session: Session) -> dict[str, int] | None:
    """Per ``seq`` ledger, the newest settled ``seq`` (``ledger.repository.settled_seqs``);
    None: the writers in flight did not finish in time."""
    return settled_seqs(session, SEQ_LEDGERS)


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
