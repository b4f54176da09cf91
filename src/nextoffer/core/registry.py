"""Registries: the extension points of the core (contact-policy types, scoring strategies,
exploration kinds, journey step types, off-policy estimators).

A registry maps a name, as the snapshot's data spells it, to its entry. Looking up a name it
does not hold raises ``UnknownEntryError`` naming the field: nothing falls through to a
default. ``agree`` is called when the module that fills a registry is imported, with the
names the spec allows, so that the spec and the registry cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from .errors import NextofferError

__all__ = ["Registry", "UnknownEntryError"]

T = TypeVar("T")


class UnknownEntryError(NextofferError):
    """A name that no entry of a registry answers to (a contact-policy type, a scoring
    strategy, an off-policy estimator); raised when a policy or a channel naming it is
    compiled, or an estimate is asked of it."""


class Registry(Generic[T]):
    """Entries by name. ``what`` names the kind of entry and ``field`` the field that holds
    the name, in the errors (``type: unknown contact-policy type 'quiet_hours' (known: …)``)."""

    __slots__ = ("_entries", "field", "what")

    def __init__(self, what: str, field: str, entries: Iterable[tuple[str, T]]) -> None:
        self.what, self.field = what, field
        self._entries: dict[str, T] = {}
        for name, entry in entries:
            if name in self._entries:
                raise AssertionError(f"{what} {name!r} is registered twice")
            self._entries[name] = entry

    def __getitem__(self, name: str) -> T:
        entry = self._entries.get(name)
        if entry is None:
            known = ", ".join(sorted(self._entries))
            raise UnknownEntryError(self.field, f"unknown {self.what} {name!r} (known: {known})")
        return entry

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def agree(self, allowed: Iterable[str]) -> None:
        """Raise ``AssertionError`` unless the names the spec allows are exactly the names
        registered (called at import time: a mismatch is a defect of the code, not input)."""
        allowed = set(allowed)
        missing, extra = sorted(allowed - set(self)), sorted(set(self) - allowed)
        if missing or extra:
            raise AssertionError(
                f"the spec's {self.what}s and the registry disagree: "
                f"allowed but not registered {missing}, registered but not allowed {extra}"
            )
