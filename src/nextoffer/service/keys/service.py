"""API keys, stored as a SHA-256 hash, each with a role.

A key looks like ``nxo_<id>_<secret>``: the id finds the row, the hash of the whole key is
compared in constant time. Keys are random (256 bits), so a fast hash is enough.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from sqlalchemy.orm import Session

from ..errors import Forbidden, Unauthorized
from . import repository
from .schemas import ROLES, Principal, Role

__all__ = ["ROLES", "Principal", "Role", "authenticate", "create_key", "labels", "require"]


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, role: Role, label: str = "") -> str:
    """A new key with ``role``; the key itself is returned once and never stored."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    key_id = secrets.token_hex(6)
    key = f"nxo_{key_id}_{secrets.token_urlsafe(32)}"
    repository.insert_key(session, key_id, _hash(key), role, label, dt.datetime.now(dt.UTC))
    return key


def authenticate(session: Session, key: str | None) -> Principal:
    """Who holds ``key``, or ``Unauthorized``."""
    if not key:
        raise Unauthorized("missing API key (Authorization: Bearer KEY, or X-API-Key)")
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "nxo":
        raise Unauthorized("invalid API key")
    row = repository.key_row(session, parts[1])
    if row is None or not hmac.compare_digest(row.hash, _hash(key)):
        raise Unauthorized("invalid API key")
    return Principal(parts[1], row.role, row.label)


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
