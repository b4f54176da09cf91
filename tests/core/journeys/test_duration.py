"""Durations are text: whole numbers with units d, h, m, s, largest first."""

from __future__ import annotations

import datetime as dt

import pytest

from nextoffer.core.journeys import JourneyError, compile_journey, format_duration, parse_duration

from .conftest import DONE, small


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7d", dt.timedelta(days=7)),
        ("12h", dt.timedelta(hours=12)),
        ("1d12h", dt.timedelta(days=1, hours=12)),
        ("90m", dt.timedelta(minutes=90)),
        ("45s", dt.timedelta(seconds=45)),
        ("2d3h4m5s", dt.timedelta(days=2, hours=3, minutes=4, seconds=5)),
    ],
)
def test_a_duration_is_read_from_its_text(text: str, value: dt.timedelta) -> None:
    assert parse_duration(text) == value


@pytest.mark.parametrize(("text", "canonical"), [("36h", "1d12h"), ("90m", "1h30m"),
                                                 ("7d", "7d"), ("3600s", "1h")])  # fmt: skip
def test_a_duration_is_written_back_largest_units_first(text: str, canonical: str) -> None:
    assert format_duration(parse_duration(text)) == canonical


@pytest.mark.parametrize("text", ["7", "d", "7 d", "1h1d", "-1d", "1.5d", "P7D", "7days", ""])
def test_text_in_another_form_is_refused_with_the_form_to_use(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration: write a duration like '7d'"):
        parse_duration(text)


def test_a_duration_must_be_longer_than_zero() -> None:
    with pytest.raises(ValueError, match="a duration must be longer than zero"):
        parse_duration("0d")


def test_a_duration_must_be_at_most_ten_years() -> None:
    with pytest.raises(ValueError, match=r"a duration must be at most 3650d \(ten years\)"):
        parse_duration("3651d")


def test_a_definitions_bad_duration_names_its_field() -> None:
    with pytest.raises(JourneyError) as caught:
        compile_journey(small([DONE], max_duration="a week"))
    assert caught.value.field == "max_duration"
    assert caught.value.message == (
        "'a week' is not a duration: write a duration like '7d', '12h', '1d12h' or '90m' "
        "(units d, h, m, s)"
    )


def test_a_number_is_not_a_duration_in_a_definition() -> None:
    with pytest.raises(JourneyError) as caught:
        compile_journey(small([DONE], max_duration=604800))
    assert (caught.value.field, caught.value.message) == (
        "max_duration",
        "expected a duration as text: write a duration like '7d', '12h', '1d12h' or '90m' "
        "(units d, h, m, s)",
    )


def test_a_definition_writes_its_durations_back_as_text() -> None:
    spec = compile_journey(small([DONE], max_duration="36h")).spec
    assert spec.model_dump(mode="json")["max_duration"] == "1d12h"
