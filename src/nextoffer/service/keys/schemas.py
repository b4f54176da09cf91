"""Who calls: a key's role, and the principal an authenticated key is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ROLES", "Principal", "Role"]

Role = Literal["client", "author", "approver", "admin"]
ROLES: tuple[Role, ...] = ("client", "author", "approver", "admin")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's public id (an actor in audit records), role and label."""

    id: str
    role: Role
    label: str = ""
