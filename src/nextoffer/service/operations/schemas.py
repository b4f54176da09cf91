"""What the probes answer."""

from __future__ import annotations

from typing import TypedDict

__all__ = ["Checks", "Liveness", "Readiness"]


class Liveness(TypedDict):
    """``GET /livez``: the process answers (nothing else is checked)."""

    status: str


class Checks(TypedDict):
    """Each readiness check: ``ok`` (or the live snapshot's version), else what is wrong."""

    database: str
    migrations: str
    snapshot: str
    models: str


class Readiness(TypedDict):
    """``GET /readyz``: ``ready`` (200) or ``not ready`` (503) with the reasons."""

    status: str
    checks: Checks
    reasons: list[str]
