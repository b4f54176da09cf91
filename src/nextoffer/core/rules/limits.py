"""Limits that make hostile conditions harmless."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Largest condition accepted. Checked while parsing text and before validating JSON."""

    max_text_length: int = 10_000
    max_depth: int = 32
    max_nodes: int = 1_000
    max_list_length: int = 1_000


DEFAULT_LIMITS = Limits()
