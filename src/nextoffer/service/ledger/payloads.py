"""What an event's payload may hold: only the fields its type declares, each typed.

The ledger is append-only, so a payload field that could carry a name or an e-mail address
would keep it for ever. A payload therefore holds no free-form data: every field is declared
by the event type, with one of the customer schema's types (``string``, ``int``, ``float``,
``bool``, ``date``, ``list[string]``, checked as customer attributes are) or ``identifier``
/ ``list[identifier]`` (letters, digits and ``_ . : -``: skus, order numbers). An
undeclared field is refused (422, naming ``payload.<field>``).

Built-in types declare theirs in ``event_types.py``: ``convert`` has ``items`` (the skus of
a checkout: one basket for mining); the others declare nothing. A custom outcome type declares its own fields when
it is registered (``{"name": "refund", "classification": "negative",
"payload": {"reason_code": "identifier"}}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from ...core.request import IDENTIFIER
from ...core.rules.attributes import CHECKS, MAX_LIST, Problem
from .event_types import EVENT_TYPES

__all__ = ["BUILTIN_PAYLOADS", "PayloadFields", "PayloadType", "payload_problems"]

PayloadType = Literal[
    "string", "int", "float", "bool", "date", "list[string]", "identifier", "list[identifier]"
]
PayloadFields = Annotated[
    dict[
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")],
        PayloadType,
    ],
    Field(max_length=50),
]

BUILTIN_PAYLOADS: dict[str, dict[str, str]] = {n: t.payload for n, t in EVENT_TYPES.items()}

_IDENTIFIER = re.compile(IDENTIFIER)


def _identifier(value: Any) -> str | None:
    if not isinstance(value, str) or not 1 <= len(value) <= 200 or not _IDENTIFIER.match(value):
        return f"expected an identifier (letters, digits, _ . : -; 1 to 200), got {value!r:.60}"
    return None


def _identifiers(value: Any) -> str | None:
    if not isinstance(value, list):
        return f"expected a list of identifiers, got {type(value).__name__}"
    if len(value) > MAX_LIST:
        return f"at most {MAX_LIST} identifiers, got {len(value)}"
    for i, item in enumerate(value):
        problem = _identifier(item)
        if problem is not None:
            return f"[{i}]: {problem}"
    return None


_CHECKS = {**CHECKS, "identifier": _identifier, "list[identifier]": _identifiers}


def payload_problems(
    event_type: str, payload: Mapping[str, Any], custom: Mapping[str, Mapping[str, str]]
) -> list[Problem]:
    """Every problem with ``payload`` for ``event_type`` (``custom``: the registered types'
    declared fields), each named ``payload.<field>``."""
    if not payload:
        return []
    builtin = BUILTIN_PAYLOADS.get(event_type)
    declared: Mapping[str, str] = builtin if builtin is not None else custom.get(event_type, {})
    out: list[Problem] = []
    for name, value in payload.items():
        kind = declared.get(name)
        if kind is None:
            known = ", ".join(sorted(declared)) or "none"
            out.append((f"payload.{name}",
                        f"not a payload field of {event_type!r} events (declared: {known})"))  # fmt: skip
            continue
        if value is not None:
            problem = _CHECKS[kind](value)
            if problem is not None:
                out.append((f"payload.{name}", problem))
    return out
