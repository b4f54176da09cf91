"""API keys, stored as a SHA-256 hash, each with a role, optionally an expiry.

A key looks like ``nxo_<id>_<secret>``: the id finds the row, the hash of the whole key is
compared in constant time. Keys are random (256 bits), so a fast hash is enough. A revoked
key, or one past its ``expires_at``, is refused (401, saying which).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from sqlalchemy.orm import Session

from ..errors import Forbidden, NotFound, Unauthorized
from . import repository
from .schemas import ROLES, KeyRecord, KeyStatus, Principal, Role

__all__ = ["ROLES", "KeyRecord", "LastUses", "Principal", "Role", "authenticate", "create_key",
           "labels", "list_keys", "require", "revoke_key"]  # fmt: skip


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as an aware UTC time (SQLite hands them back naive, in UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def create_key(
    session: Session,
    role: Role,
    label: str = "",
    *,
    expires_in: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> str:
    """A new key with ``role`` (expiring ``expires_in`` after ``now``, the wall clock by
    default; None: never); the key itself is returned once and never stored."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if expires_in is not None and expires_in <= dt.timedelta(0):
        raise ValueError("a key's lifetime must be positive")
    at = now or dt.datetime.now(dt.UTC)
    key_id = secrets.token_hex(6)
    key = f"nxo_{key_id}_{secrets.token_urlsafe(32)}"
    expires = at + expires_in if expires_in is not None else None
    repository.insert_key(session, key_id, _hash(key), role, label, at, expires)
    return key


def authenticate(session: Session, key: str | None, now: dt.datetime) -> Principal:
    """Who holds ``key`` at ``now``, or ``Unauthorized`` (no such key, revoked, expired)."""
    if not key:
        raise Unauthorized("missing API key (Authorization: Bearer KEY, or X-API-Key)")
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "nxo":
        raise Unauthorized("invalid API key")
    row = repository.key_row(session, parts[1])
    if row is None or not hmac.compare_digest(row.hash, _hash(key)):
        raise Unauthorized("invalid API key")
    # the holder of the whole key may learn why it no longer works
    if row.revoked_at is not None:
        raise Unauthorized(f"this API key was revoked (key {parts[1]})")
    expires = _utc(row.expires_at)
    if expires is not None and now >= expires:
        raise Unauthorized(
            f"this API key expired at {expires.isoformat(timespec='seconds')} (key {parts[1]})"
        )
    return Principal(parts[1], row.role, row.label, expires)


def _status(
    revoked: dt.datetime | None, expires: dt.datetime | None, now: dt.datetime
) -> KeyStatus:
    if revoked is not None:
        return "revoked"
    return "expired" if expires is not None and now >= expires else "live"


def list_keys(session: Session, now: dt.datetime) -> list[KeyRecord]:
    """Every key, oldest first, with its status at ``now``."""
    found = []
    for r in repository.all_keys(session):
        revoked, expires = _utc(r.revoked_at), _utc(r.expires_at)
        created = _utc(r.created_at)
        assert created is not None
        found.append(KeyRecord(r.id, r.role, r.label, _status(revoked, expires, now), created,
                               expires, revoked, _utc(r.last_used_at)))  # fmt: skip
    return found


def revoke_key(session: Session, key_id: str, now: dt.datetime) -> tuple[dt.datetime, bool]:
    """Revoke the key ``key_id`` at ``now``: when it was revoked, and whether by this call
    (False: it already was). ``NotFound`` when there is no such key."""
    found = repository.revoke(session, key_id, now)
    if found is None:
        raise NotFound(f"no API key with id {key_id!r} (`nextoffer keys list` lists them)")
    revoked = _utc(found[0])
    assert revoked is not None
    return revoked, found[1]


class LastUses:
    """The keys' uses a worker saw, kept to be written in the background: a key's latest use
    only, so each key costs at most one write per flush, and no request writes."""

    def __init__(self) -> None:
        self._latest: dict[str, dt.datetime] = {}

    def note(self, key_id: str, at: dt.datetime) -> None:
        known = self._latest.get(key_id)
        if known is None or at > known:
            self._latest[key_id] = at

    def take(self) -> dict[str, dt.datetime]:
        """The uses noted since the last ``take`` (then forgotten)."""
        taken, self._latest = self._latest, {}
        return taken

    def give_back(self, uses: dict[str, dt.datetime]) -> None:
        """Uses whose write failed, to be written with the next ones."""
        for key_id, at in uses.items():
            self.note(key_id, at)

    @staticmethod
    def write(session: Session, uses: dict[str, dt.datetime]) -> None:
        repository.touch(session, uses)


def require(role: Role, allowed: tuple[Role, ...]) -> None:
    if role != "admin" and role not in allowed:
        need = " or ".join(allowed)
        raise Forbidden(f"this needs a key with role {need} (or admin); yours is {role}")


def labels(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """The label each key id was created with (the id itself when the key has no label, or
    the actor is not a key: ``loader``, ``attach-refresh``): who acted, as people read it."""
    wanted = {i for i in ids if i}
    found = repository.labels_of(session, wanted) if wanted else {}
    return {i: found.get(i, i) for i in wanted}
