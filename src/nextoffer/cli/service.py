"""Commands that run the service: ``serve``, ``migrate``, ``keys create | list | revoke``,
``erase``."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.engine import make_url

from ..service import background
from ..service.chain.service import load_private_key
from ..service.config import LOG_FORMATS, Settings, load_settings
from ..service.customers import service as customers
from ..service.db import Database
from ..service.errors import InvalidInput, NotFound
from ..service.keys.service import ROLES, KeyRecord, Role, create_key, list_keys, revoke_key
from ..service.migrate import behind, may_migrate, upgrade
from ..service.operations.logs import logging_config
from ..service.operations.metrics import shared_directory
from ..service.roles.service import RolesError, migrate_as_owner
from . import views
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
    log_format: Annotated[
        str | None,
        typer.Option(
            help="The log: json (one object a line) or plain (for a terminal); "
            "default: the log_format setting (plain)."
        ),
    ] = None,
) -> None:
    """Serve the HTTP API and the dashboard (migrating the database first). OpenAPI at /docs;
    probes at /livez and /readyz, Prometheus metrics at /metrics."""
    if log_format is not None and log_format not in LOG_FORMATS:
        fail(f"--log-format: must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    open_database().dispose()
    settings = load_settings()
    if log_format is not None:
        settings = replace(settings, log_format=log_format)
    if settings.checkpoint_key:  # a key that does not load stops the server now, not later
        try:
            load_private_key(Path(settings.checkpoint_key))
        except InvalidInput as exc:
            fail(f"setting {exc.message}")
    # every process of this run writes its metrics here; /metrics adds them up
    metrics_dir, made = shared_directory()
    try:
        _serve(settings, host, port, workers)
    finally:
        if made:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    from ..service.limits import uvicorn_options

    base = f"http://{host}:{port}"
    out.print(f"serving the API on {base} (OpenAPI at {base}/docs) and the dashboard at "
              f"{base}/dashboard (sign in with an author, approver or admin key)", markup=False)  # fmt: skip
    os.environ["NEXTOFFER_DATABASE_URL"] = settings.database_url  # the workers read it
    app = "nextoffer.service.app:create_app"
    limits = uvicorn_options(settings)
    log_config = logging_config(settings.log_format, settings.access_log)
    if workers == 1:
        with background.running(settings):
            uvicorn.run(app, factory=True, host=host, port=port, log_level="warning",
                        log_config=log_config, **limits)  # fmt: skip
        return
    from ..service.workers import Workers, listening_sockets

    config = uvicorn.Config(
        app, factory=True, host=host, port=port, workers=workers, log_level="warning",
        log_config=log_config, **limits,
    )  # fmt: skip
    try:
        sockets = listening_sockets(host, port, workers, config.backlog)
    except OSError as exc:
        fail(f"--port: cannot listen on {host}:{port}: {exc}")
    with background.running(settings):
        Workers(config, sockets).run()


_LIFETIME = re.compile(r"([0-9]+)([dh])")
MAX_LIFETIME_DAYS = 3650


def lifetime(text: str) -> dt.timedelta:
    """``--expires``: a whole number of days (``90d``) or hours (``12h``), at most ten years."""
    found = _LIFETIME.fullmatch(text.strip().lower())
    if found is None:
        fail(f"--expires: {text!r} is not a lifetime; give a whole number of days or hours,"
             " such as 90d or 12h")  # fmt: skip
    n, unit = int(found[1]), found[2]
    days = n if unit == "d" else n / 24
    if n == 0 or days > MAX_LIFETIME_DAYS:
        fail(f"--expires: {text!r} must be more than 0 and at most {MAX_LIFETIME_DAYS}d")
    return dt.timedelta(days=n) if unit == "d" else dt.timedelta(hours=n)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
    expires: Annotated[
        str | None,
        typer.Option(help="Its lifetime: days (90d) or hours (12h). Default: it never expires."),
    ] = None,
) -> None:
    """Create an API key and print it (once: only its hash is stored)."""
    if role not in ROLES:
        fail(f"--role: unknown role {role!r}; one of {', '.join(ROLES)}")
    expires_in = lifetime(expires) if expires is not None else None
    db = open_database()
    with db.transaction() as session:
        valid: Role = role
        key = create_key(session, valid, label, expires_in=expires_in)
    db.dispose()
    out.print(key, markup=False)


def _when(moment: dt.datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _record(k: KeyRecord) -> dict[str, object]:
    return {"id": k.id, "role": k.role, "label": k.label, "status": k.status,
            **{name: None if at is None else at.isoformat()
               for name, at in (("created_at", k.created_at), ("expires_at", k.expires_at),
                                ("revoked_at", k.revoked_at), ("last_used_at", k.last_used_at))}}  # fmt: skip


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the API keys (never the keys themselves): id, role, label, status (live,
    revoked, expired), when created, expiring, revoked and last used. The last use is
    written by each worker at most once a minute, so it may be up to a minute behind."""
    db = open_database()
    with db.read() as session:
        found = list_keys(session, dt.datetime.now(dt.UTC))
    db.dispose()
    if as_json:
        views.print_json([_record(k) for k in found])
        return
    if not found:
        out.print("no API keys (`nextoffer keys create --role ROLE` makes one)")
        return
    table = Table(title="API keys")
    for column in ("id", "role", "label", "status", "created", "expires", "revoked",
                   "last used"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for k in found:
        table.add_row(k.id, k.role, k.label, k.status, _when(k.created_at), _when(k.expires_at),
                      _when(k.revoked_at), _when(k.last_used_at))  # fmt: skip
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (`keys list`).")],
) -> None:
    """Revoke an API key: every worker refuses it within a second, and its dashboard
    sessions end. It stays listed, as revoked."""
    db = open_database()
    try:
        with db.transaction() as session:
            at, done = revoke_key(session, key_id.strip(), dt.datetime.now(dt.UTC))
    except NotFound as exc:
        fail(f"ID: {exc.message}")
    finally:
        db.dispose()
    if done:
        out.print(f"revoked key {key_id.strip()} at {_when(at)}", markup=False)
    else:
        out.print(f"key {key_id.strip()} was already revoked at {_when(at)}", markup=False)


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
            try:
                customers.erase(session, customer, "request")
            except NotFound as exc:
                fail(exc.message)
            out.print(f"erased the personal data of {customer}")
        else:
            n = customers.sweep(session)
            out.print(f"erased the personal data of {n} customer(s) past retention")
    db.dispose()
