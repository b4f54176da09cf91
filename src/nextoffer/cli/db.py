"""``nextoffer db``: the PostgreSQL roles the service runs with."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from ..service.config import load_settings
from ..service.db import Database
from ..service.roles.service import APP_ROLE, RolesError, create_roles
from .output import fail, out

__all__ = ["create_roles_command", "db_app"]

db_app = typer.Typer(help="The database's roles (PostgreSQL).", no_args_is_help=True)


@db_app.command("create-roles")
def create_roles_command(
    owner_url: Annotated[
        str | None,
        typer.Option(
            "--owner-url",
            help="The owner role's URL (default: NEXTOFFER_OWNER_DATABASE_URL): it owns the"
            " schema and runs the migrations.",
        ),
    ] = None,
    app_role: Annotated[
        str, typer.Option("--app-role", help="The application role `serve` connects as.")
    ] = APP_ROLE,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            envvar="NEXTOFFER_APP_PASSWORD",
            help="The application role's password when it is created (default: generated,"
            " printed once) or to set anew.",
        ),
    ] = None,
) -> None:
    """Migrate as the owner, create the application role (a login that owns nothing) and
    grant it what the service needs: SELECT and INSERT on the ledger, no UPDATE, DELETE,
    TRUNCATE or DDL there. Run again after a role's privileges were changed by hand."""
    try:
        settings = load_settings()
    except ValueError as exc:
        fail(str(exc))
    url = owner_url or settings.owner_database_url
    if not url:
        fail("--owner-url: give the owner role's URL (or set NEXTOFFER_OWNER_DATABASE_URL)")
    if not app_role or len(app_role) > 63:
        fail("--app-role: a role name of 1 to 63 characters")
    owner = Database(url)
    try:
        made = create_roles(owner, app_role, password)
    except RolesError as exc:
        fail(exc.message)
    finally:
        owner.dispose()
    app_url = make_url(url).set(username=made.name, password=made.password)
    if made.created:
        out.print(f"created the application role {made.name!r}", markup=False)
    out.print(f"granted {made.name!r} the application's privileges (it owns nothing)",
              markup=False)  # fmt: skip
    if made.password is not None and password is None:
        out.print("its password (printed only now):", markup=False)
        out.print(made.password, markup=False)
    shown = app_url.render_as_string(hide_password=password is not None or made.password is None)
    out.print(
        f"serve with NEXTOFFER_DATABASE_URL={shown} and NEXTOFFER_OWNER_DATABASE_URL="
        f"{make_url(url).render_as_string(hide_password=True)} (for migrations)",
        markup=False,
    )
