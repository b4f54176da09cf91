"""Who may (re-)enter: the re-entry policy over the last enrollment, and the journey's caps."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from nextoffer.core.journeys import (
    Admission,
    Enrollment,
    Enter,
    JourneyCounts,
    Tick,
    admit,
    advance,
    day_start,
)

from .conftest import DONE, at, compiled


def journey(**changes: Any) -> Any:
    return compiled([{"id": "wait", "type": "wait", "duration": "1d", "next": "done"}, DONE],
                    **changes)  # fmt: skip


def exited_at(j: Any, when: dt.datetime) -> Enrollment:
    """An enrollment that entered at T0 and left at ``when``."""
    enrollment = advance(j, None, Enter("c-1", at())).enrollment
    exited = advance(j, enrollment, Tick(when)).enrollment
    assert exited is not None
    assert exited.status == "exited"
    return exited


def test_a_first_entry_is_allowed() -> None:
    assert admit(journey(), None, at()) == Admission(True, "first_entry")


def test_a_customer_in_the_journey_may_not_enter_it_again() -> None:
    j = journey()
    enrollment = advance(j, None, Enter("c-1", at())).enrollment
    assert admit(j, enrollment, at(hours=1)) == Admission(False, "in_journey")


def test_a_customer_in_the_holdout_may_not_enter_it_again() -> None:
    j = journey()
    enrollment = advance(j, None, Enter("c-1", at(), holdout=True)).enrollment
    assert admit(j, enrollment, at(hours=1)) == Admission(False, "in_journey")


def test_never_means_one_entry() -> None:
    j = journey()
    assert admit(j, exited_at(j, at(1)), at(100)) == Admission(False, "no_reentry")


def test_after_exit_allows_a_new_entry_once_the_last_one_ended() -> None:
    j = journey(reentry={"policy": "after_exit"})
    assert admit(j, exited_at(j, at(1)), at(1)) == Admission(True, "reentry")


def test_after_a_wait_refuses_until_the_wait_has_passed_since_the_exit() -> None:
    j = journey(reentry={"policy": "after", "wait": "30d"})
    previous = exited_at(j, at(1))
    assert admit(j, previous, at(30)) == Admission(False, "reentry_wait", at(31))
    assert admit(j, previous, at(31)) == Admission(True, "reentry")


def test_max_entries_bounds_the_entries_in_all() -> None:
    j = journey(reentry={"policy": "after_exit", "max_entries": 2})
    previous = exited_at(j, at(1))
    assert admit(j, previous, at(2)).allowed
    assert admit(j, dataclasses.replace(previous, entries=2), at(2)) == Admission(False, "max_entries")  # fmt: skip


def test_the_daily_entry_cap_refuses_once_reached() -> None:
    j = journey(caps={"entries_per_day": 100})
    assert admit(j, None, at(), JourneyCounts(entered_today=99)).allowed
    assert admit(j, None, at(), JourneyCounts(entered_today=100)) == Admission(False, "entries_per_day")  # fmt: skip


def test_the_cap_on_customers_in_the_journey_refuses_once_reached() -> None:
    j = journey(caps={"in_journey": 5})
    assert admit(j, None, at(), JourneyCounts(in_journey=5)) == Admission(False, "in_journey_cap")


def test_without_counts_the_caps_are_not_checked() -> None:
    j = journey(caps={"entries_per_day": 1, "in_journey": 1})
    assert admit(j, None, at()).allowed


def test_the_day_of_the_daily_cap_starts_at_midnight_utc() -> None:
    evening = dt.datetime(2026, 3, 2, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert day_start(evening) == dt.datetime(2026, 3, 3, 0, 0, tzinfo=dt.UTC)
