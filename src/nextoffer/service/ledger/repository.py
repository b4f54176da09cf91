"""Ledger SQL: idempotent inserts and the reads the engine and the API need."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from pydantic_core import to_json
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.orm import Session

from ...core.learning.attach import nominating_rules
from ..db import binary_parameters, copy_insert, dialect_insert, driver_rows, unnest_insert
from ..tables import (
    Contacts,
    catalog_items,
    customers,
    decisions,
    events,
    ledger_watermarks,
    metadata,
    outcome_types,
)

__all__ = [
    "SETTLE_TIMEOUT",
    "NamedDecision",
    "conversions",
    "copy_new_decisions",
    "create_partitions",
    "customer_states",
    "customer_states_async",
    "decisions_by_key",
    "events_by_key",
    "get_decision",
    "insert_decision",
    "insert_decisions",
    "insert_decisions_async",
    "insert_events",
    "insert_new_decisions",
    "lock_watermark",
    "offers_in_catalog",
    "outcome_classes",
    "outcome_classes_async",
    "outcome_payloads",
    "partitions",
    "recent_decisions",
    "register_outcome_type",
    "settled_seqs",
    "shown_by_decisions",
]


# events: keys seen before are not written again (and come back from a second read). On
# PostgreSQL the ledger is partitioned (revision 0014) and its idempotency keys are unique in
# a key table, which a trigger writes to: a row whose key is there already is not written,
# as ON CONFLICT (idempotency_key) DO NOTHING would have it.
_EVENTS_UNNEST = unnest_insert(
    events,
    [c.name for c in events.c if c.name not in ("seq", "occurred_at")],
    "RETURNING *",
).columns(*events.c)


def insert_events(
    session: Session, rows: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """Insert ``rows`` (their idempotency keys distinct); a row whose key exists already is
    not written again.

    Returns every row as stored (new or original), in the order given, and how many were
    duplicates. On PostgreSQL, the key table's trigger (revision 0014) leaves out a row whose
    key was seen before, as ``INSERT … ON CONFLICT DO NOTHING RETURNING`` did, which makes
    concurrent retries safe (they wait for each other on the key table's index), and the
    batch goes as one array per column, ``INSERT … SELECT FROM unnest(…)``: a dozen parameters, where a multi-row VALUES list has one per value, and
    psycopg parses such a statement anew on every batch (half of the time of a 1,000-event
    batch). On SQLite the schema refuses any INSERT over an existing key (so that no
    ``REPLACE`` can rewrite the ledger), and the write transaction holds the database's
    write lock from its start: the keys stored already are read first, then only the new
    rows go in, as parameters of one statement (SQLAlchemy's "insertmanyvalues").
    """
    if not rows:
        return [], 0
    columns = [c.name for c in events.c if c.name not in ("seq", "occurred_at")]
    keys = [r["idempotency_key"] for r in rows]
    assert len(set(keys)) == len(keys), "one row per idempotency key"
    # In key order: concurrent batches that share keys then take their locks in the same
    # order and wait for each other instead of deadlocking.
    # (a row that does not say is attributed, as the column's default and older rows)
    ordered = sorted(({"attributed": True, **r} for r in rows), key=lambda r: r["idempotency_key"])
    dialect = session.get_bind().dialect
    stored: dict[str, dict[str, Any]] = {}
    if dialect.name == "postgresql":
        arrays = {name: [r.get(name) for r in ordered] for name in columns}
        stored = {r.idempotency_key: r._asdict() for r in session.execute(_EVENTS_UNNEST, arrays)}
        written = len(stored)
        stored.update(events_by_key(session, [k for k in keys if k not in stored]))
    else:
        stored = events_by_key(session, keys)
        new = [{name: r.get(name) for name in columns} for r in ordered
               if r["idempotency_key"] not in stored]  # fmt: skip
        if new:
            for row in session.execute(sa.insert(events).returning(*events.c), new):
                stored[row.idempotency_key] = row._asdict()
        written = len(new)
    return [stored[k] for k in keys], len(rows) - written


def events_by_key(session: Session, keys: Collection[str]) -> dict[str, dict[str, Any]]:
    """The stored events with these idempotency keys, by key (through its unique index)."""
    found: dict[str, dict[str, Any]] = {}
    wanted = sorted(set(keys))
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        for row in session.execute(sa.select(events).where(events.c.idempotency_key.in_(chunk))):
            found[row.idempotency_key] = row._asdict()
    return found


class NamedDecision(NamedTuple):
    """What an event needs of the decision it names."""

    customer_id: str | None
    offers: set[str]  # shown (a control decision: would have been, its counterfactual)
    occurred_at: dt.datetime
    rules: dict[str, str]  # the nominating rule of each shown offer that lists one


def shown_by_decisions(session: Session, decision_ids: Collection[str]) -> dict[str, NamedDecision]:
    """Per decision id that exists: its customer, the offers it showed (a control decision:
    the offers it would have shown, its counterfactual), its time and the rules that
    nominated them. One statement through the unique index on ``decisions.id`` per
    thousand ids."""
    out: dict[str, NamedDecision] = {}
    wanted = sorted(set(decision_ids))
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        query = sa.select(decisions.c.id, decisions.c.customer_id, decisions.c.control,
                          decisions.c.shown, decisions.c.decision, decisions.c.occurred_at
                          ).where(decisions.c.id.in_(chunk))  # fmt: skip
        for row in session.execute(query):
            offers = set(row.shown or ())
            if row.control:
                for placement in (row.decision or {}).get("counterfactual", ()):
                    offers.update(s["offer"] for s in placement.get("offers", ()))
            out[row.id] = NamedDecision(row.customer_id, offers, row.occurred_at,
                                        nominating_rules(row.decision))  # fmt: skip
    return out


def offers_in_catalog(session: Session, offer_ids: Collection[str]) -> set[str]:
    """Which of ``offer_ids`` the catalog holds (through its primary key)."""
    wanted = sorted(set(offer_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        found.update(
            session.execute(
                sa.select(catalog_items.c.id).where(
                    catalog_items.c.kind == "offer", catalog_items.c.id.in_(chunk)
                )
            ).scalars()
        )
    return found


# The decision write: one declaration of the columns a decision gives (the database fills
# seq and occurred_at) and one row-shaping function (``_stored``), shared by every form of
# the INSERT below (SQLAlchemy's on a session, psycopg's on the asyncio connection).
_FILLED = ("seq", "occurred_at")
_GIVEN = [c.name for c in decisions.c if c.name not in _FILLED]
# what a decision without a key gives (only a keyed decision has a body hash)
_DECISION_COLUMNS = [c for c in decisions.c if c.name not in (*_FILLED, "body_hash")]
_DECISION_FIELDS = [(c.name, isinstance(c.type, sa.JSON)) for c in _DECISION_COLUMNS]


def _given(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with every column a decision gives (a missing one as None)."""
    return {name: row.get(name) for name in _GIVEN}


def _stored(given: dict[str, Any], seq: int, occurred_at: dt.datetime) -> dict[str, Any]:
    """A decision as stored: as given (not read back as JSON), with what the database
    filled."""
    return {**given, "seq": seq, "occurred_at": occurred_at}


def _keyless(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` as ``_given``; none may have an idempotency key (NULL keys are distinct:
    these rows cannot conflict, and go in with the plain INSERT)."""
    full = [_given(row) for row in rows]
    assert all(r["idempotency_key"] is None for r in full)
    return full


# The plain INSERT … RETURNING seq, occurred_at (SQLAlchemy compiles it once and caches it):
# a keyless batch on either database, a keyed decision on SQLite (looked for first).
_DECISION_INSERT = sa.insert(decisions).returning(
    *(decisions.c[name] for name in _FILLED), sort_by_parameter_order=True
)
# PostgreSQL, a keyed decision: the plain INSERT … RETURNING seq, occurred_at, whose row the
# key table's trigger leaves out when its idempotency key was seen before (revision 0014), as
# ON CONFLICT (idempotency_key) DO NOTHING would (no row: the original is read by key).
_KEYED_DECISION_INSERT_PG = _DECISION_INSERT


# the decision stored under a key (through its unique index)
_BY_KEY = sa.select(decisions).where(decisions.c.idempotency_key == sa.bindparam("key"))


def insert_decisions(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Insert decision rows that have no idempotency key in one statement (the plain
    INSERT); returns each as stored, in the order given."""
    full = _keyless(rows)
    returned = session.execute(_DECISION_INSERT, full).all()
    return [_stored(r, *f) for r, f in zip(full, returned, strict=True)]


def insert_new_decisions(
    session: Session, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Insert decision rows whose idempotency keys must be new, in one statement (the plain
    INSERT): a key stored before fails the statement (the unique index, and SQLite's
    no-replace trigger), and with it the transaction. Returns each as stored, in order."""
    full = [_given(row) for row in rows]
    if session.get_bind().dialect.name == "postgresql":
        # the key table's trigger leaves out a row whose key was seen before: fail as the
        # unique index did before the ledger was partitioned (revision 0014)
        arrays = {name: [Jsonb(r[name]) for r in full] if is_json else [r[name] for r in full]
                  for name, is_json in _GIVEN_FIELDS}  # fmt: skip
        filled = {id_: (seq, at) for id_, seq, at
                  in session.connection().exec_driver_sql(_NEW_DECISIONS_PG, arrays)}  # fmt: skip
        seen = [r["idempotency_key"] for r in full if r["id"] not in filled]
        if seen:
            raise sa.exc.IntegrityError(
                "INSERT INTO decisions", None,
                Exception(f"idempotency keys stored before: {', '.join(map(str, seen))}"),
            )  # fmt: skip
        return [_stored(r, *filled[r["id"]]) for r in full]
    returned = session.execute(_DECISION_INSERT, full).all()
    return [_stored(r, *f) for r, f in zip(full, returned, strict=True)]


def copy_new_decisions(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append decision rows whose idempotency keys must be new, nothing read back: on
    PostgreSQL one ``COPY`` (psycopg formats each row in C; a row whose key is stored
    already is left out by the key table's trigger, as ``ON CONFLICT DO NOTHING`` would,
    revision 0014); on SQLite one INSERT of the rows (a key stored before fails it, and the
    transaction with it)."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(sa.insert(decisions), [_given(row) for row in rows])
        return
    copy_insert(session, decisions, _GIVEN, (
        [to_json(r.get(name)).decode() if is_json else r.get(name)
         for name, is_json in _GIVEN_FIELDS]
        for r in rows
    ))  # fmt: skip


def decisions_by_key(session: Session, keys: Collection[str]) -> list[Any]:
    """The decisions stored under these idempotency keys (id, key, customer, control, what
    was decided), through the keys' unique index: on PostgreSQL the keys as one array
    parameter, on SQLite a thousand keys a statement."""
    d = decisions.c
    columns = (d.id, d.idempotency_key, d.customer_id, d.control, d.shown, d.decision)
    wanted = sorted(set(keys))
    if session.get_bind().dialect.name == "postgresql":
        return list(session.execute(sa.select(*columns).where(d.idempotency_key == _ANY_KEY),
                                    {"keys": wanted}))  # fmt: skip
    found: list[Any] = []
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        found.extend(session.execute(sa.select(*columns).where(d.idempotency_key.in_(chunk))))
    return found


_ANY_KEY = sa.any_(sa.bindparam("keys", type_=postgresql.ARRAY(sa.String)))


def insert_decision(session: Session, row: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Insert a decision row; with an idempotency key seen before, return the original.

    Returns the stored row and whether it was a replay of an earlier request. A row without
    a key goes in as ``insert_decisions``' batch of one."""
    full = _given(row)
    if full["idempotency_key"] is None:
        return insert_decisions(session, [full])[0], False
    by_key = {"key": full["idempotency_key"]}
    if session.get_bind().dialect.name == "sqlite":
        # the schema refuses an INSERT over an existing key (no REPLACE rewrites the ledger),
        # and this transaction holds the write lock: look first, then insert
        found = session.execute(_BY_KEY, by_key).first()
        if found is not None:
            return found._asdict(), True
        return _stored(full, *session.execute(_DECISION_INSERT, full).one()), False
    filled = session.execute(_KEYED_DECISION_INSERT_PG, full).first()
    if filled is not None:
        return _stored(full, *filled), False
    return session.execute(_BY_KEY, by_key).one()._asdict(), True


# The keyless batch on PostgreSQL's asyncio driver connection, as psycopg text, its
# parameters sent in binary (``%(name)b``; in text, every JSON element of an array is
# escaped): a fixed INSERT … SELECT FROM unnest(…) of one array per column.
_DECISIONS_UNNEST_PG = binary_parameters(
    unnest_insert(decisions, [c.name for c in _DECISION_COLUMNS], "RETURNING id, seq, occurred_at")
)


# A batch of keyed decisions whose keys must be new (journey steps'), as psycopg text with
# binary parameters, one array per column: SQLAlchemy's multi-row VALUES form, one
# parameter per value, had psycopg parse the statement anew every time (the journey
# benchmark's 896 leads of a page of a thousand customers: 119 ms with its commit, 69 ms
# so).
_GIVEN_FIELDS = [(name, isinstance(decisions.c[name].type, sa.JSON)) for name in _GIVEN]
_NEW_DECISIONS_PG = binary_parameters(
    unnest_insert(decisions, _GIVEN, "RETURNING id, seq, occurred_at")
)


# Up to this many rows, the batched write goes as a VALUES list instead, one parameter per
# value: psycopg dumps those in C, while each array of the unnest form costs it ~20 us of
# Python (its element type found, its dimensions counted). Most batches are this small
# below a few thousand decisions a second (one row: 0.27 -> 0.17 ms of the worker's CPU);
# beyond it, the arrays' fixed cost is the smaller.
_VALUES_UP_TO = 4


@functools.cache
def _decisions_values_pg(n: int) -> str:
    """The decision INSERT for ``n`` rows as a VALUES list, binary parameters in column order
    (one text per size: psycopg and the server each prepare it once)."""
    row = "(" + ", ".join("%b" for _ in _DECISION_COLUMNS) + ")"
    names = ", ".join(c.name for c in _DECISION_COLUMNS)
    return f"INSERT INTO decisions ({names}) VALUES {', '.join([row] * n)} RETURNING id, seq, occurred_at"


async def insert_decisions_async(
    connection: psycopg.AsyncConnection[Any], rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``insert_decisions`` on PostgreSQL's asyncio driver connection (one statement, in the
    connection's autocommit), without SQLAlchemy's parameter processing. JSON columns go as
    ``Jsonb`` (None as JSON null, as SQLAlchemy's JSON type stores it)."""
    full = _keyless(rows)
    params: list[Any] | dict[str, list[Any]]
    if len(full) <= _VALUES_UP_TO:
        statement = _decisions_values_pg(len(full))
        params = [Jsonb(r[name]) if is_json else r[name]
                  for r in full for name, is_json in _DECISION_FIELDS]  # fmt: skip
    else:
        statement = _DECISIONS_UNNEST_PG
        params = {name: [Jsonb(r[name]) for r in full] if is_json else [r[name] for r in full]
                  for name, is_json in _DECISION_FIELDS}  # fmt: skip
    async with connection.cursor() as cursor:
        await cursor.execute(statement, params)
        filled = {id_: (seq, at) for id_, seq, at in await cursor.fetchall()}
    return [_stored(r, *filled[r["id"]]) for r in full]


def get_decision(session: Session, decision_id: str) -> dict[str, Any] | None:
    row = session.execute(sa.select(decisions).where(decisions.c.id == decision_id)).first()
    return None if row is None else row._asdict()


def recent_decisions(session: Session, customer_id: str | None, limit: int) -> list[Any]:
    """The newest decisions, of one customer (through its index) or of everyone."""
    query = sa.select(
        decisions.c.id, decisions.c.customer_id, decisions.c.channel, decisions.c.session_id,
        decisions.c.control, decisions.c.experiment, decisions.c.shown, decisions.c.decision,
        decisions.c.snapshot_version, decisions.c.occurred_at,
    )  # fmt: skip
    if customer_id is not None:
        query = query.where(decisions.c.customer_id == customer_id).order_by(
            decisions.c.occurred_at.desc(), decisions.c.seq.desc()
        )
    else:
        query = query.order_by(decisions.c.seq.desc())
    return list(session.execute(query.limit(limit)))


def register_outcome_type(
    session: Session, name: str, classification: str, payload: Mapping[str, str] | None = None
) -> bool:
    """Register a custom outcome type (with its payload fields); False when it exists already."""
    stmt = dialect_insert(session, outcome_types).values(
        name=name, classification=classification, payload=dict(payload or {}),
        created_at=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    result = session.execute(
        stmt.on_conflict_do_nothing(index_elements=["name"]).returning(outcome_types.c.name)
    )
    return result.first() is not None


_OUTCOME_CLASSES = sa.select(outcome_types.c.name, outcome_types.c.classification)
# the same statement as PostgreSQL text for psycopg (the decision path's asyncio read)
_OUTCOME_CLASSES_PG = str(_OUTCOME_CLASSES.compile(dialect=PGDialect_psycopg()))  # type: ignore[no-untyped-call]


def outcome_classes(session: Session) -> dict[str, str]:
    """The registered custom outcome types' classifications, by name."""
    rows = session.execute(_OUTCOME_CLASSES)
    return dict(
        rows.tuples().all()
    )  # a list of pairs (a Result has keys(), dict() would misread it)


async def outcome_classes_async(connection: psycopg.AsyncConnection[Any]) -> dict[str, str]:
    """``outcome_classes`` on PostgreSQL's asyncio driver connection."""
    async with connection.cursor() as cursor:
        await cursor.execute(_OUTCOME_CLASSES_PG)
        return dict(await cursor.fetchall())


def outcome_payloads(session: Session) -> dict[str, dict[str, str]]:
    """The payload fields each custom outcome type declares."""
    rows = session.execute(sa.select(outcome_types.c.name, outcome_types.c.payload))
    return {name: payload or {} for name, payload in rows.tuples()}


def _states_statement(
    among: Callable[[sa.Column[Any]], sa.ColumnElement[bool]], *, contacts_only: bool = True
) -> sa.CompoundSelect[Any]:
    """Customers (``among`` the ids given), their decisions and their outcome events since
    ``:since``, as one ``UNION ALL`` (part 0, 1, 2; then oldest first by the database's
    ``occurred_at``), each part read through its index. One statement instead of three per
    customer: a round trip through the driver costs about as much as the engine's whole
    decision. Built once with bound parameters, so SQLAlchemy reuses its compiled form.

    ``contacts_only`` (what the decision path reads): only the decisions that are contacts
    (``tables.Contacts``), through their partial index (a customer with a hundred decisions
    in the window has a few), and only attributed outcomes: an outcome that names no
    decision that showed its offer is never counted, by contact policies either."""
    since: sa.BindParameter[dt.datetime] = sa.bindparam("since")

    def null(column: sa.Column[Any]) -> Any:
        return sa.cast(sa.null(), column.type)

    d, e, c = decisions.c, events.c, customers.c
    parts = (
        (0, {"customer_id": c.id, "attributes": c.attributes, "holdings": c.holdings,
             "segments": c.segments},
         customers, among(c.id)),
        (1, {"customer_id": d.customer_id, "id": d.id, "channel": d.channel,
             "session_id": d.session_id, "shown": d.shown, "control": d.control,
             "occurred_at": d.occurred_at, "seq": d.seq},
         decisions, sa.and_(among(d.customer_id), d.occurred_at >= since,
                            *([Contacts()] if contacts_only else []))),
        (2, {"customer_id": e.customer_id, "id": e.id, "type": e.type, "offer_id": e.offer_id,
             "channel": e.channel, "session_id": e.session_id, "decision_id": e.decision_id,
             "value": e.value, "occurred_at": e.occurred_at, "reported_at": e.reported_at,
             "seq": e.seq},
         events, sa.and_(among(e.customer_id), e.occurred_at >= since,
                         *([e.attributed] if contacts_only else []))),
    )  # fmt: skip
    typed = {"customer_id": e.customer_id, "id": e.id, "type": e.type, "offer_id": e.offer_id,
             "channel": e.channel, "session_id": e.session_id, "decision_id": e.decision_id,
             "shown": d.shown, "control": d.control, "value": e.value,
             "occurred_at": e.occurred_at, "reported_at": e.reported_at, "seq": e.seq,
             "attributes": c.attributes, "holdings": c.holdings, "segments": c.segments}  # fmt: skip
    selects = [
        sa.select(
            sa.literal_column(str(part), sa.Integer).label("part"),
            *((columns.get(name, null(column))).label(name) for name, column in typed.items()),
        )
        .select_from(table)
        .where(where)
        for part, columns, table, where in parts
    ]
    return sa.union_all(*selects).order_by(sa.text("part"), sa.text("occurred_at"), sa.text("seq"))


_CUSTOMER_STATES, _CUSTOMER_HISTORIES = (
    _states_statement(
        lambda column: column.in_(sa.bindparam("customer_ids", expanding=True)),
        contacts_only=contacts_only,
    )
    for contacts_only in (True, False)
)
# The same statement as PostgreSQL text for psycopg, the ids as one array parameter: the
# decision path runs it on the asyncio driver connection itself (see customer_states_async).
_CUSTOMER_STATES_PG = str(
    _states_statement(
        lambda column: (
            column == sa.any_(sa.bindparam("customer_ids", type_=postgresql.ARRAY(sa.String)))
        )
    ).compile(dialect=PGDialect_psycopg())  # type: ignore[no-untyped-call]
)

States = dict[str, tuple[Any | None, list[Any], list[Any]]]


def _group(customer_ids: Collection[str], rows: Iterable[Any]) -> States:
    out: States = {cid: (None, [], []) for cid in customer_ids}
    for row in rows:
        _, shown, outcomes = out[row.customer_id]
        if row.part == 0:
            out[row.customer_id] = (row, shown, outcomes)
        else:
            (shown if row.part == 1 else outcomes).append(row)
    return out


def customer_states(
    session: Session,
    customer_ids: Collection[str],
    since: dt.datetime,
    *,
    every_decision: bool = False,
) -> States:
    """Per customer: the stored customer (None when unknown), their decisions that were
    contacts (``every_decision``: all of them) and their outcome events since ``since``,
    oldest first; all from one statement."""
    ids = list(dict.fromkeys(customer_ids))
    if not every_decision and session.get_bind().dialect.name == "postgresql":
        # the ids as one array parameter: as an expanded IN list, psycopg parses a statement
        # of a thousand placeholders anew every time (half of a campaign page's read)
        return _group(ids, driver_rows(session, _CUSTOMER_STATES_PG,
                                       {"customer_ids": ids, "since": since}))  # fmt: skip
    statement = _CUSTOMER_HISTORIES if every_decision else _CUSTOMER_STATES
    return _group(ids, session.execute(statement, {"customer_ids": ids, "since": since}))


async def customer_states_async(
    connection: psycopg.AsyncConnection[Any], customer_ids: Collection[str], since: dt.datetime
) -> States:
    """``customer_states`` on PostgreSQL's asyncio driver connection (rows as named
    tuples, JSON and times converted by psycopg as SQLAlchemy would leave them): the decision
    path's read, without SQLAlchemy's statement and row machinery (a third of its cost)."""
    ids = list(dict.fromkeys(customer_ids))
    async with connection.cursor(row_factory=namedtuple_row) as cursor:
        await cursor.execute(_CUSTOMER_STATES_PG, {"customer_ids": ids, "since": since})
        return _group(ids, await cursor.fetchall())


def conversions(session: Session) -> list[Any]:
    """Every convert event's seq, id, session, offer and payload, oldest first."""
    columns = [events.c[name] for name in ("seq", "id", "session_id", "offer_id", "payload")]
    query = sa.select(*columns).where(events.c.type == "convert").order_by(events.c.seq)
    return list(session.execute(query))


# -- partitions (PostgreSQL, revision 0014) ------------------------------------------------


def create_partitions(session: Session, first: dt.datetime, last: dt.datetime) -> int:
    """Create the ledger's monthly partitions from ``first``'s month through ``last``'s that
    are missing (each with its TRUNCATE trigger); how many were created."""
    made = session.execute(
        sa.text("SELECT nextoffer_ledger_partitions(:first, :last)"),
        {"first": first, "last": last},
    ).scalar_one()
    return int(made)


def partitions(session: Session) -> list[Any]:
    """The ledger's partitions still attached: (table, partition, from, to), oldest first."""
    return list(
        session.execute(
            sa.text(
                "SELECT parent.relname AS ledger, child.relname AS name, "
                "pg_get_expr(child.relpartbound, child.oid) AS bound "
                "FROM pg_inherits JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
                "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
                "WHERE parent.relname IN ('decisions', 'events', 'journey_transitions') "
                "ORDER BY parent.relname, child.relname"
            )
        )
    )


# how long a reader of the settled ``seq`` waits for the ledger's writers in flight (PostgreSQL)
SETTLE_TIMEOUT = "2s"


def settled_seqs(session: Session, tables: Sequence[str]) -> dict[str, int] | None:
    """Per ledger table (each with a ``seq``), the newest ``seq`` below which no row can
    still appear: every transaction that took a sequence number up to it has committed or
    rolled back. None: the writers in flight did not finish within ``SETTLE_TIMEOUT``
    (PostgreSQL; try again later). What the attach refresh (``events``) and the ledger's
    sealer (every table) read up to.

    PostgreSQL hands out sequence numbers when a row is inserted, and transactions commit
    in any order: the newest committed row can have a larger ``seq`` than a row still to
    be committed. An INSERT holds the table's ROW EXCLUSIVE lock from before it takes its
    number until its transaction ends, so once a SHARE lock is granted no such transaction
    is in flight: the largest ``seq`` read under it is settled. The locks are taken on a
    connection of their own, one table at a time, each alone in its transaction and let go
    at once (new writers wait only for that moment; a writer that holds one ledger table
    and waits for another can never deadlock with it), by ``nextoffer_settled_seq(ledger)``
    (revision 0020), which runs as the owner: the application role may not take that lock
    mode on the ledger itself. The connection autocommits, so the server ends each
    statement's transaction itself: a caller that took the lock and then waited for the CPU
    before sending COMMIT (the sealer runs at idle priority on a busy host) would hold back
    every insert meanwhile. SQLite: the caller's
    write transaction holds the database's write lock, so nothing is in flight.
    """
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        return {t: int(session.execute(sa.select(sa.func.coalesce(
            sa.func.max(metadata.tables[t].c.seq), 0))).scalar_one()) for t in tables}  # fmt: skip
    assert isinstance(bind, sa.Engine)
    found = {}
    try:
        with bind.connect() as pooled:
            connection = pooled.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql(f"SET lock_timeout = '{SETTLE_TIMEOUT}'")
            try:
                for table in tables:
                    found[table] = int(connection.execute(
                        sa.text("SELECT nextoffer_settled_seq(:ledger)"), {"ledger": table}
                    ).scalar_one())  # fmt: skip
            finally:
                connection.exec_driver_sql("RESET lock_timeout")
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            return None
        raise
    return found


def lock_watermark(session: Session, name: str) -> int:
    """The watermark ``name`` (0 if new: ``ledger_watermarks``), locked until this
    transaction ends: its readers that run at once (several workers, several sealers) take
    turns, each starting where the last one stopped."""
    stmt = dialect_insert(session, ledger_watermarks).values(
        name=name, seq=0, updated_at=dt.datetime.now(dt.UTC)
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    query = sa.select(ledger_watermarks.c.seq).where(ledger_watermarks.c.name == name)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return int(session.execute(query).scalar_one())
