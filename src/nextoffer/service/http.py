"""What every endpoint shares: the request's transaction and the API-key check."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from .db import Database
from .keys.service import Role, authenticate, require

__all__ = ["SessionDep", "allow", "database", "session"]


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def session(db: Annotated[Database, Depends(database)]) -> Iterator[Session]:
    """The request's transaction: committed once when the endpoint returns, else rolled back."""
    with db.transaction() as s:
        yield s


SessionDep = Annotated[Session, Depends(session)]


def allow(*roles: Role) -> Callable[..., Role]:
    """A dependency that checks the API key and that its role may call the endpoint."""

    def check(
        db: Annotated[Database, Depends(database)],
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
        x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Role:
        key = x_api_key
        if authorization and authorization.lower().startswith("bearer "):
            key = authorization[7:].strip()
        with db.read() as s:
            role = authenticate(s, key)
        require(role, roles)
        return role

    return check
