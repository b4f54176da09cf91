"""The dashboard's plumbing: sign-in by cookie, templates and their filters, error pages.

Signing in takes an API key (the service's keys and roles: author, approver, admin; a
client key is for machines and cannot sign in). The key is kept in an HttpOnly,
SameSite=Strict cookie scoped to the dashboard, checked on every request exactly as the
API checks its header, so a revoked key signs its holder out and four-eyes holds here as in
the API. SameSite=Strict means another site cannot make a signed-in browser post a form.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Undefined
from sqlalchemy.orm import Session

from ..errors import Forbidden, InvalidInput, ServiceError, Unauthorized
from ..http import principal
from ..keys.service import Principal, Role, require

__all__ = ["COOKIE", "PREFIX", "SignInRequired", "act", "error_page", "errors_of", "is_dashboard",
           "page", "sign_in_redirect", "signed_in", "templates", "viewer"]  # fmt: skip

PREFIX = "/dashboard"
COOKIE = "nextoffer_key"
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
DASHBOARD_ROLES: tuple[Role, ...] = ("author", "approver")


class SignInRequired(Exception):
    """No valid key in the cookie: the browser is sent to the sign-in page."""


def _missing(value: Any) -> bool:
    return (
        value is None
        or isinstance(value, Undefined)
        or (isinstance(value, float) and math.isnan(value))
    )


def _num(value: Any, digits: int = 3) -> str:
    if _missing(value):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _pct(value: Any, digits: int = 1) -> str:
    if _missing(value):
        return "–"
    return f"{100 * value:.{digits}f}%"


def _sig(value: Any, digits: int = 2) -> str:
    """A number to ``digits`` significant digits (p- and q-values)."""
    return "–" if _missing(value) else f"{value:.{digits}g}"


def _when(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return str(value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


templates.env.filters.update(
    num=_num, pct=_pct, sig=_sig, when=_when, quote=lambda s: quote(str(s), safe="")
)


def viewer(request: Request) -> Principal:
    """Who is signed in (an author, approver or admin), or ``SignInRequired``."""
    key = request.cookies.get(COOKIE)
    if not key:
        raise SignInRequired
    try:
        who = principal(request.app.state.db, key)
    except Unauthorized:
        raise SignInRequired from None
    require(who.role, DASHBOARD_ROLES)
    return who


def signed_in(request: Request) -> Principal | None:
    try:
        return viewer(request)
    except (SignInRequired, Forbidden):
        return None


def page(
    request: Request,
    template: str,
    title: str,
    who: Principal | None,
    status: int = 200,
    **context: Any,
) -> Response:
    """A page in the dashboard's layout; ``?done=`` in the URL shows as a notice."""
    context.setdefault("errors", [])
    notice = request.query_params.get("done")
    return templates.TemplateResponse(
        request,
        template,
        {
            "title": title,
            "who": who,
            "prefix": PREFIX,
            "notice": notice,
            "section": template.split(".")[0].split("_")[0],
            **context,
        },
        status_code=status,
    )


def errors_of(exc: ServiceError) -> list[dict[str, str]]:
    if isinstance(exc, InvalidInput):
        return exc.errors
    return [{"field": "", "message": exc.message}]


def act(
    request: Request,
    work: Callable[[Session], tuple[str, str]],
    on_error: Callable[[Session, list[dict[str, str]], int], Response],
) -> Response:
    """Run a change in its own transaction. Success: see the result (``work`` returns where
    to go and a notice). A refusal: nothing was written, and the page is shown again with
    the errors and the refusal's status (422, 403, 404, 409)."""
    db = request.app.state.db
    try:
        with db.transaction() as session:
            where, notice = work(session)
    except ServiceError as exc:
        with db.read() as session:
            return on_error(session, errors_of(exc), exc.status)
    joiner = "&" if "?" in where else "?"
    return RedirectResponse(f"{where}{joiner}done={quote(notice)}", status_code=303)


def is_dashboard(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


def error_page(request: Request, exc: ServiceError) -> Response:
    """A refusal on a dashboard page, as a page (the API answers the same refusal as JSON)."""
    who = signed_in(request)
    title = {401: "Not signed in", 403: "Not allowed", 404: "Not found", 409: "Conflict"}.get(
        exc.status, "Cannot do that"
    )
    return page(request, "error.html", title, who, exc.status, errors=errors_of(exc))


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/sign-in?next={quote(target)}", status_code=303)
