"""The hash chain's SQL: the ledger's row digests to seal and to verify, the chain, the
checkpoints.

Every table of ``LEDGER_TABLES`` is chained: those with a ``seq`` column in ``seq`` order
(``SEQ_LEDGERS``), the others (rule revisions, journey versions: keyed by their primary
key) in the order they were sealed, by ``created_at`` then key (``KEYED_LEDGERS``).

A row's digest is SHA-256 of its canonical text (``nextoffer.core.chain``). **PostgreSQL
computes both itself** (``_canonical_text``): one JSON array of the row's columns but
``seq``, in the table's column order, the NULLs at its end left out, written by
``json_build_array`` with the session's time zone UTC and ``extra_float_digits`` 1 (set in
the reading transaction, so no role's or server's setting changes a byte). Verifying, the
server also checks a page of the chain against its rows itself (``page_check``), so that
only a page's verdict leaves it.
SQLite has no SHA-256: its rows are read and encoded by ``core.chain.canonical``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...core.chain import GENESIS, canonical, digest
from ..ledger.repository import lock_watermark, settled_seqs
from ..tables import LEDGER_TABLES, ledger_chain, ledger_checkpoints, metadata

__all__ = ["KEYED_LEDGERS", "SEALER_WATERMARK", "SEQ_LEDGERS", "Entry", "PageCheck",
           "SealedRow", "append", "chain_entries", "chain_hashes", "chained_keys", "checkpoints",
           "chunk_roots", "count_after", "decision_text", "entry", "head", "insert_checkpoint",
           "keyed_digests", "latest_checkpoint", "lock_sealer", "page_check", "row_digests",
           "row_key", "settled"]  # fmt: skip

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


def _encoding(session: Session) -> None:
    """PostgreSQL: the settings the canonical text depends on, for this transaction."""
    session.execute(sa.text("SELECT set_config('TimeZone', 'UTC', true),"
                            " set_config('extra_float_digits', '1', true)"))  # fmt: skip


def _columns(session: Session, ledger: str) -> list[tuple[str, bool]]:
    """PostgreSQL: the table's columns but ``seq`` as the server has them, in their order
    (a column added later comes last), and whether each is NOT NULL."""
    rows = session.execute(
        sa.text("SELECT attname, attnotnull FROM pg_attribute WHERE attrelid ="
                " CAST(:ledger AS regclass) AND attnum > 0 AND NOT attisdropped AND"
                " attname <> 'seq' ORDER BY attnum"),
        {"ledger": ledger},
    )  # fmt: skip
    return [(str(name), bool(required)) for name, required in rows]


def _canonical_text(
    table: sa.TableClause, columns: Sequence[tuple[str, bool]]
) -> sa.ColumnElement[str]:
    """PostgreSQL: a row's canonical text, ``json_build_array`` of its ``columns`` with the
    NULLs at the end left out (a ``CASE`` on the last column that is not NULL: no column
    after the last NOT NULL one can end the array later, so the branches stop there)."""
    cols = [table.c[name] for name, _ in columns]
    required = max((i + 1 for i, (_, notnull) in enumerate(columns) if notnull), default=0)
    whens = [(cols[k - 1].is_not(None), sa.func.json_build_array(*cols[:k]))
             for k in range(len(cols), required, -1)]  # fmt: skip
    full = sa.func.json_build_array(*cols[:required])
    text = sa.case(*whens, else_=full) if whens else full
    return sa.cast(text, sa.Text)


def _digest_of(text: sa.ColumnElement[str]) -> sa.ColumnElement[bytes]:
    return sa.func.sha256(sa.func.convert_to(text, "UTF8"), type_=sa.LargeBinary)


def _server_table(session: Session, ledger: str) -> tuple[sa.TableClause, list[tuple[str, bool]]]:
    columns = _columns(session, ledger)
    table = sa.table(ledger, sa.column("seq"), *(sa.column(name) for name, _ in columns))
    return table, columns


def _in_python(session: Session, in_python: bool) -> bool:
    return in_python or session.get_bind().dialect.name == "sqlite"


def row_digests(
    session: Session, ledger: str, after: int, upto: int, limit: int, *, in_python: bool = False
) -> list[tuple[int, bytes]]:
    """``(seq, digest)`` of a ``seq`` ledger's rows with ``after < seq <= upto``, in ``seq``
    order, at most ``limit``; ``in_python``: PostgreSQL's rows encoded by
    ``core.chain.canonical``, as the chain sealed them before revision 0021."""
    if _in_python(session, in_python):
        table = metadata.tables[ledger]
        query = (
            sa.select(table).where(table.c.seq > after, table.c.seq <= upto)
            .order_by(table.c.seq).limit(limit)
        )  # fmt: skip
        return [(int(r["seq"]), digest(canonical(r))) for r in session.execute(query).mappings()]
    _encoding(session)
    server, columns = _server_table(session, ledger)
    query = (
        sa.select(server.c.seq, _digest_of(_canonical_text(server, columns)))
        .where(server.c.seq > after, server.c.seq <= upto).order_by(server.c.seq).limit(limit)
    )  # fmt: skip
    return session.execute(query).tuples().all()  # type: ignore[return-value]  # (seq, digest)


def keyed_digests(
    session: Session, ledger: str, *, in_python: bool = False
) -> list[tuple[str, bytes]]:
    """``(row_key, digest)`` of every row of a keyed ledger, by ``created_at`` then key
    (these tables are small); ``in_python`` as ``row_digests``."""
    keys = KEYED_LEDGERS[ledger]
    if _in_python(session, in_python):
        table = metadata.tables[ledger]
        order = [table.c.created_at, *(table.c[c] for c in keys)]
        rows = session.execute(sa.select(table).order_by(*order)).mappings()
        return [(row_key(ledger, r), digest(canonical(r))) for r in rows]
    _encoding(session)
    server, columns = _server_table(session, ledger)
    query = sa.select(*(server.c[c] for c in keys), _digest_of(_canonical_text(server, columns)))
    query = query.order_by(server.c.created_at, *(server.c[c] for c in keys))
    return [(row_key(ledger, dict(zip(keys, r[:-1], strict=True))), bytes(r[-1]))
            for r in session.execute(query)]  # fmt: skip


def count_after(session: Session, ledger: str, after: int | None) -> int:
    """How many rows of a ``seq`` ledger have ``seq > after`` (None: all)."""
    table = metadata.tables[ledger]
    query = sa.select(sa.func.count()).select_from(table)
    if after is not None:
        query = query.where(table.c.seq > after)
    return int(session.execute(query).scalar_one())


class PageCheck(NamedTuple):
    """PostgreSQL's verdict on a page of a ``seq`` ledger's chain (``page_check``).

    ``clean``: every entry of the page there, each one's hash following from the one
    before, every entry's row there with the entry's digest (or gone with an archived
    month), and no row in the page's range of seqs without an entry."""

    clean: bool
    checked: int  # rows checked against their entry
    archived: int  # entries whose rows are gone with an archived month
    first_checked: int | None  # the first seq whose row was checked
    entries: dict[int, tuple[int, bytes]]  # (seq, hash) of the entries asked for, by n


