"""The dashboard's sign-in sessions and its defences against other pages.

- **Sessions**: signing in with an API key starts a session; the browser's cookie holds a
  random session id (256 bits), never the key, and the database only the id's SHA-256
  hash, the key's id and role, and when the session began and ends. Every request looks
  the session up; signing out deletes it, and a session whose key is gone, revoked or expired ends with
  it.
- **CSRF**: every unsafe request (POST) carries a token, in a form's hidden
  ``csrf_token`` field or the ``X-CSRF-Token`` header, that only a page of this dashboard
  can know: an HMAC of the session id (before sign-in, a random value also held in a
  cookie of its own). And a request another site made is refused by its own headers:
  ``Sec-Fetch-Site`` other than ``same-origin``, or an ``Origin`` that is not this host.
  SameSite=Strict alone does not do: another port of the same host is the same site.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy.orm import Session

from ..keys.service import Principal
from . import repository

__all__ = ["csrf_token", "end", "from_this_site", "new_token", "start", "who"]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def start(session: Session, holder: Principal, hours: float, now: dt.datetime) -> str:
    """A new session for ``holder``; returns its id, for the cookie (never stored)."""
    token = new_token()
    repository.insert_session(session, _hash(token), holder.id, holder.role, now,
                              now + dt.timedelta(hours=hours))  # fmt: skip
    return token


def who(session: Session, token: str, now: dt.datetime) -> Principal | None:
    """Whose live session ``token`` is, or None (unknown, signed out, expired, key gone,
    revoked or expired)."""
    row = repository.live_session(session, _hash(token), now)
    return None if row is None else Principal(row.key_id, row.role, row.label)


def end(session: Session, token: str) -> None:
    repository.delete_session(session, _hash(token))


def csrf_token(token: str) -> str:
    """The forms' token for the session (or pre-sign-in value) ``token``: it cannot be
    turned back into ``token``, and another page cannot compute it."""
    return hmac.new(token.encode(), b"nextoffer dashboard csrf", hashlib.sha256).hexdigest()


def from_this_site(request: Request, https: bool) -> bool:
    """False when the browser says another page (another origin) made the request."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("origin")
    if origin is None:  # not a browser's cross-origin request; the token still decides
        return True
    parts = urlsplit(origin)
    schemes = {request.url.scheme, "https"} if https else {request.url.scheme}
    # the host the browser asked for: Host, or what a proxy in front says it was (another
    # page cannot add that header to a form or a simple request)
    hosts = {request.headers.get("host"), request.headers.get("x-forwarded-host")}
    return parts.scheme in schemes and parts.netloc in hosts - {None}
