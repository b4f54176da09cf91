"""The trigger index: find the rules a request can match without evaluating them all.

For each rule, ``requirement`` derives a set of *keys* ``(name, value)`` such that the rule
can only be true when the request has at least one of them: a sku or category in the cart
(``cart.has_sku("STEAK-01")``, ``any item in cart.items: item.category == "wine"``), or an
equality on a request name (``channel == "in_app"``, ``store.id in ["S1", "S2"]``,
``"VIP" in customer.segments``, ``not customer.hasCreditCard``), or a range on a name with
a small domain (``local_time.hour between 6 and 11`` becomes the hours 6 to 11). Of the keys an ``and``
offers, the most selective is kept (cart skus, then categories, then other names, then the
fewest values); an ``or`` needs a key from every branch. Rules without a requirement are
always checked. The index narrows; each candidate is still evaluated, so the answer is
exactly that of evaluating every rule.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from .interpreter import COMPARE, interpret
from .language import CompiledCondition
from .nodes import (
    Between,
    Call,
    Compare,
    Condition,
    Constant,
    Count,
    In,
    ListLiteral,
    Logic,
    Name,
    Not,
    Quantifier,
)

__all__ = ["Key", "TriggerIndex", "requirement"]

Key = tuple[str, Any]
R = TypeVar("R", bound=Hashable)

_CART_FIELDS = {"sku": "cart.skus", "category": "cart.categories"}
_CART_FUNCTIONS = {"cart.has_sku": "cart.skus", "cart.has_category": "cart.categories"}
# Names whose value the index reads from the context (scalars) or whose members it reads (lists).
_LIST_NAMES = frozenset({"cart.skus", "cart.categories", "customer.segments", "customer.holdings"})
# Names with a small known domain: a range test on them becomes a set of equality keys.
_DOMAINS: dict[str, range] = {"local_time.hour": range(24), "local_time.minute": range(60)}


def _rank(keys: frozenset[Key]) -> tuple[int, int]:
    names = {name for name, _ in keys}
    order = 0 if names == {"cart.skus"} else 1 if names <= {"cart.skus", "cart.categories"} else 2
    return order, len(keys)


def _pick(options: Iterable[frozenset[Key] | None]) -> frozenset[Key] | None:
    found = [o for o in options if o is not None]
    return min(found, key=_rank) if found else None


def _is_plain_const(node: Condition) -> bool:
    return isinstance(node, Constant) and isinstance(node.value, str | int | bool)


def requirement(node: Condition, var: str | None = None) -> frozenset[Key] | None:
    """Keys of which a request needs at least one for ``node`` to be true, or None.

    ``var`` is the item variable when ``node`` is the body of an ``any`` over cart items.
    """
    if isinstance(node, Logic):
        parts = [requirement(o, var) for o in node.operands]
        if node.kind == "and":
            return _pick(parts)
        if any(p is None for p in parts):
            return None
        return frozenset().union(*(p for p in parts if p is not None))
    if isinstance(node, Quantifier):
        if node.kind == "any" and node.collection.path == "cart.items":
            return requirement(node.condition, node.var)
        return None
    if isinstance(node, Compare) and node.op in (">=", ">") and isinstance(node.left, Count):
        # count(...) >= k with k >= 1, or count(...) > k with k >= 0: at least one item matches
        if (
            isinstance(node.left, Count)
            and node.left.collection.path == "cart.items"
            and isinstance(node.right, Constant)
            and isinstance(node.right.value, int | float)
            and not isinstance(node.right.value, bool)
            and (node.right.value >= 1 if node.op == ">=" else node.right.value >= 0)
        ):
            return requirement(node.left.condition, node.left.var)
        return None
    if (
        isinstance(node, Call)
        and node.function in _CART_FUNCTIONS
        and _is_plain_const(node.args[0])
    ):
        arg = node.args[0]
        assert isinstance(arg, Constant)
        return frozenset({(_CART_FUNCTIONS[node.function], arg.value)})
    return _name_key(node, var)


def _target(node: Condition, var: str | None) -> str | None:
    """The context name a predicate tests: an item field maps to the cart's distinct values."""
    if not isinstance(node, Name):
        return None
    head, _, rest = node.path.partition(".")
    if var is not None and head == var:
        return _CART_FIELDS.get(rest)
    return node.path


