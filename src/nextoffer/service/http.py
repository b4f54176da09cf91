"""What every endpoint shares: the request's transaction, the API-key check and the
``Idempotency-Key`` header."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import contextmanager_in_threadpool
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from .db import Database
from .errors import InvalidInput
from .keys.service import Principal, Role, authenticate, require

__all__ = ["SessionDep", "allow", "database", "idempotency_header", "principal", "session"]

MAX_IDEMPOTENCY_KEY = 200


async def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def session(db: Annotated[Database, Depends(database)]) -> AsyncIterator[Session]:
    """The request's transaction: committed once when the endpoint returns, else rolled back.
    It begins and ends in a thread, after the request's turn to write (SQLite's one writer
    at a time; ``Database.write_turn``)."""
    async with db.write_turn(), contextmanager_in_threadpool(db.transaction()) as s:
        yield s


# scope="function": the transaction ends (commits) when the endpoint returns, before the
# response is sent. FastAPI's default for a dependency with yield ends it after the response
# has gone: a client could hold a 201 for an event that a crash then never committed.
SessionDep = Annotated[Session, Depends(session, scope="function")]


_KEY_TTL = 10.0  # seconds a worker remembers a verified key's role
_verified: dict[str, tuple[Principal, float]] = {}


def _remembered(key: str | None) -> Principal | None:
    cached = _verified.get(key) if key else None
    if cached is not None and time.monotonic() < cached[1]:
        return cached[0]
    return None


def principal(db: Database, key: str | None) -> Principal:
    """Who holds ``key`` (``Unauthorized`` when nobody does).

    A verified key's role is remembered for 10 seconds per worker, which saves a database
    round trip on every request; an unknown key is always looked up.
    """
    remembered = _remembered(key)
    if remembered is not None:
        return remembered
    with db.read() as s:
        who = authenticate(s, key)
    if len(_verified) > 10_000:
        _verified.clear()
    assert key is not None
    _verified[key] = (who, time.monotonic() + _KEY_TTL)
    return who


def allow(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that checks the API key (``Authorization: Bearer …`` or ``X-API-Key``)
    and that its role may call the endpoint. It reads the headers itself: declared as
    header parameters, FastAPI would extract and validate them on every request."""

    async def check(request: Request) -> Principal:
        headers = request.headers
        key = headers.get("x-api-key")
        authorization = headers.get("authorization")
        if authorization and authorization.lower().startswith("bearer "):
            key = authorization[7:].strip()
        # on the event loop when the key is remembered, else in a thread (a database read)
        who = _remembered(key)
        if who is None:
            who = await run_in_threadpool(principal, request.app.state.db, key)
        require(who.role, roles)
        return who

    return check


def idempotency_header(header: str | None) -> str | None:
    """An ``Idempotency-Key`` header as its UTF-8 text (HTTP hands headers over as bytes;
    Starlette reads them as Latin-1, which garbles any other character); refused (422
    naming it) when it is not UTF-8, empty, or longer than 200 characters."""
    if header is None:
        return None
    try:
        key = header.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise InvalidInput.one("Idempotency-Key", "must be UTF-8 text") from None
    if not key.strip():
        raise InvalidInput.one("Idempotency-Key", "must not be empty")
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInput.one(
            "Idempotency-Key", f"must be at most {MAX_IDEMPOTENCY_KEY} characters"
        )
    return key
