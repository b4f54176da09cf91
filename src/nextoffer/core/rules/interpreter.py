"""The reference interpreter: the plain meaning of every node, walked one at a time.

It is the specification the compiler is tested against, not the fast path.

**Missing values.** A name that is absent from the context (or null) is *missing*. Every
operator with a missing operand gives *unknown*, and ``and``, ``or`` and ``not`` follow
three-valued (Kleene) logic: ``false and unknown`` is false, ``true or unknown`` is true,
``not unknown`` is unknown. ``exists`` is never unknown. A condition holds only when it is
*true*: unknown counts as not matching. So ``not (x == 1)`` and ``x != 1`` agree, and both
are unknown (not matching) when ``x`` is missing.

Quantifiers: ``any`` is true if some item gives true, ``all`` is true if every item does
(so ``all`` over an empty cart is true), and ``count(...)`` counts the items that give true.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from .nodes import (
    Between,
    Call,
    Compare,
    Condition,
    Constant,
    Contains,
    Count,
    DateLiteral,
    Exists,
    In,
    ListLiteral,
    Logic,
    Name,
    Not,
    Quantifier,
    StartsWith,
)

__all__ = ["COMPARE", "interpret", "kleene_and", "kleene_or"]

COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def kleene_and(values: list[bool | None]) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def kleene_or(values: list[bool | None]) -> bool | None:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def interpret(node: Condition, ctx: Mapping[str, Any], env: Mapping[str, Any] | None = None) -> Any:
    """Evaluate ``node``: a value, or True / False / None (unknown) for a condition."""
    env = env or {}

    def ev(n: Condition) -> Any:
        return interpret(n, ctx, env)

    if isinstance(node, Constant | DateLiteral):
        return node.value
    if isinstance(node, ListLiteral):
        return node.values
    if isinstance(node, Name):
        head, _, rest = node.path.partition(".")
        if head in env:
            return env[head].get(rest) if rest else env[head]
        return ctx.get(node.path)
    if isinstance(node, Logic):
        values = [ev(o) for o in node.operands]
        return kleene_and(values) if node.kind == "and" else kleene_or(values)
    if isinstance(node, Not):
        value = ev(node.operand)
        return None if value is None else not value
    if isinstance(node, Exists):
        return ev(node.subject) is not None
    if isinstance(node, Compare):
        left, right = ev(node.left), ev(node.right)
        if left is None or right is None:
            return None
        return COMPARE[node.op](left, right)
    if isinstance(node, In):
        element, container = ev(node.element), ev(node.container)
        if element is None or container is None:
            return None
        return any(element == member for member in container)
    if isinstance(node, Between):
        value, low, high = ev(node.value), ev(node.low), ev(node.high)
        if value is None or low is None or high is None:
            return None
        return bool(low <= value <= high)
    if isinstance(node, Contains):
        subject, value = ev(node.subject), ev(node.value)
        if subject is None or value is None:
            return None
        if isinstance(subject, str):
            return value in subject
        return any(value == member for member in subject)
    if isinstance(node, StartsWith):
        subject, value = ev(node.subject), ev(node.value)
        if subject is None or value is None:
            return None
        return bool(subject.startswith(value))
    if isinstance(node, Quantifier | Count):
        items = ev(node.collection)
        if items is None:
            return None
        results = [interpret(node.condition, ctx, {**env, node.var: item}) for item in items]
        if isinstance(node, Count):
            return sum(1 for r in results if r is True)
        return kleene_or(results) if node.kind == "any" else kleene_and(results)
    if isinstance(node, Call):
        args = [ev(a) for a in node.args]
        if any(a is None for a in args):
            return None
        if node.function == "cart.has_sku":
            skus = ctx.get("cart.skus")
            return None if skus is None else args[0] in skus
        if node.function == "cart.has_category":
            categories = ctx.get("cart.categories")
            return None if categories is None else args[0] in categories
        raise ValueError(f"unknown function {node.function!r}")
    raise AssertionError(f"unknown node {node!r}")  # pragma: no cover