def page_check(
    session: Session, ledger: str, after: int, upto: int, archived_upto: int,
    wanted: Iterable[int] = (),
) -> PageCheck:  # fmt: skip
    """Check the chain entries numbered ``(after, upto]`` of a ``seq`` ledger against the
    rows of seqs ``(seq of entry after, seq of entry upto]`` in the server, which computes
    each row's digest and each entry's link (``core.chain.link``) and sends back only
    counts and the entries ``wanted`` (with ``after`` and ``upto``). PostgreSQL only.

    A page's verdict, not its rows, leaves the server: ``bench/ledger_verify_bench.py``
    (200,000 decisions and as many events) verified 128,433 rows/s reading every row's
    digest into Python to walk the chain there, and 2.2x that this way (the figures in the
    README's benchmarks)."""
    _encoding(session)
    c = ledger_chain.c
    asked = session.execute(
        sa.select(c.n, c.seq, c.hash)
        .where(c.ledger == ledger, c.n.in_(sorted({after, upto, *wanted})))
    ).tuples()  # fmt: skip
    entries = {int(n): (int(seq), bytes(h)) for n, seq, h in asked}
    if upto not in entries or (after and after not in entries):
        return PageCheck(False, 0, 0, None, entries)
    server, columns = _server_table(session, ledger)
    chain = (
        sa.select(c.n, c.seq, c.digest, c.hash,
                  sa.func.lag(c.hash).over(order_by=c.n).label("previous"))
        .where(c.ledger == ledger, c.n >= after, c.n <= upto).subquery("chain")
    )  # fmt: skip
    sealed = sa.select(chain).where(chain.c.n > after).subquery("sealed")
    digests = sa.select(server.c.seq, _digest_of(_canonical_text(server, columns)).label("digest"))
    if after:  # the first page's rows: any seq up to its last entry's (a row forged at 0 too)
        digests = digests.where(server.c.seq > entries[after][0])
    rows = digests.where(server.c.seq <= entries[upto][0]).subquery("rows")
    genesis = sa.literal(GENESIS, sa.LargeBinary)
    link = sa.func.sha256(
        sa.func.coalesce(sealed.c.previous, genesis).op("||")(sa.func.int8send(sealed.c.seq))
        .op("||")(sealed.c.digest), type_=sa.LargeBinary,
    )  # fmt: skip
    same = rows.c.digest == sealed.c.digest
    gone = sa.and_(rows.c.seq.is_(None), sealed.c.seq <= archived_upto)
    n, broken, checked, archived, first, total = session.execute(
        sa.select(sa.func.count(sealed.c.n), sa.func.count().filter(link != sealed.c.hash),
                  sa.func.count().filter(same), sa.func.count().filter(gone),
                  sa.func.min(sealed.c.seq).filter(same), sa.func.count())
        .select_from(sealed.join(rows, sealed.c.seq == rows.c.seq, full=True))
    ).one()  # fmt: skip
    clean = n == upto - after and broken == 0 and checked + archived == total
    return PageCheck(clean, int(checked), int(archived), first, entries)


