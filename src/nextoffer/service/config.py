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


def load_settings() -> Settings:
    values: dict[str, object] = {}
    path = Path(os.environ.get("NEXTOFFER_CONFIG", "nextoffer.toml"))
    if path.is_file():
        with path.open("rb") as f:
            values.update(tomllib.load(f))
    env = {
        "database_url": os.environ.get("NEXTOFFER_DATABASE_URL"),
        "retention_days": os.environ.get("NEXTOFFER_RETENTION_DAYS"),
        "attach_refresh_seconds": os.environ.get("NEXTOFFER_ATTACH_REFRESH_SECONDS"),
    }
    values.update({k: v for k, v in env.items() if v})
    known = Settings.__dataclass_fields__
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{path}: unknown setting(s): {', '.join(unknown)}")
    if "attach_refresh_seconds" in values:
        values["attach_refresh_seconds"] = float(str(values["attach_refresh_seconds"]))
    if "retention_days" in values:
        values["retention_days"] = int(str(values["retention_days"]))
    return Settings(**values)  # type: ignore[arg-type]
