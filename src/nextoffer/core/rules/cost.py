"""A static bound on the work a condition can do, checked when it is written.

A quantifier (``any``, ``all``, ``count``) over ``cart.items`` evaluates its body once per
item, so nesting multiplies: ``count(a in cart.items: count(b in cart.items: ...))`` does
n² steps on an n-item cart. Requests carry at most ``Limits.max_cart_items`` items, so the
worst case of every condition is known before it runs:

    cost(leaf)               = 1
    cost(node)               = 1 + the cost of its children
    cost(quantifier or count) = 1 + cost(collection) + max_cart_items × cost(body)

A condition is refused when quantifiers are nested deeper than ``max_quantifier_depth`` or
when its cost exceeds ``max_cost``; the error points at the quantifier that does the work.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import Diagnostic, Span
from .limits import Limits
from .nodes import (
    Between,
    Call,
    Compare,
    Condition,
    Contains,
    Count,
    Exists,
    In,
    Logic,
    Not,
    Quantifier,
    StartsWith,
)

__all__ = ["check_cost", "condition_cost"]


def _children(node: Condition) -> tuple[tuple[Condition, str], ...]:
    if isinstance(node, Logic):
        return tuple((o, f"operands[{i}]") for i, o in enumerate(node.operands))
    if isinstance(node, Not):
        return ((node.operand, "operand"),)
    if isinstance(node, Compare):
        return ((node.left, "left"), (node.right, "right"))
    if isinstance(node, In):
        return ((node.element, "element"), (node.container, "container"))
    if isinstance(node, Between):
        return ((node.value, "value"), (node.low, "low"), (node.high, "high"))
    if isinstance(node, Contains | StartsWith):
        return ((node.subject, "subject"), (node.value, "value"))
    if isinstance(node, Exists):
        return ((node.subject, "subject"),)
    if isinstance(node, Call):
        return tuple((a, f"args[{i}]") for i, a in enumerate(node.args))
    return ()


def _word(node: Quantifier | Count) -> str:
    return "count" if isinstance(node, Count) else node.kind


class _Cost:
    def __init__(
        self, limits: Limits, source: str | None, span_of: Callable[[object], Span | None]
    ) -> None:
        self.limits = limits
        self.source = source
        self.span_of = span_of
        self.errors: list[Diagnostic] = []
        # the outermost quantifiers whose own cost is over the budget, with their paths
        self.costly: list[tuple[Quantifier | Count, str, int, bool]] = []

    def error(self, node: Condition, path: str, message: str) -> None:
        self.errors.append(Diagnostic(message, path, self.span_of(node), self.source))

    def visit(self, node: Condition, path: str, depth: int) -> tuple[int, bool]:
        """The worst-case cost of ``node``, and whether it holds a quantifier."""
        if isinstance(node, Quantifier | Count):
            depth += 1
            if depth == self.limits.max_quantifier_depth + 1:
                self.error(
                    node,
                    path,
                    f"quantifiers are nested more than {self.limits.max_quantifier_depth} deep"
                    f" ('{_word(node)}' inside another); each level multiplies the work by"
                    " the number of cart items",
                )
            body, nested = self.visit(node.condition, f"{path}.condition", depth)
            cost = 2 + self.limits.max_cart_items * body
            if cost > self.limits.max_cost:
                # the body was visited first: an outer quantifier replaces the inner ones
                inner = (path + ".", path + "[")
                self.costly = [c for c in self.costly if not c[1].startswith(inner)]
                self.costly.append((node, path, cost, nested))
            return cost, True
        cost, nested = 1, False
        for child, key in _children(node):
            child_cost, child_nested = self.visit(child, f"{path}.{key}", depth)
            cost += child_cost
            nested = nested or child_nested
        return cost, nested


def condition_cost(node: Condition, limits: Limits) -> int:
    """The worst-case number of steps ``node`` takes on a cart of ``limits.max_cart_items``."""
    return _Cost(limits, None, lambda _: None).visit(node, "$", 0)[0]


def check_cost(
    node: Condition,
    limits: Limits,
    *,
    source: str | None = None,
    span_of: Callable[[object], Span | None] = lambda _: None,
) -> list[Diagnostic]:
    """Every problem with the work ``node`` can do: too deeply nested quantifiers, and a
    worst-case cost over ``limits.max_cost``. An empty list when it is within bounds."""
    walk = _Cost(limits, source, span_of)
    total, _ = walk.visit(node, "$", 0)
    if total > limits.max_cost:
        n, budget = limits.max_cart_items, limits.max_cost
        for quantifier, path, cost, nested in walk.costly:
            why = "; nested quantifiers multiply their work" if nested else ""
            walk.error(
                quantifier,
                path,
                f"'{_word(quantifier)}' may take up to {cost:,} steps on a cart of {n:,} items"
                f" (the most a request may carry), more than the limit of {budget:,}{why}",
            )
        if not walk.costly:
            walk.error(
                node,
                "$",
                f"the condition may take up to {total:,} steps on a cart of {n:,} items"
                f" (the most a request may carry), more than the limit of {budget:,}",
            )
    return walk.errors
