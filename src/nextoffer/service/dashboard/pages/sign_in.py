"""Signing in with an API key (a new session) and signing out (the session ends)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ...errors import Forbidden, TooManyAttempts, Unauthorized
from ...http import signed_in_key
from ...keys.service import require
from .. import sessions
from ..views import COOKIE, DASHBOARD_ROLES, PREFIX, SIGN_IN_COOKIE, now, page, set_cookie

__all__ = ["router"]

router = APIRouter()


@router.get("/sign-in")
def sign_in_form(request: Request, next: str = PREFIX) -> Response:
    """The sign-in form; ``next`` is where to go after it (a dashboard page)."""
    # the sign-in form's CSRF secret, in a cookie of its own (there is no session yet)
    secret = request.cookies.get(SIGN_IN_COOKIE) or sessions.new_token()
    response = page(request, "sign_in.html", "Sign in", None, next=_safe_next(next),
                    csrf=sessions.csrf_token(secret))  # fmt: skip
    set_cookie(request, response, SIGN_IN_COOKIE, secret)
    return response


def _safe_next(target: str) -> str:
    # only a path inside the dashboard: never an open redirect to another site
    return target if target.startswith(PREFIX) and not target.startswith("//") else PREFIX


@router.post("/sign-in")
def sign_in(request: Request, key: Annotated[str, Form(max_length=500)] = "",
            next: Annotated[str, Form(max_length=2000)] = PREFIX) -> Response:  # fmt: skip
    """Start a session for a dashboard key (author, approver, admin), or show the refusal."""
    key = key.strip()
    try:
        who = signed_in_key(request, key)
        require(who.role, DASHBOARD_ROLES)
    except (Unauthorized, Forbidden, TooManyAttempts) as exc:
        errors = [{"field": "key", "message": exc.message}]
        refused = page(request, "sign_in.html", "Sign in", None, exc.status, errors=errors,
                       next=_safe_next(next))  # fmt: skip
        if isinstance(exc, TooManyAttempts):
            refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    hours = request.app.state.settings.dashboard_session_hours
    with request.app.state.db.transaction() as session:
        token = sessions.start(session, who, hours, now())
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(request, response, COOKIE, token)  # a new session id: never one given before
    response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
def sign_out(request: Request) -> Response:
    """End the session (if any) and go to the sign-in page."""
    token = request.cookies.get(COOKIE)
    if token:
        with request.app.state.db.transaction() as session:
            sessions.end(session, token)
    response = RedirectResponse(f"{PREFIX}/sign-in?done=signed+out", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response
