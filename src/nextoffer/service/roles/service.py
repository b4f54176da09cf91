"""Two PostgreSQL roles, so that the service cannot rewrite the ledger.

The **owner** owns the schema, its tables and functions, and runs the migrations (and
``ledger archive``, which detaches partitions). The **application role**, which ``serve``
and the jobs connect as, owns nothing: it may SELECT and INSERT on the append-only tables
(the ledger's decisions, events and journey transitions with their partitions and key
tables, the audit, erasures, rule revisions, journey versions) but not UPDATE, DELETE or
TRUNCATE them; SELECT, INSERT, UPDATE and DELETE on the others; take the sequences' values;
and run the two functions that do, as the owner, the one thing each it needs more
(creating the ledger's monthly partitions, locking the events to read the settled
``seq``; revision 0020). Not owning the tables, it cannot alter, drop or disable anything
(their triggers included). SQLite has no roles: one file, one user.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..db import Database
from ..errors import ServiceError
from ..migrate import behind, upgrade
from . import repository

__all__ = ["APP_ROLE", "CreatedRole", "RolesError", "create_roles", "grant", "migrate_as_owner"]

APP_ROLE = "nextoffer_app"


class RolesError(ServiceError):
    """Roles that cannot be set up as asked (the message says why and what to do)."""


@dataclass(frozen=True)
class CreatedRole:
    name: str
    password: str | None  # the password set now (None: the role existed and kept its own)
    created: bool


def grant(owner: Database, app: str) -> None:
    """Give ``app`` exactly the application role's privileges on ``owner``'s schema (run as
    the owner, after every migration: a new table gets its grant)."""
    with owner.transaction() as session:
        me = repository.current_user(session)
        _check(session, app, me)
        ledger = repository.append_only_tables(session)
        ordinary = [t for t in repository.tables(session)
                    if t not in ledger and t != "alembic_version"]  # fmt: skip
        repository.grant_application(session, app, me, ledger, ordinary)


def _check(session: Session, app: str, owner: str) -> None:
    found = repository.role(session, app)
    if found is None:
        raise RolesError(f"no role {app!r}: create it with `nextoffer db create-roles`")
    if app == owner:
        raise RolesError(
            f"the application role {app!r} is the owner role: give the application its own"
            " role (`nextoffer db create-roles --app-role NAME`)"
        )
    if found["superuser"]:
        raise RolesError(f"{app!r} is a superuser, whom no privilege limits: pick another role")
    if found["member"]:
        raise RolesError(
            f"{app!r} is a member of the owner role {owner!r} and so has its rights:"
            f" REVOKE {owner} FROM {app}, or pick another role"
        )
    owned = repository.owned_by(session, app)
    if owned:
        raise RolesError(
            f"{app!r} owns {', '.join(owned[:5])}{' …' if len(owned) > 5 else ''}: the"
            " application role must own nothing (REASSIGN OWNED BY it TO the owner role"
            " first, as a superuser)"
        )


def create_roles(owner: Database, app: str = APP_ROLE, password: str | None = None) -> CreatedRole:
    """Migrate to the newest schema as the owner (the role of ``owner``'s URL), create the
    application role ``app`` when it does not exist (a login role with ``password``, or a
    generated one), and grant it its privileges. Run again: only the grants are renewed
    (and the password, when one is given)."""
    if owner.is_sqlite:
        raise RolesError("--owner-url: SQLite has no roles (one file, one user); roles are"
                         " for PostgreSQL")  # fmt: skip
    upgrade(owner)
    created, chosen = False, password
    try:
        with owner.transaction() as session:
            if repository.role(session, app) is None:
                chosen = password or secrets.token_urlsafe(24)
                repository.create_login_role(session, app, chosen)
                created = True
            elif password is not None:
                repository.alter_password(session, app, password)
    except sa.exc.ProgrammingError as exc:
        if isinstance(exc.orig, psycopg.errors.InsufficientPrivilege):
            raise RolesError(
                f"the owner role may not create or change roles ({str(exc.orig).strip()}):"
                f" create {app!r} as a superuser (CREATE ROLE {app} LOGIN PASSWORD '…'), or"
                " give the owner CREATEROLE, and run this again"
            ) from None
        raise
    grant(owner, app)
    return CreatedRole(app, chosen, created)


def migrate_as_owner(owner: Database, app: str | None) -> bool:
    """Bring the schema to the newest revision as the owner and, when that changed it and
    the application role ``app`` is another role, renew its grants; whether it changed."""
    me = None
    if not owner.is_sqlite:
        with owner.read() as session:
            me = repository.current_user(session)
    from_revision = _revision(owner)
    upgrade(owner)
    changed = _revision(owner) != from_revision
    if changed and app is not None and me is not None and app != me:
        grant(owner, app)
    return changed


def _revision(db: Database) -> str | None:
    state = behind(db)
    return None if state is None else (state[0] or "")
