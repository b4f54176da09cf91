"""The dashboard's plumbing: sign-in sessions, the CSRF guard, security headers, templates
and their filters, error pages.

Signing in takes an API key (the service's keys and roles: author, approver, admin; a
client key is for machines and cannot sign in) and starts a session (``sessions``): the
HttpOnly, SameSite=Strict cookie scoped to the dashboard holds a random session id, Secure
when the service is configured for HTTPS; every request looks the session up, so signing
out or deleting the key ends it, and four-eyes holds here as in the API. Every unsafe
request passes ``guard`` (this site's own page, with the session's CSRF token), and every
dashboard response carries a content security policy that forbids framing.
"""

from __future__ import annotations

import datetime as dt
import hmac
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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import Forbidden, InvalidInput, ServiceError
from ..keys.service import Principal, require
from . import navigation, sessions
from .navigation import DASHBOARD_ROLES

__all__ = ["COOKIE", "CSP", "DASHBOARD_ROLES", "HERE", "PREFIX", "SIGN_IN_COOKIE", "SecurityHeaders",
           "SignInRequired", "act", "error_page", "errors_of", "guard", "is_dashboard", "now",
           "page", "set_cookie", "sign_in_redirect", "signed_in", "templates", "viewer"]  # fmt: skip

PREFIX = "/dashboard"
COOKIE = "nextoffer_session"  # the session id
SIGN_IN_COOKIE = "nextoffer_sign_in"  # before sign-in: the sign-in form's CSRF secret
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


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


def _pp(value: Any, digits: int = 2) -> str:
    """A difference of two rates, in percentage points (0.0542 is "5.42 pp", not 5.42%)."""
    if _missing(value):
        return "–"
    return f"{100 * value:.{digits}f} pp"


def _quote(value: Any) -> str:
    """For a URL's query: nothing for a missing value (never the word "None")."""
    return "" if _missing(value) else quote(str(value), safe="")


def _sig(value: Any, digits: int = 2) -> str:
    """A number to ``digits`` significant digits (p- and q-values)."""
    return "–" if _missing(value) else f"{value:.{digits}g}"


def _when(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return str(value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


templates.env.filters.update(num=_num, pct=_pct, pp=_pp, sig=_sig, when=_when, quote=_quote)


def now() -> dt.datetime:
    """The wall clock, in UTC."""
    return dt.datetime.now(dt.UTC)


def _session(request: Request) -> Principal | None:
    """Whose session the cookie holds (looked up once per request), or None."""
    if "dashboard_who" in request.scope:
        found: Principal | None = request.scope["dashboard_who"]
        return found
    token = request.cookies.get(COOKIE)
    found = None
    if token:
        with request.app.state.db.read() as session:
            found = sessions.who(session, token, now())
    request.scope["dashboard_who"] = found
    return found


def viewer(request: Request) -> Principal:
    """Who is signed in (an author, approver or admin), or ``SignInRequired``."""
    who = _session(request)
    if who is None:
        raise SignInRequired
    require(who.role, DASHBOARD_ROLES)
    return who


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    """A dashboard cookie: HttpOnly, SameSite=Strict, for the dashboard's paths only, and
    Secure when the service is configured for HTTPS (or the request came over it)."""
    secure = request.app.state.settings.secure_cookies or request.url.scheme == "https"
    response.set_cookie(name, value, httponly=True, samesite="strict", path=PREFIX, secure=secure)


_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def guard(request: Request) -> None:
    """Every unsafe dashboard request: made by this site's own page (the browser's
    ``Sec-Fetch-Site`` and ``Origin`` say so, when it sends them) and carrying the CSRF
    token of the session (before sign-in, of the sign-in form), else 403."""
    if request.method in _SAFE:
        return
    if not sessions.from_this_site(request, request.app.state.settings.secure_cookies):
        raise Forbidden("refused: the request came from another site's page")
    sent: Any = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(_FORMS):
        sent = (await request.form()).get("csrf_token")
    if request.url.path == f"{PREFIX}/sign-in":
        secret = request.cookies.get(SIGN_IN_COOKIE)
    else:
        secret = request.cookies.get(COOKIE)
        if not secret:
            raise SignInRequired
    if not (secret and isinstance(sent, str)
            and hmac.compare_digest(sent.encode(), sessions.csrf_token(secret).encode())):  # fmt: skip
        raise Forbidden("refused: the form's CSRF token is missing or out of date; reload "
                        "the page and try again")  # fmt: skip


def signed_in(request: Request) -> Principal | None:
    """Who is signed in, or None (no session, or a role that may not see the dashboard)."""
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
    """A page in the dashboard's layout; ``?done=`` in the URL shows as a notice. The top
    bar lists the sections of ``navigation.SECTIONS`` that ``who`` may see; the one whose
    pages include this template's name is marked current."""
    context.setdefault("errors", [])
    if "csrf" not in context:  # the forms' token: of the session, or of the sign-in form
        secret = request.cookies.get(COOKIE if who else SIGN_IN_COOKIE)
        context["csrf"] = sessions.csrf_token(secret) if secret else ""
    notice = request.query_params.get("done")
    return templates.TemplateResponse(
        request,
        template,
        {
            "title": title,
            "who": who,
            "prefix": PREFIX,
            "notice": notice,
            "navigation": navigation.visible(who.role) if who else [],
            "section": template.split(".")[0].split("_")[0],
            **context,
        },
        status_code=status,
    )


def errors_of(exc: ServiceError) -> list[dict[str, str]]:
    """A refusal's errors as the pages list them: field and message."""
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
    """Whether ``request`` is for a dashboard page (its refusals are pages, not JSON)."""
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


def error_page(request: Request, exc: ServiceError) -> Response:
    """A refusal on a dashboard page, as a page (the API answers the same refusal as JSON)."""
    who = signed_in(request)
    title = {401: "Not signed in", 403: "Not allowed", 404: "Not found", 409: "Conflict"}.get(
        exc.status, "Cannot do that"
    )
    return page(request, "error.html", title, who, exc.status, errors=errors_of(exc))


def sign_in_redirect(request: Request) -> Response:
    """To the sign-in page, and back to this page after it."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/sign-in?next={quote(target)}", status_code=303)


# what the dashboard's pages may load and do: its own scripts, styles and requests, its
# charts as data: images, forms posted to itself only, and never in a frame
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")  # fmt: skip
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the policy and the anti-framing headers to every response under ``/dashboard``
    (pages, redirects, errors and static files alike). A plain ASGI middleware: anything
    else passes through untouched at the cost of one string comparison."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
