"""The request's time zone and times: refused with the field named, never an OSError or an
OverflowError from the conversions behind them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nextoffer.core.decision import Contact
from nextoffer.core.request import Request
from nextoffer.core.rules.context import build_context


@pytest.mark.parametrize(
    "zone", ["America", "x" * 300, "../../etc/passwd", "/etc/localtime", "", "Europe/", "a\x00b"]
)
def test_a_zone_not_in_the_time_zone_database_is_refused_by_name(zone: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Request.model_validate({"store": {"id": "S1", "timezone": zone}})
    [error] = caught.value.errors()
    assert error["loc"] == ("store", "timezone")
    assert "unknown IANA time zone" in error["msg"]


@pytest.mark.parametrize(
    "at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59+14:00",
           "1899-12-31T23:59:59Z", "3000-01-01T00:00:00Z"],
)  # fmt: skip
def test_a_time_beyond_the_range_is_refused_as_at(at: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Request.model_validate({"at": at})
    assert [e["loc"] for e in caught.value.errors()] == [("at",)]
    with pytest.raises(ValidationError):
        Contact.model_validate({"offer": "x", "at": at})


@settings(max_examples=300, derandomize=True, database=None)
@given(
    moment=st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(2999, 12, 30)),
    offset=st.integers(-14 * 60, 14 * 60),
    zone=st.sampled_from(sorted(available_timezones())),
)
def test_every_time_taken_can_be_read_in_every_zone(
    moment: dt.datetime, offset: int, zone: str
) -> None:
    at = moment.replace(tzinfo=dt.timezone(dt.timedelta(minutes=offset))).isoformat()
    request = Request.model_validate({"at": at, "store": {"id": "S", "timezone": zone}})
    context = build_context(request)
    assert 0 <= context["local_time.hour"] <= 23
