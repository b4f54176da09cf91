"""Settings: from the environment (``NEXTOFFER_*``) or a TOML config file.

``NEXTOFFER_DATABASE_URL`` (or ``database_url`` in the file named by ``NEXTOFFER_CONFIG``,
default ``./nextoffer.toml`` when it exists) picks the database; without one, nextoffer uses
the SQLite file ``./nextoffer.db``. PostgreSQL URLs look like
``postgresql+psycopg://user@host:5432/dbname``.

PostgreSQL with two roles (``nextoffer db create-roles``): ``database_url`` is the
application role, which ``serve`` and the jobs connect as, and ``owner_database_url``
(``NEXTOFFER_OWNER_DATABASE_URL``) the owner role's, with which ``serve`` and ``migrate``
migrate and ``ledger archive`` detaches partitions. Unset: one role does everything.
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
    # the owner role's URL (PostgreSQL with two roles): migrations and archiving run as it;
    # "": database_url's role does everything
    owner_database_url: str = ""
    # how often a worker checks for a newly published snapshot (seconds)
    snapshot_poll_seconds: float = 0.25
    # personal data is erased this many days after it was last written, unless renewed
    retention_days: int = 365
    # how often `serve` runs the erasure sweeper (seconds)
    erase_every_seconds: float = 3600.0
    # how often `serve` recounts attach rates from the ledger (seconds; 0: never)
    attach_refresh_seconds: float = 60.0
    # how often `serve`'s background process scores the customers decisions met without an
    # uplift estimate (seconds; 0: never, they keep the offer's average τ until bulk scoring)
    score_ahead_seconds: float = 1.0
    # how often `serve`'s sealer chains new ledger rows by hash (seconds; 0: no sealer), and
    # signs a checkpoint when this many rows were sealed or this long passed since the last
    # (with anything new); the Ed25519 private key file that signs them ("": no
    # checkpoints) and the folder (outside the database) the checkpoint files go to
    seal_seconds: float = 1.0
    checkpoint_rows: int = 100_000
    checkpoint_seconds: float = 60.0
    checkpoint_key: str = ""
    checkpoint_dir: str = ""
    # how often `serve`'s journey scheduler releases due waits and runs outbound offer steps
    # (seconds; 0: no scheduler), and how often it enters outbound journeys' segments
    journey_tick_seconds: float = 1.0
    journey_segment_seconds: float = 900.0
    # how many scheduler processes release due steps side by side (each skips the customers
    # another holds); the first alone enters segments (bench/journey_bench.py measures one
    # and two)
    journey_schedulers: int = 1
    # limits on a request (service/limits.py): its body's size (bytes, 413) and the time it
    # may take to arrive (408); a JSON body's nesting and list lengths (422)
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32
    max_list_items: int = 1_000
    body_timeout_seconds: float = 30.0
    # a connection's request headers must all arrive within this time; an idle keep-alive
    # connection closes after keep_alive_seconds (uvicorn's timeout_keep_alive)
    header_timeout_seconds: float = 10.0
    keep_alive_seconds: int = 5
    # the service is reached over HTTPS (itself or behind a proxy): the dashboard's cookie is
    # Secure, and a form posted from https://this-host passes the dashboard's origin check
    secure_cookies: bool = False
    # how long a dashboard sign-in lasts (hours)
    dashboard_session_hours: float = 12.0
    # how far (seconds, either way) a live decision's `at` may be from the server's clock
    clock_tolerance_seconds: float = 300.0
    # a client address may present refused API keys this many times in a row, then one
    # more every auth_failure_refill_seconds (429 with Retry-After meanwhile; per worker)
    auth_failure_burst: int = 10
    auth_failure_refill_seconds: float = 6.0
    # the server's log: "plain" (a line of text, for a terminal) or "json" (one object a
    # line); access_log: a line per request (its id, route template, status, time)
    log_format: str = "plain"
    access_log: bool = True
    # /readyz answers 503 when its checks take longer than this (the database hangs)
    readiness_timeout_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.auth_failure_burst < 1 or self.auth_failure_refill_seconds <= 0:
            raise ValueError(
                "settings auth_failure_burst and auth_failure_refill_seconds: must be at"
                f" least 1 and above 0, got {self.auth_failure_burst} and"
                f" {self.auth_failure_refill_seconds}"
            )
        if self.log_format not in LOG_FORMATS:
            raise ValueError(
                f"setting log_format: must be one of {', '.join(LOG_FORMATS)},"
                f" got {self.log_format!r}"
            )
        if not 0 < self.readiness_timeout_seconds <= 60:
            raise ValueError(
                "setting readiness_timeout_seconds: must be more than 0 and at most 60,"
                f" got {self.readiness_timeout_seconds:g}"
            )
        if not 1 <= self.journey_schedulers <= MAX_SCHEDULERS:
            raise ValueError(
                f"setting journey_schedulers: must be between 1 and {MAX_SCHEDULERS},"
                f" got {self.journey_schedulers}"
            )


MAX_SCHEDULERS = 16
LOG_FORMATS = ("json", "plain")


def _coerce(name: str, value: object) -> object:
    """A setting's value as the type of its default (a file's or the environment's text)."""
    kind = type(getattr(Settings, name))
    if isinstance(value, kind) and not (kind is not bool and isinstance(value, bool)):
        return value
    text = str(value).strip()
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"setting {name}: {text!r} is not true or false")
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"setting {name}: {text!r} is not a {kind.__name__}") from None


def load_settings() -> Settings:
    values: dict[str, object] = {}
    path = Path(os.environ.get("NEXTOFFER_CONFIG", "nextoffer.toml"))
    if path.is_file():
        with path.open("rb") as f:
            values.update(tomllib.load(f))
    known = Settings.__dataclass_fields__
    # every setting can come from the environment as NEXTOFFER_<NAME>, over the file's
    env = {name: os.environ.get(f"NEXTOFFER_{name.upper()}") for name in known}
    values.update({k: v for k, v in env.items() if v})
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{path}: unknown setting(s): {', '.join(unknown)}")
    values = {name: _coerce(name, value) for name, value in values.items()}
    return Settings(**values)  # type: ignore[arg-type]
