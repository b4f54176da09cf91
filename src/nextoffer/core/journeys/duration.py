"""Durations in journey definitions, written as text: ``"7d"``, ``"12h"``, ``"1d12h"``, ``"90m"``.

A duration is one or more whole numbers, each followed by its unit, largest unit first and
without spaces: ``d`` (days of 24 hours), ``h`` (hours), ``m`` (minutes), ``s`` (seconds).
It is longer than zero and at most ten years (``3650d``). A definition is written back in
the canonical form: the largest units first and zero parts left out, so ``"36h"`` reads back
as ``"1d12h"`` and ``"90m"`` as ``"1h30m"``.

    >>> parse_duration("1d12h")
    datetime.timedelta(days=1, seconds=43200)
    >>> format_duration(parse_duration("36h"))
    '1d12h'
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

__all__ = ["DURATION_PATTERN", "MAX_DURATION", "Duration", "format_duration", "parse_duration"]

DURATION_PATTERN = r"^(?=\d)(?:(\d{1,7})d)?(?:(\d{1,9})h)?(?:(\d{1,9})m)?(?:(\d{1,12})s)?$"
MAX_DURATION = dt.timedelta(days=3650)
_DURATION = re.compile(DURATION_PATTERN)
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_FORM = "write a duration like '7d', '12h', '1d12h' or '90m' (units d, h, m, s)"


def parse_duration(text: str) -> dt.timedelta:
    """The ``timedelta`` of a duration's text; ``ValueError`` saying the form otherwise."""
    found = _DURATION.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a duration: {_FORM}")
    seconds = sum(int(n) * size for n, (_, size) in zip(found.groups(), _UNITS, strict=True) if n)
    value = dt.timedelta(seconds=seconds)
    _check_range(value)
    return value


def format_duration(value: dt.timedelta) -> str:
    """The canonical text of a duration (whole seconds): ``1d12h``, ``90m`` → ``1h30m``."""
    rest = int(value.total_seconds())
    parts = []
    for unit, size in _UNITS:
        n, rest = divmod(rest, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts) or "0s"


def _check_range(value: dt.timedelta) -> None:
    if value <= dt.timedelta(0):
        raise ValueError("a duration must be longer than zero")
    if value > MAX_DURATION:
        raise ValueError("a duration must be at most 3650d (ten years)")
    if value.microseconds:
        raise ValueError("a duration is a whole number of seconds")


def _validate(value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        _check_range(value)
        return value
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f"expected a duration as text: {_FORM}")


Duration = Annotated[
    dt.timedelta,
    PlainValidator(_validate),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["7d", "1d12h"]}),
]
"""A duration field: text in the form above (or a ``timedelta`` from Python), longer than zero."""