def _is_number(node: Condition) -> bool:
    return (
        isinstance(node, Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    )


def _range_key(node: Condition, var: str | None) -> frozenset[Key] | None:
    """``local_time.hour between 6 and 11`` → the keys (local_time.hour, 6) … (…, 11)."""
    if var is not None:
        return None
    if isinstance(node, Between) and isinstance(node.value, Name):
        domain = _DOMAINS.get(node.value.path)
        if domain is not None and _is_number(node.low) and _is_number(node.high):
            lo, hi = interpret(node.low, {}), interpret(node.high, {})
            return frozenset((node.value.path, v) for v in domain if lo <= v <= hi)
    if isinstance(node, Compare) and node.op in ("<", "<=", ">", ">="):
        for name_side, value_side, op in (
            (node.left, node.right, node.op),
            (node.right, node.left, _FLIPPED[node.op]),
        ):
            if isinstance(name_side, Name) and _is_number(value_side):
                domain = _DOMAINS.get(name_side.path)
                if domain is not None:
                    k, test = interpret(value_side, {}), COMPARE[op]
                    return frozenset((name_side.path, v) for v in domain if test(v, k))
    return None


_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _name_key(node: Condition, var: str | None) -> frozenset[Key] | None:
    ranged = _range_key(node, var)
    if ranged is not None:
        return ranged
    if isinstance(node, Compare) and node.op == "==":
        for name_side, value_side in ((node.left, node.right), (node.right, node.left)):
            target = _target(name_side, var)
            if target is not None and _is_plain_const(value_side):
                assert isinstance(value_side, Constant)
                return frozenset({(target, value_side.value)})
        return None
    if isinstance(node, In):
        target = _target(node.element, var)
        if target is not None and isinstance(node.container, ListLiteral):
            values = node.container.values
            if values and all(isinstance(v, str | int | bool) for v in values):
                return frozenset((target, v) for v in values)
        if (
            isinstance(node.container, Name)
            and node.container.path in _LIST_NAMES
            and var is None
            and _is_plain_const(node.element)
        ):
            return frozenset({(node.container.path, interpret(node.element, {}))})
        return None
    if var is None and isinstance(node, Name) and node.path not in _LIST_NAMES:
        return frozenset({(node.path, True)})  # a bool name used as a condition
    if var is None and isinstance(node, Not) and isinstance(node.operand, Name):
        return frozenset({(node.operand.path, False)})
    return None


class TriggerIndex(Generic[R]):
    """Rules by the keys they require; ``match(ctx)`` evaluates only the candidates."""

    def __init__(self, rules: Sequence[tuple[R, CompiledCondition]]) -> None:
        self._rules: list[R] = [rule for rule, _ in rules]
        self._evaluators = [condition.evaluator for _, condition in rules]
        self._postings: dict[str, dict[Any, list[int]]] = {}
        self._always: list[int] = []
        for order, (_, condition) in enumerate(rules):
            keys = requirement(condition.ast)
            if keys is None:
                self._always.append(order)
                continue
            for name, value in keys:
                self._postings.setdefault(name, {}).setdefault(value, []).append(order)
        self._names = tuple(self._postings.items())

    def __len__(self) -> int:
        return len(self._rules)

    @property
    def always_checked(self) -> int:
        """How many rules have no requirement and are evaluated for every request."""
        return len(self._always)

    def candidates(self, ctx: dict[str, Any]) -> list[int]:
        """Positions of the rules that may match, in rule order."""
        found: set[int] = set(self._always)
        for name, by_value in self._names:
            value = ctx.get(name)
            if value is None:
                continue
            if isinstance(value, frozenset):
                for member in value:
                    hits = by_value.get(member)
                    if hits:
                        found.update(hits)
            else:
                hits = by_value.get(value)
                if hits:
                    found.update(hits)
        return sorted(found)

    def match(self, ctx: dict[str, Any]) -> list[R]:
        """The rules whose trigger is true for ``ctx``, in the order they were given."""
        evaluators, rules = self._evaluators, self._rules
        return [rules[i] for i in self.candidates(ctx) if evaluators[i](ctx) is True]
