"""Who calls: a key's role, the principal an authenticated key is, and a key as listed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

__all__ = ["ROLES", "KeyRecord", "KeyStatus", "Principal", "Role"]

Role = Literal["client", "author", "approver", "admin"]
ROLES: tuple[Role, ...] = ("client", "author", "approver", "admin")
KeyStatus = Literal["live", "revoked", "expired"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's public id (an actor in audit records), role and label, and
    when the key expires (None: never)."""

    id: str
    role: Role
    label: str = ""
    expires_at: dt.datetime | None = None


@dataclass(frozen=True)
class KeyRecord:
    """A key as ``nextoffer keys list`` shows it (never the key or its hash)."""

    id: str
    role: str
    label: str
    status: KeyStatus
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
