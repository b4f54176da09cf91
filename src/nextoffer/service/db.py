"""The database: engine, sessions, and the transaction a request owns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from psycopg.types.json import set_json_dumps, set_json_loads
from pydantic_core import from_json, to_json
from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "Database",
    "DatabaseBusy",
    "KeptConnection",
    "after_commit",
    "binary_parameters",
    "copy_insert",
    "copy_update",
    "dialect_insert",
    "driver_rows",
    "log_failure",
    "tune_for_batch",
    "unavailable",
    "unnest_insert",
]

T = TypeVar("T")
log = logging.getLogger("nextoffer")

# How long a request waits for its turn to write (SQLite: one writer at a time) or for a
# pooled connection (PostgreSQL) before it is answered 503 with Retry-After.
WRITE_WAIT_SECONDS = 10.0
POOL_WAIT_SECONDS = 1.0
# libpq's connection timeout of the probes' connection (it counts whole seconds, at least 2)
HEALTH_CONNECT_SECONDS = 2

# PostgreSQL's SQLSTATEs for "not now, try again": the server is starting up or shutting
# down (57P03, 57P01, 57P02), has too many clients (53300), or the connection failed (08…).
_RETRY_LATER = ("57P01", "57P02", "57P03", "53300", "53400")


class DatabaseBusy(Exception):
    """No turn to write came within ``WRITE_WAIT_SECONDS``: the API answers 503."""


def unavailable(exc: sa.exc.DBAPIError) -> bool:
    """Whether ``exc`` means the database cannot serve now, but may soon: a dropped
    connection, a server starting up, shutting down or refusing connections, too many
    clients, SQLite's write lock held beyond its busy timeout. A retry can succeed (503)."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if isinstance(orig, psycopg.OperationalError):
        state = orig.sqlstate
        # no SQLSTATE: libpq could not connect at all (refused, reset, timed out)
        return state is None or state.startswith("08") or state in _RETRY_LATER
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged write survives a crash
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # REPLACE's implicit delete fires the ledger's no-DELETE triggers (without this pragma
    # SQLite skips them; the schema refuses such an insert too, for other connections)
    cursor.execute("PRAGMA recursive_triggers=ON")
    cursor.close()
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN itself


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` when the session's transaction commits, and never if it rolls back:
    the metrics count what was written, and a commit that fails wrote nothing."""
    pending: list[Callable[[], None]] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        sa.event.listen(session, "after_commit", _committed)
        sa.event.listen(session, "after_soft_rollback", _rolled_back)
    pending.append(action)


_PENDING = "nextoffer.after_commit"


def _committed(session: Session) -> None:
    pending = session.info[_PENDING]
    actions, pending[:] = list(pending), []
    for action in actions:
        action()


def _rolled_back(session: Session, previous: Any) -> None:
    if not previous.nested:  # a savepoint given up: the transaction goes on
        session.info[_PENDING].clear()


def dialect_insert(session: Session, table: Table) -> Any:
    """The dialect's INSERT (PostgreSQL or SQLite), which has ``on_conflict_do_…``."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    return insert(table)


def _unnest(table: Table, columns: Mapping[str, str]) -> tuple[str, list[sa.BindParameter[Any]]]:
    """``unnest(CAST(:name AS type[]), …)``, one array parameter per ``name`` of
    ``columns`` (parameter name → the column of ``table`` whose type its elements have)."""
    dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]
    types = {name: table.c[column].type.dialect_impl(dialect) for name, column in columns.items()}
    arrays = ", ".join(
        f"CAST(:{name} AS {kind.compile(dialect)}[])" for name, kind in types.items()
    )
    params = [sa.bindparam(name, type_=postgresql.ARRAY(kind)) for name, kind in types.items()]
    return f"unnest({arrays})", params


def binary_parameters(clause: sa.TextClause) -> str:
    """``clause`` as psycopg text whose parameters go in binary (``%(name)b``), to run with
    ``Connection.exec_driver_sql``: in text, psycopg escapes every element of an array
    parameter with a regular expression (2,000 journey transitions in one ``unnest_insert``:
    108 ms with text parameters, 36 ms in binary, each with its commit)."""
    text = str(clause.compile(dialect=PGDialect_psycopg()))  # type: ignore[no-untyped-call]
    return re.sub(r"%\((\w+)\)s", r"%(\1)b", text)


def unnest_insert(table: Table, columns: Sequence[str], tail: str) -> sa.TextClause:
    """PostgreSQL: ``INSERT INTO table (…) SELECT * FROM unnest(CAST(:col AS type[]), …)``
    and ``tail``, one array parameter per column: a fixed text whatever the number of rows,
    so the driver converts it once and the server prepares it once (a multi-row VALUES list
    has one parameter per value, and psycopg parses such a statement anew every time)."""
    arrays, params = _unnest(table, {name: name for name in columns})
    return sa.text(
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM {arrays} {tail}"
    ).bindparams(*params)


def _copy(session: Session, statement: str, rows: Iterable[Sequence[Any]]) -> None:
    """Run ``COPY … FROM STDIN`` (text format) in ``session``'s transaction, sending
    ``rows``; psycopg's errors as SQLAlchemy's (a unique violation: ``IntegrityError``)."""
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def driver_rows(session: Session, statement: str, parameters: Mapping[str, Any]) -> list[Any]:
    """PostgreSQL: the rows of ``statement`` (psycopg's SQL text) run in ``session``'s
    transaction on its driver connection, as named tuples, all fetched at once; psycopg's
    errors as SQLAlchemy's. What ``exec_driver_sql`` gives, without its row objects fetched
    one at a time (a campaign page's state read, 2,000 customers: 9.5 ms of the client's CPU
    instead of 15, medians of 30 reads each)."""
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor(row_factory=namedtuple_row) as cursor:
            cursor.execute(statement, parameters)
            return cursor.fetchall()
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, parameters, exc, psycopg.Error) from exc


def copy_insert(
    session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """PostgreSQL: insert ``rows`` (values in the order of ``columns``; JSON as its text)
    into ``table`` with one ``COPY``, which psycopg formats row by row in C (2,000 journey
    transitions with their commit: 18 ms; 36 ms as ``unnest_insert`` with binary
    parameters, whose arrays psycopg builds in Python element by element; 44 ms as
    SQLAlchemy's executemany)."""
    _copy(session, f"COPY {table.name} ({', '.join(columns)}) FROM STDIN", rows)


def copy_update(
    session: Session,
    table: Table,
    keys: Mapping[str, str],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> int:
    """PostgreSQL: update many rows of ``table``, each with its own values, in two
    statements: ``rows`` (the ``keys`` then the ``columns``, in order) copied into a
    temporary table of this connection (``{table}_updates``, emptied at every commit), then
    ``UPDATE table … FROM`` it where each key column (``keys``: name → the column it must
    equal) matches. Returns how many rows were updated (a row whose keys no longer match is
    not). A thousand journey enrollments with their commit: 18 ms, where one ``UPDATE …
    FROM unnest(…)`` of a binary array parameter per column and SQLAlchemy's executemany
    each took 30 ms."""
    pg = postgresql.dialect()  # type: ignore[no-untyped-call]
    kinds = {
        **{n: table.c[c].type for n, c in keys.items()},
        **{c: table.c[c].type for c in columns},
    }
    scratch = f"{table.name}_updates"
    fields = ", ".join(f"{n} {kind.compile(dialect=pg)}" for n, kind in kinds.items())
    connection = session.connection()
    connection.exec_driver_sql(  # (empty but for an earlier call in this transaction)
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {scratch} ({fields}) ON COMMIT DELETE ROWS; "
        f"DELETE FROM {scratch}"
    )
    _copy(session, f"COPY {scratch} ({', '.join(kinds)}) FROM STDIN", rows)
    sets = ", ".join(f"{c} = v.{c}" for c in columns)
    where = " AND ".join(f"{table.name}.{c} = v.{n}" for n, c in keys.items())
    result = connection.exec_driver_sql(
        f"UPDATE {table.name} SET {sets} FROM {scratch} AS v WHERE {where}"
    )
    return result.rowcount


def tune_for_batch(session: Session) -> None:
    """PostgreSQL: ready ``session``'s connection for a batch job's transaction (a campaign's
    page): JSON by pydantic-core's parser and serializer, as the decision path's connections
    have it (a page of 2,000 customers reads six JSON values each), and, for this transaction,
    no sequential scans (the ledger grows by a page a transaction, faster than autovacuum
    analyzes it: a plan made from its old size would scan the whole ledger for each page's
    contacts). SQLite: nothing."""
    if session.get_bind().dialect.name != "postgresql":
        return
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    set_json_loads(from_json, driver)
    set_json_dumps(to_json, driver)
    session.connection().exec_driver_sql("SET LOCAL enable_seqscan = off")


class Database:
    """One engine per process; ``transaction()`` commits once at the end or rolls back."""

    def __init__(self, url: str) -> None:
        self.url = url
        # the statements' parameters (customer ids, attributes) stay out of error messages,
        # and so out of the server's log
        kwargs: dict[str, Any] = {"hide_parameters": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        else:
            # No pre-ping (a round trip per transaction, a tenth of a decision's time): a
            # connection that died with the server fails its statement, the pool drops every
            # connection it had, and the API answers 503 "retry" (app.py).
            # A request waits at most a second for a connection (then 503, Retry-After).
            kwargs.update(pool_size=10, max_overflow=20, pool_timeout=POOL_WAIT_SECONDS)
            # No JIT compilation: the planner's costs for a statement over the partitioned
            # ledger add up across its monthly partitions and pass the JIT thresholds, and
            # compiling the expressions of every partition's scan then takes longer than the
            # statement: the attach refresh over a 21-month ledger compiled 405 functions
            # in 14 s for a query that ran in 3 s, and the overview's read took twice as long.
            kwargs["connect_args"] = {"options": "-c jit=off"}
        self.engine: Engine = create_engine(url, **kwargs)
        self.reader: Engine = self.engine
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # SQLite: a write transaction takes the write lock at the start, so concurrent
            # writers queue up instead of failing when a reader upgrades. Reads (``read()``)
            # use a second engine with plain BEGIN: under WAL they never wait for a writer.
            event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
            self.reader = create_engine(url, **kwargs)
            event.listen(self.reader, "connect", _sqlite_pragmas)
            event.listen(self.reader, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        # SQLite: one writer at a time; requests queue for their turn on the event loop
        # (``write_turn``), in order, rather than in SQLite's busy handler, which polls with
        # growing sleeps, holding a request thread each: 40 such writers held every thread,
        # and the one with the lock waited for a thread to finish ("database is locked").
        # Across processes (workers, the command line) the busy timeout still applies.
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._health: Engine | None = None
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(self.reader, expire_on_commit=False)
        self._pool_kwargs = kwargs
        self._async_engine: AsyncEngine | None = None
        self._async_sessions: async_sessionmaker[AsyncSession] | None = None
        self.async_pool_generation = 0  # one more each time the asyncio pool starts afresh

    @property
    def async_sessions(self) -> async_sessionmaker[AsyncSession] | None:
        """PostgreSQL: sessions on asyncio connections (psycopg's async driver), for the
        event loop; the engine is made on first use, its connections in the loop that uses
        them. SQLite: None."""
        if self.is_sqlite:
            return None
        if self._async_sessions is None:
            self._async_engine = create_async_engine(
                self.url, isolation_level="AUTOCOMMIT", **self._pool_kwargs
            )
            self._async_sessions = async_sessionmaker(self._async_engine, expire_on_commit=False)
        return self._async_sessions

    @property
    def async_engine(self) -> AsyncEngine:
        """PostgreSQL: the engine of ``async_sessions`` (its asyncio connection pool)."""
        assert self.async_sessions is not None
        assert self._async_engine is not None
        return self._async_engine

    async def dispose_async(self) -> None:
        """Close the asyncio connections (in the loop that opened them); connections kept
        elsewhere (``KeptConnection``) are let go at their next use."""
        self.async_pool_generation += 1
        if self._async_engine is not None:
            await self._async_engine.dispose()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    @contextlib.asynccontextmanager
    async def write_turn(self) -> AsyncIterator[None]:
        """SQLite: wait (on the event loop, holding no thread) for this worker's turn to
        run a transaction, at most ``WRITE_WAIT_SECONDS`` (then ``DatabaseBusy``, a 503).
        PostgreSQL: nothing to wait for."""
        if not self.is_sqlite:
            yield
            return
        loop = asyncio.get_running_loop()
        turn = self._turns.get(loop)
        if turn is None:
            turn = self._turns[loop] = asyncio.Lock()
        try:
            await asyncio.wait_for(turn.acquire(), WRITE_WAIT_SECONDS)
        except TimeoutError:
            raise DatabaseBusy(f"no turn to write within {WRITE_WAIT_SECONDS:g} s") from None
        try:
            yield
        finally:
            turn.release()

    def probe(self, job: Callable[[sa.Connection], T]) -> T:
        """``job(connection)`` on a connection of its own (PostgreSQL: a pool of one, which
        the writers never hold, connecting within ``HEALTH_CONNECT_SECONDS``; SQLite: a
        reader, which never waits for a writer): the probes and the metrics' reads."""
        if self.is_sqlite:
            engine = self.reader
        else:
            if self._health is None:
                self._health = create_engine(
                    self.url, pool_size=1, max_overflow=1, pool_timeout=POOL_WAIT_SECONDS,
                    hide_parameters=True,
                    connect_args={"connect_timeout": HEALTH_CONNECT_SECONDS},
                )  # fmt: skip
            engine = self._health
        with engine.connect() as connection:
            return job(connection)

    def run(self, job: Callable[..., T], *args: Any) -> T:
        """``job(session, *args)`` in a transaction of its own (e.g. in a worker thread)."""
        with self.transaction() as session:
            return job(session, *args)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (it never waits for, or blocks, a writer)."""
        with self.read_sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        self.reader.dispose()
        if self._health is not None:
            self._health.dispose()


class KeptConnection:
    """PostgreSQL: one asyncio connection of ``db``'s pool, kept between uses, as psycopg's
    own (autocommit). For one user at a time (a ``Coalescer``, whose batches run one after
    another): a batch then costs no pool check-out and check-in.

    psycopg's errors come out as SQLAlchemy's, so the API answers as for any statement:
    422, 409, or 503 for a lost connection. A lost connection is let go and the pool starts
    afresh, as SQLAlchemy does on a disconnect (the other kept connections, most likely
    lost with it, are let go at their next use); the next use connects again.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: AsyncConnection | None = None
        self._raw: psycopg.AsyncConnection[Any] | None = None
        self._generation = -1

    @contextlib.asynccontextmanager
    async def driver(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if self._connection is not None and self._generation != self.db.async_pool_generation:
            connection, self._connection, self._raw = self._connection, None, None
            await connection.invalidate()  # from before the pool started afresh
        if self._connection is None or self._raw is None:
            self._generation = self.db.async_pool_generation
            self._connection = await self.db.async_engine.connect()
            self._raw = (await self._connection.get_raw_connection()).driver_connection
            assert self._raw is not None
            # JSON by pydantic-core's parser and serializer (Rust; the same values as the
            # json module's, several times faster): a decision reads and writes a dozen
            set_json_loads(from_json, self._raw)
            set_json_dumps(to_json, self._raw)
            # The decision path's statements look customers up (and insert): a sequential
            # scan is never right for them once the ledger has grown, but a plan prepared
            # while a table was small, before autovacuum first analyzed it, keeps one, and
            # every decision then reads the whole ledger (6 ms of server CPU per decision at
            # 15,000 decisions, in a benchmark's first minute).
            await self._raw.execute("SET enable_seqscan = off")
        connection, raw = self._connection, self._raw
        try:
            yield raw
        except psycopg.Error as exc:
            lost = raw.broken or raw.closed
            if lost:
                self._connection = self._raw = None
                await connection.invalidate()
                await self.db.dispose_async()
            raise sa.exc.DBAPIError.instance(
                None, None, exc, psycopg.Error, connection_invalidated=lost
            ) from None
        except BaseException:  # e.g. cancelled mid-statement: its state is unknown
            self._connection = self._raw = None
            await connection.invalidate()
            raise

    async def close(self) -> None:
        """Close the connection (before the pool is disposed; it does not go back to the
        pool, as it carries the settings above)."""
        if self._connection is not None:
            connection, self._connection, self._raw = self._connection, None, None
            await connection.invalidate()
            await connection.close()


def log_failure(what: str, exc: BaseException) -> None:
    """A periodic job's failure, for the server's log. A database that cannot serve now (its
    write lock held past the busy timeout by another process, such as ``nextoffer uplift
    train``; a server restarting) is expected and retried: one line, no traceback. Anything
    else is a fault: logged with its traceback."""
    if isinstance(exc, sa.exc.DBAPIError) and unavailable(exc):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        log.warning("%s: the database cannot serve now (%s); the next run retries", what, reason)
    else:
        log.error("%s", what, exc_info=exc)
