"""The suite's time: fixed instants, never the wall clock.

A request that names no ``at`` is decided at the server's clock, so a test whose answer
depends on the local time sends one (``iso(NOW)``, or each of ``INSTANTS`` through the
``instant`` fixture of ``tests/conftest.py``). The live path lets a request's ``at`` move its
local time only within the server's ``clock_tolerance_seconds``: a module whose live
decisions carry these fixed instants starts its server with the tolerance wide open
(``SERVER_ENV``, as ``tests/service/test_rules_api.py`` does); the contact windows still
count from the server's clock, which is the database's.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")

# NOW is the suite's default instant: 15:30 in New York, outside every time-bound
# rule of the demo (the shop's breakfast rule runs 06:00–10:59).
NOW = dt.datetime(2026, 3, 10, 19, 30, tzinfo=dt.UTC)

# The instants a time-sensitive test runs at: New York's morning (on the day the clocks
# spring forward, and in summer), both 01:30s of the night the clocks fall back, and a UTC
# midnight (the evening before in New York).
INSTANTS: dict[str, dt.datetime] = {
    "new-york-06:30-on-the-spring-forward-day": dt.datetime(2026, 3, 8, 6, 30, tzinfo=NEW_YORK),
    "new-york-first-01:30-of-the-fall-back-night": dt.datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK),
    "new-york-second-01:30-of-the-fall-back-night": dt.datetime(
        2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK
    ),
    "new-york-09:00-in-summer": dt.datetime(2026, 7, 15, 9, 0, tzinfo=NEW_YORK),
    "utc-midnight": dt.datetime(2026, 6, 1, 0, 0, tzinfo=dt.UTC),
    "the-suite-default": NOW,
}


def iso(instant: dt.datetime) -> str:
    """An instant as the API takes it (UTC, ISO 8601)."""
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
