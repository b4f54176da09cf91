"""Limits that make hostile conditions harmless."""

from __future__ import annotations

from dataclasses import dataclass

from ..request import MAX_CART_ITEMS

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Largest condition accepted. Size is checked while parsing text and before validating
    JSON; the work it may do (quantifier nesting, worst-case cost) when it is checked."""

    max_text_length: int = 10_000
    max_depth: int = 32
    max_nodes: int = 1_000
    max_list_length: int = 1_000
    # the work a condition may do (see ``cost.py``): quantifiers over cart.items nested at
    # most this deep, and at most ``max_cost`` steps on the largest cart a request may carry
    max_quantifier_depth: int = 2
    max_cart_items: int = MAX_CART_ITEMS
    max_cost: int = 20_000


DEFAULT_LIMITS = Limits()
