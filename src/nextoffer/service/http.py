"""What every endpoint shares: the request's transaction, the API-key check (with the
throttle on refused keys and the keys' last use) and the ``Idempotency-Key`` header."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import contextmanager_in_threadpool
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from .db import Database, log_failure
from .errors import InvalidInput, TooManyAttempts, Unauthorized
from .keys.service import LastUses, Principal, Role, authenticate, require

__all__ = ["KEY_USE_SECONDS", "SessionDep", "allow", "database", "idempotency_header",
           "key_use_writer", "principal", "session", "signed_in_key", "write_key_uses"]  # fmt: skip

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


# A worker remembers a verified key for half a second: that saves a database read on almost
# every request, and a revoked key is refused by every worker within a second of
# `nextoffer keys revoke` (an expired one at once: the expiry is remembered with it).
_KEY_TTL = 0.5
_verified: dict[str, tuple[Principal, float]] = {}
# each worker writes a key's last use at most this often (seconds), in the background
KEY_USE_SECONDS = 60.0


def _remembered(key: str | None, now: dt.datetime) -> Principal | None:
    cached = _verified.get(key) if key else None
    if cached is not None and time.monotonic() < cached[1]:
        who = cached[0]
        if who.expires_at is None or now < who.expires_at:
            return who
    return None


def principal(db: Database, key: str | None, now: dt.datetime) -> Principal:
    """Who holds ``key`` at ``now`` (``Unauthorized`` when nobody does, or the key is revoked
    or expired); a verified key is remembered for half a second (an unknown key is always
    looked up)."""
    remembered = _remembered(key, now)
    if remembered is not None:
        return remembered
    with db.read() as s:
        who = authenticate(s, key, now)
    if len(_verified) > 10_000:
        _verified.clear()
    assert key is not None
    _verified[key] = (who, time.monotonic() + _KEY_TTL)
    return who


def _address(request: Request) -> str:
    """The client's address (behind a proxy: the one the proxy forwards, when uvicorn trusts
    it: ``FORWARDED_ALLOW_IPS``)."""
    return request.client.host if request.client is not None else ""


def _throttled(request: Request) -> None:
    """``TooManyAttempts`` while the client's address has failed too often."""
    wait = request.app.state.auth_throttle.retry_after(_address(request))
    if wait:
        raise TooManyAttempts(wait)


def _failed(request: Request, key: str | None) -> None:
    if key:  # a request without a key guesses nothing
        request.app.state.auth_throttle.failed(_address(request))


def signed_in_key(request: Request, key: str) -> Principal:
    """Who holds ``key`` (the dashboard's sign-in, in a thread), counted against the client's
    address when refused; ``TooManyAttempts`` while the address has failed too often."""
    _throttled(request)
    now = request.app.state.clock.now()
    try:
        who = principal(request.app.state.db, key, now)
    except Unauthorized:
        _failed(request, key)
        raise
    request.app.state.key_uses.note(who.id, now)
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
        _throttled(request)
        state = request.app.state
        now = state.clock.now()
        # on the event loop when the key is remembered, else in a thread (a database read)
        who = _remembered(key, now)
        if who is None:
            try:
                who = await run_in_threadpool(principal, state.db, key, now)
            except Unauthorized:
                _failed(request, key)
                raise
        state.key_uses.note(who.id, now)
        require(who.role, roles)
        return who

    return check


async def write_key_uses(uses: LastUses, db: Database) -> None:
    """Write the keys' latest uses this worker saw (in a thread, one transaction); kept for
    the next time when the database cannot take them now."""
    taken = uses.take()
    if not taken:
        return
    try:
        await run_in_threadpool(db.run, LastUses.write, taken)
    except Exception as exc:
        uses.give_back(taken)
        log_failure("writing the API keys' last use failed (retrying)", exc)


async def key_use_writer(uses: LastUses, db: Database) -> None:
    """Write the keys' last uses every ``KEY_USE_SECONDS`` (``serve``'s workers)."""
    while True:
        await asyncio.sleep(KEY_USE_SECONDS)
        await write_key_uses(uses, db)


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
