"""Commands that run the service: ``serve``, ``migrate``, ``keys create``, ``erase``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from ..service import background
from ..service.config import load_settings
from ..service.customers import service as customers
from ..service.db import Database
from ..service.keys.service import ROLES, Role, create_key
from ..service.migrate import behind, may_migrate, upgrade
from ..service.roles.service import RolesError, migrate_as_owner
from .output import fail, out

keys_app = typer.Typer(help="API keys.", no_args_is_help=True)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL (None for another database or an in-memory one)."""
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return None
    return None if name.startswith("file:") else Path(name)


def open_database(*, create: bool = False, owner: bool = False) -> Database:
    """The configured database, migrated to the newest schema (as the owner role, when
    ``owner_database_url`` is set; refused with a message when only the application role
    is given and the schema is not the newest). Only a command that makes one (``create``:
    ``migrate``) may start a new SQLite file; the others refuse, so that a command run
    outside a project does not leave an empty ``./nextoffer.db`` behind. ``owner``: connect
    as the owner role when one is set (``ledger archive``)."""
    try:
        settings = load_settings()
    except ValueError as exc:
        fail(str(exc))
    path = sqlite_file(settings.database_url)
    if not create and path is not None and not path.is_file():
        fail(
            f"no database: {str(path)!r} does not exist ({settings.database_url}). Run this in"
            " your project's folder, point NEXTOFFER_DATABASE_URL (or database_url in"
            " nextoffer.toml) at your database, or make one with `nextoffer migrate` (or"
            " `nextoffer demo`)"
        )
    db = Database(settings.database_url)
    if settings.owner_database_url:  # two roles: the owner migrates, the application serves
        owner_db = Database(settings.owner_database_url)
        try:
            migrate_as_owner(owner_db, None if db.is_sqlite else db.engine.url.username)
        except RolesError as exc:
            fail(exc.message)
        finally:
            owner_db.dispose()
    else:
        state = behind(db)
        if state is not None and not may_migrate(db):
            fail(
                f"the database is at revision {state[0] or 'none (empty)'}, not the newest"
                f" ({state[1]}), and {db.engine.url.username!r} may not migrate it (it is"
                " the application role, which owns nothing): run `nextoffer migrate` with"
                " NEXTOFFER_OWNER_DATABASE_URL set to the owner role's URL, or set"
                " owner_database_url for `serve`"
            )
        upgrade(db)
    if not db.is_sqlite:  # this and next month's ledger partitions, as `serve` keeps them
        from ..service.ledger.service import keep_partitions

        db.run(keep_partitions)
    if owner and settings.owner_database_url:
        db.dispose()
        return Database(settings.owner_database_url)
    return db


def migrate() -> None:
    """Bring the configured database to the newest schema (Alembic), creating it if needed."""
    db = open_database(create=True)
    out.print(f"database is up to date: {db.engine.url.render_as_string(hide_password=True)}")
    db.dispose()


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API and the dashboard (migrating the database first). OpenAPI at /docs."""
    import uvicorn

    from ..service.limits import uvicorn_options

    open_database().dispose()
    settings = load_settings()
    base = f"http://{host}:{port}"
    out.print(f"serving the API on {base} (OpenAPI at {base}/docs) and the dashboard at "
              f"{base}/dashboard (sign in with an author, approver or admin key)", markup=False)  # fmt: skip
    os.environ["NEXTOFFER_DATABASE_URL"] = settings.database_url  # the workers read it
    app = "nextoffer.service.app:create_app"
    limits = uvicorn_options(settings)
    if workers == 1:
        with background.running(settings):
            uvicorn.run(app, factory=True, host=host, port=port, log_level="warning", **limits)
        return
    from ..service.workers import Workers, listening_sockets

    config = uvicorn.Config(
        app, factory=True, host=host, port=port, workers=workers, log_level="warning", **limits
    )
    try:
        sockets = listening_sockets(host, port, workers, config.backlog)
    except OSError as exc:
        fail(f"--port: cannot listen on {host}:{port}: {exc}")
    with background.running(settings):
        Workers(config, sockets).run()


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Create an API key and print it (once: only its hash is stored)."""
    if role not in ROLES:
        fail(f"--role: unknown role {role!r}; one of {', '.join(ROLES)}")
    db = open_database()
    with db.transaction() as session:
        valid: Role = role
        key = create_key(session, valid, label)
    db.dispose()
    out.print(key, markup=False)


def erase(
    due: Annotated[
        bool, typer.Option("--due", help="Erase personal data past its retention.")
    ] = False,
    customer: Annotated[
        str | None, typer.Option(help="Erase one customer's personal data now.")
    ] = None,
) -> None:
    """Erase personal data (the ledger, which never holds it, stays whole)."""
    if due == (customer is not None):
        fail("give either --due or --customer ID")
    db = open_database()
    with db.transaction() as session:
        if customer is not None:
            from ..service.errors import NotFound

            try:
                customers.erase(session, customer, "request")
            except NotFound as exc:
                fail(exc.message)
            out.print(f"erased the personal data of {customer}")
        else:
            n = customers.sweep(session)
            out.print(f"erased the personal data of {n} customer(s) past retention")
    db.dispose()
