"""Settings: from the environment (``NEXTOFFER_*``) or a TOML config file.

``NEXTOFFER_DATABASE_URL`` (or ``database_url`` in the file named by ``NEXTOFFER_CONFIG``,
default ``./nextoffer.toml`` when it exists) picks the database; without one, nextoffer uses
the SQLite file ``./nextoffer.db``. PostgreSQL URLs look like
``postgresql+psycopg://user@host:5432/dbname``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "load_settings"]

DEFAULT_SQLITE = "sqlite:///nextoffer.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_SQLITE
    # how often a worker checks for a newly published snapshot (seconds)
    snapshot_poll_seconds: float = 0.25
    # personal data is erased this many days after it was last written, unless renewed
    retention_days: int = 365
    # how often `serve` runs the erasure sweeper (seconds)
    erase_every_seconds: float = 3600.0
    # how often `serve` recounts attach rates from the ledger (seconds; 0: never)
    attach_refresh_seconds: float = 60.0
    # four eyes: a proposal's author may not approve it; a one-person install can relax this
    allow_self_approval: bool = False
    # the service is reached over HTTPS (itself or behind a proxy): the dashboard's cookie is
    # Secure, and a form posted from https://this-host passes the dashboard's origin check
    secure_cookies: bool = False
    # how long a dashboard sign-in lasts (hours)
    dashboard_session_hours: float = 12.0
    # how far (seconds, either way) a live decision's `at` may be from the server's clock
    clock_tolerance_seconds: float = 300.0


def load_settings() -> Settings:
    values: dict[str, object] = {}
    path = Path(os.environ.get("NEXTOFFER_CONFIG", "nextoffer.toml"))
    if path.is_file():
        with path.open("rb") as f:
            values.update(tomllib.load(f))
    env = {
        "database_url": os.environ.get("NEXTOFFER_DATABASE_URL"),
        "retention_days": os.environ.get("NEXTOFFER_RETENTION_DAYS"),
        "allow_self_approval": os.environ.get("NEXTOFFER_ALLOW_SELF_APPROVAL"),
        "attach_refresh_seconds": os.environ.get("NEXTOFFER_ATTACH_REFRESH_SECONDS"),
        "secure_cookies": os.environ.get("NEXTOFFER_SECURE_COOKIES"),
        "dashboard_session_hours": os.environ.get("NEXTOFFER_DASHBOARD_SESSION_HOURS"),
        "clock_tolerance_seconds": os.environ.get("NEXTOFFER_CLOCK_TOLERANCE_SECONDS"),
    }
    values.update({k: v for k, v in env.items() if v})
    known = Settings.__dataclass_fields__
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{path}: unknown setting(s): {', '.join(unknown)}")
    for name in ("attach_refresh_seconds", "clock_tolerance_seconds"):
        if name in values:
            values[name] = float(str(values[name]))
    if "retention_days" in values:
        values["retention_days"] = int(str(values["retention_days"]))
    if isinstance(values.get("allow_self_approval"), str):
        values["allow_self_approval"] = str(values["allow_self_approval"]).lower() in (
            "1",
            "true",
            "yes",
        )
    if isinstance(values.get("secure_cookies"), str):
        values["secure_cookies"] = str(values["secure_cookies"]).lower() in ("1", "true", "yes")
    if "dashboard_session_hours" in values:
        values["dashboard_session_hours"] = float(str(values["dashboard_session_hours"]))
    return Settings(**values)  # type: ignore[arg-type]
