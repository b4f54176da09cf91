"""Whether a customer may enter a journey now: its re-entry policy and its caps.

``admit`` is pure: the shell gives the customer's last enrollment in the journey (any
version; None before their first) and, for the caps, the journey's current counts. The
entry condition is separate (``Journey.qualifies``), as is the holdout draw
(``Journey.in_holdout``). Reasons, in the order they are checked:

- allowed: ``first_entry``, ``reentry``;
- refused: ``in_journey`` (the customer is in it now, or in its holdout), ``no_reentry``
  (the policy is ``never``), ``max_entries`` (they entered as often as allowed),
  ``reentry_wait`` (too soon after their exit: ``not_before`` says when),
  ``entries_per_day`` and ``in_journey_cap`` (the journey's caps are reached).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .compile import Journey
from .state import Enrollment

__all__ = ["Admission", "JourneyCounts", "admit", "day_start"]


@dataclass(frozen=True, slots=True)
class JourneyCounts:
    """The journey's current counts, from the shell: ``entered_today``, the entries since
    ``day_start(at)`` (holdout included); ``in_journey``, the customers in it now (active or
    in the holdout)."""

    entered_today: int = 0
    in_journey: int = 0


@dataclass(frozen=True, slots=True)
class Admission:
    """``allowed`` or not, and the ``reason``; ``not_before``: when a refused re-entry would
    be allowed (for ``reentry_wait``)."""

    allowed: bool
    reason: str
    not_before: dt.datetime | None = None


def day_start(at: dt.datetime) -> dt.datetime:
    """Midnight UTC of the day of ``at``: the start of the window ``entries_per_day`` counts."""
    return at.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def admit(
    journey: Journey,
    previous: Enrollment | None,
    at: dt.datetime,
    counts: JourneyCounts | None = None,
) -> Admission:
    """Whether the customer whose last enrollment is ``previous`` may enter ``journey`` at
    ``at``; ``counts`` None checks the re-entry policy only (not the caps)."""
    reentry = journey.spec.reentry
    reason = "first_entry"
    if previous is not None:
        if previous.active:
            return Admission(False, "in_journey")
        if reentry.policy == "never":
            return Admission(False, "no_reentry")
        if reentry.max_entries is not None and previous.entries >= reentry.max_entries:
            return Admission(False, "max_entries")
        if reentry.wait is not None:
            assert previous.exited_at is not None
            not_before = previous.exited_at + reentry.wait
            if at < not_before:
                return Admission(False, "reentry_wait", not_before)
        reason = "reentry"
    caps = journey.spec.caps
    if counts is not None:
        if caps.entries_per_day is not None and counts.entered_today >= caps.entries_per_day:
            return Admission(False, "entries_per_day")
        if caps.in_journey is not None and counts.in_journey >= caps.in_journey:
            return Admission(False, "in_journey_cap")
    return Admission(True, reason)
