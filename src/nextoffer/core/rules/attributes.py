"""A customer's attributes checked against the declared customer schema, every problem at once.

``AttributeCheck`` is compiled once per schema (so once per snapshot: ``CustomerSchema.check``)
into a table of small per-type checks; checking a request's attributes is then one dict
lookup and one call per attribute, with no Pydantic model built.

What an attribute may hold, by declared type:

- ``string``: text of at most ``MAX_TEXT`` characters, without NUL;
- ``int``: a whole number (not a boolean) of magnitude at most ``MAX_NUMBER`` (10^15: exact
  as a JSON number and as a float, so every database and every model reads it the same);
- ``float``: a finite number of magnitude at most ``MAX_NUMBER``;
- ``bool``: ``true`` or ``false`` (not ``"yes"``, not 0/1);
- ``date``: an ISO date ``YYYY-MM-DD``;
- ``list[string]``: at most ``MAX_LIST`` strings, each as a ``string``.

``null`` is always allowed and means missing. An attribute the schema does not declare is
refused; so is a *personal* one where personal data may not go (a decision request, which
is written to the ledger).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "CHECKS",
    "MAX_LIST",
    "MAX_NUMBER",
    "MAX_TEXT",
    "AttributeCheck",
    "Problem",
    "check_value",
]

MAX_TEXT = 1_000
MAX_LIST = 1_000
MAX_NUMBER = 10**15

Problem = tuple[str, str]  # (field, message)
Check = Callable[[Any], str | None]  # the problem with a value, or None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}… ({len(text)} characters)"


def _digits(value: int) -> int:
    """About how many decimal digits (str() of a huge int is refused beyond 4,300)."""
    return int(abs(value).bit_length() * math.log10(2)) + 1


def _got(kind: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**60:
        return f"expected {kind}, got an integer of {_digits(value)} digits"
    return f"expected {kind}, got {type(value).__name__} {_shown(value)}"


def _string(value: Any) -> str | None:
    if not isinstance(value, str):
        return _got("string", value)
    if len(value) > MAX_TEXT:
        return f"at most {MAX_TEXT} characters, got {len(value)}"
    if "\x00" in value:
        return "contains a NUL character"
    return None


def _number(kind: str, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _got(kind, value)
    if kind == "int" and not isinstance(value, int):
        return _got("int (a whole number)", value)
    if isinstance(value, float) and not math.isfinite(value):
        return f"expected a finite {kind}, got {value!r}"
    if abs(value) > MAX_NUMBER:
        if isinstance(value, int) and abs(value) > 10**60:
            return f"at most 10^15 in magnitude, got an integer of {_digits(value)} digits"
        return f"at most 10^15 in magnitude, got {_shown(value)}"
    return None


def _int(value: Any) -> str | None:
    return _number("int", value)


def _float(value: Any) -> str | None:
    return _number("float", value)


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else _got("bool (true or false)", value)


def _date(value: Any) -> str | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return None
    if isinstance(value, str) and len(value) == 10:
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return None
    return _got("date (YYYY-MM-DD)", value)


def _strings(value: Any) -> str | None:
    if not isinstance(value, list | tuple):
        return _got("list[string]", value)
    if len(value) > MAX_LIST:
        return f"at most {MAX_LIST} strings, got {len(value)}"
    for i, item in enumerate(value):
        problem = _string(item)
        if problem is not None:
            return f"[{i}]: {problem}"
    return None


CHECKS: dict[str, Check] = {
    "string": _string,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "date": _date,
    "list[string]": _strings,
}


def check_value(kind: str, value: Any) -> str | None:
    """The problem with ``value`` as the declared type ``kind`` (None: it fits, or is null)."""
    return None if value is None else CHECKS[kind](value)


class AttributeCheck:
    """The checks of one customer schema: ``attributes`` (usable by conditions and models,
    kept with decisions) and ``personal`` ones (kept only with the personal data)."""

    __slots__ = ("_checks", "_known", "_personal")

    def __init__(self, attributes: Mapping[str, str], personal: Mapping[str, str]) -> None:
        self._checks = {name: CHECKS[kind] for name, kind in attributes.items()}
        self._personal = {name: CHECKS[kind] for name, kind in personal.items()}
        self._known = ", ".join(sorted(attributes)) or "none declared"

    def problems(
        self, attributes: Mapping[str, Any], prefix: str, *, personal: bool = False
    ) -> list[Problem]:
        """Every problem with ``attributes``, each named ``{prefix}.{name}``. Personal
        attributes are allowed only when ``personal`` (they go to the personal data)."""
        out: list[Problem] = []
        for name, value in attributes.items():
            check = self._checks.get(name)
            if check is None:
                check = self._personal.get(name) if personal else None
                if check is None:
                    out.append((f"{prefix}.{name}", self._undeclared(name)))
                    continue
            if value is not None:
                problem = check(value)
                if problem is not None:
                    out.append((f"{prefix}.{name}", problem))
        return out

    def is_personal(self, name: str) -> bool:
        return name in self._personal

    def _undeclared(self, name: str) -> str:
        if name in self._personal:
            return (
                "is a personal attribute: it is kept only with the customer's personal data "
                "(PUT /v1/customers/{id}), never with a decision"
            )
        return f"not in the customer schema (declared: {self._known})"