class SealedRow(NamedTuple):
    """A decision's canonical text: the bytes its chain entry's digest is SHA-256 of, and
    on PostgreSQL the names of the table's columns in the JSON array's order (the array
    may be shorter: NULLs at its end are left out; SQLite's text is an object)."""

    seq: int
    text: bytes
    columns: list[str] | None


def decision_text(
    session: Session, decision_id: str, *, in_python: bool = False
) -> SealedRow | None:
    """The decision's canonical text (``in_python`` as ``row_digests``)."""
    table = metadata.tables["decisions"]
    if _in_python(session, in_python):
        query = sa.select(table).where(table.c.id == decision_id)
        row = session.execute(query).mappings().one_or_none()
        return None if row is None else SealedRow(int(row["seq"]), canonical(row), None)
    _encoding(session)
    server, columns = _server_table(session, "decisions")
    text = _canonical_text(server, columns)
    found = session.execute(
        sa.select(server.c.seq, text).where(server.c.id == decision_id)
    ).one_or_none()
    if found is None:
        return None
    return SealedRow(int(found[0]), str(found[1]).encode(), [name for name, _ in columns])


def chain_entries(session: Session, ledger: str, after: int, limit: int, upto: int) -> list[Entry]:
    """Up to ``limit`` entries of ``ledger``'s chain numbered in ``(after, upto]`` (a page)."""
    rows = session.execute(
        sa.select(*_ENTRY).where(ledger_chain.c.ledger == ledger, ledger_chain.c.n > after,
                                 ledger_chain.c.n <= upto)
        .order_by(ledger_chain.c.n).limit(limit)
    )  # fmt: skip
    return rows.tuples().all()  # type: ignore[return-value]  # Row objects, unpacked as Entry


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


def append(
    session: Session, ledger: str, entries: Sequence[Entry], chunks: Mapping[int, bytes]
) -> None:
    """Append ``entries`` to ``ledger``'s chain, entry n with ``chunks[n]`` (the root of the
    chunk it completes) where there is one."""
    if entries:
        session.execute(
            ledger_chain.insert(),
            [{"ledger": ledger, "n": n, "seq": s, "row_key": k, "digest": d, "hash": h,
              "chunk_root": chunks.get(n)} for n, s, k, d, h in entries],
        )  # fmt: skip


def chunk_roots(session: Session, ledger: str, upto: int) -> dict[int, bytes]:
    """The chunk roots stored with ``ledger``'s chain entries numbered up to ``upto``, by
    the entry's ``n``."""
    rows = session.execute(
        sa.select(ledger_chain.c.n, ledger_chain.c.chunk_root).where(
            ledger_chain.c.ledger == ledger, ledger_chain.c.n <= upto,
            ledger_chain.c.chunk_root.is_not(None))
    )  # fmt: skip
    return {int(n): bytes(r) for n, r in rows.tuples().all()}


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
