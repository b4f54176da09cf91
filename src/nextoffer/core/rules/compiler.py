"""Compile a checked AST into nested closures: evaluation is then a plain call.

Decisions are made once, at compile time: each node picks its operator, the common shapes
(``name op constant``, ``name in [constants]``, ``"x" in name``, ``name between a and b``)
get a closure of their own that reads the context once, constant lists become frozensets,
and subtrees that read no name are folded into their value. The meaning is exactly the
reference interpreter's (see ``interpreter.py``), which property tests check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .interpreter import COMPARE, interpret
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

__all__ = ["Evaluator", "compile_ast", "is_constant", "items_by"]

Evaluator = Callable[[dict[str, Any]], Any]
"""A compiled condition: takes the context, returns True, False or None (unknown)."""


_LEAVES: dict[type, bool] = {
    Constant: True,
    ListLiteral: True,
    DateLiteral: True,
    Name: False,
    Call: False,
    Count: False,
    Quantifier: False,
    Exists: False,
}
_CHILDREN: dict[type, Callable[[Any], tuple[Condition, ...]]] = {
    Logic: lambda n: n.operands,
    Not: lambda n: (n.operand,),
    Compare: lambda n: (n.left, n.right),
    In: lambda n: (n.element, n.container),
    Between: lambda n: (n.value, n.low, n.high),
    Contains: lambda n: (n.subject, n.value),
    StartsWith: lambda n: (n.subject, n.value),
}


def is_constant(node: Condition, memo: dict[int, bool] | None = None) -> bool:
    """True when ``node`` reads no name, so its value is known at compile time."""
    leaf = _LEAVES.get(type(node))
    if leaf is not None:
        return leaf
    if memo is not None:
        known = memo.get(id(node))
        if known is not None:
            return known
    result = True
    for child in _CHILDREN[type(node)](node):
        if not is_constant(child, memo):
            result = False
            break
    if memo is not None:
        memo[id(node)] = result
    return result


def _constant(value: Any) -> Evaluator:
    def const(c: dict[str, Any]) -> Any:
        return value

    return const


def _compare_name_const(key: str, op: str, k: Any) -> Evaluator:
    # One closure per operator: no operator-function call on the hot path.
    if op == "==":

        def f(c: dict[str, Any]) -> Any:
            v = c.get(key)
            return None if v is None else v == k
    elif op == "!=":

        def f(c: dict[str, Any]) -> Any:
            v = c.get(key)
            return None if v is None else v != k
    elif op == "<":

        def f(c: dict[str, Any]) -> Any:
            v = c.get(key)
            return None if v is None else v < k
    elif op == "<=":

        def f(c: dict[str, Any]) -> Any:
            v = c.get(key)
            return None if v is None else v <= k
    elif op == ">":

        def f(c: dict[str, Any]) -> Any:
            v = c.get(key)
            return None if v is None else v > k
    else:

        def f(c: dict[str, Any]) -> Any:
            v = c.get(key)
            return None if v is None else v >= k

    return f


def _reader(node: Name, bound: frozenset[str]) -> Evaluator:
    head, _, rest = node.path.partition(".")
    if head in bound:
        if not rest:
            return lambda c: c[head]
        return lambda c: c[head].get(rest)
    key = node.path
    return lambda c: c.get(key)


class _Compiler:
    def __init__(self) -> None:
        self.bound: frozenset[str] = frozenset()
        self.memo: dict[int, bool] = {}

    def constant(self, node: Condition) -> bool:
        return is_constant(node, self.memo)

    def plain_name(self, node: Condition) -> str | None:
        """The context key of a top-level name (not a quantifier variable), else None."""
        if isinstance(node, Name) and node.path.partition(".")[0] not in self.bound:
            return node.path
        return None

    def compile(self, node: Condition) -> Evaluator:
        if self.constant(node):
            return _constant(interpret(node, {}))
        if isinstance(node, Name):
            return _reader(node, self.bound)
        if isinstance(node, Logic):
            return self.logic(node)
        if isinstance(node, Not):
            inner = self.compile(node.operand)

            def not_(c: dict[str, Any]) -> Any:
                v = inner(c)
                return None if v is None else not v

            return not_
        if isinstance(node, Exists):
            read = _reader(node.subject, self.bound)
            return lambda c: read(c) is not None
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, In):
            return self.membership(node)
        if isinstance(node, Between):
            return self.between(node)
        if isinstance(node, Contains):
            return self.contains(node)
        if isinstance(node, StartsWith):
            subject, value = self.compile(node.subject), self.compile(node.value)

            def starts_with(c: dict[str, Any]) -> Any:
                s, v = subject(c), value(c)
                return None if s is None or v is None else s.startswith(v)

            return starts_with
        if isinstance(node, Quantifier | Count):
            return self.quantifier(node)
        if isinstance(node, Call):
            return self.call(node)
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover

    def logic(self, node: Logic) -> Evaluator:
        parts = tuple(self.compile(o) for o in node.operands)
        if node.kind == "and":
            if len(parts) == 2:
                a, b = parts

                def and2(c: dict[str, Any]) -> Any:
                    x = a(c)
                    if x is False:
                        return False
                    y = b(c)
                    if y is False:
                        return False
                    return None if x is None or y is None else True

                return and2

            def and_(c: dict[str, Any]) -> Any:
                unknown = False
                for p in parts:
                    v = p(c)
                    if v is False:
                        return False
                    if v is None:
                        unknown = True
                return None if unknown else True

            return and_

        def or_(c: dict[str, Any]) -> Any:
            unknown = False
            for p in parts:
                v = p(c)
                if v is True:
                    return True
                if v is None:
                    unknown = True
            return None if unknown else False

        return or_

    def compare(self, node: Compare) -> Evaluator:
        key = self.plain_name(node.left)
        if key is not None and self.constant(node.right):
            return _compare_name_const(key, node.op, interpret(node.right, {}))
        op = COMPARE[node.op]
        if isinstance(node.left, Name) and self.constant(node.right):
            head, _, rest = node.left.path.partition(".")
            k = interpret(node.right, {})
            if head in self.bound and rest:

                def compare_item(c: dict[str, Any]) -> Any:
                    v = c[head].get(rest)
                    return None if v is None else op(v, k)

                return compare_item
        left, right = self.compile(node.left), self.compile(node.right)

        def compare(c: dict[str, Any]) -> Any:
            x, y = left(c), right(c)
            return None if x is None or y is None else op(x, y)

        return compare

    def membership(self, node: In) -> Evaluator:
        key = self.plain_name(node.element)
        if key is not None and isinstance(node.container, ListLiteral):
            members = frozenset(node.container.values)

            def in_list(c: dict[str, Any]) -> Any:
                v = c.get(key)
                return None if v is None else v in members

            return in_list
        if isinstance(node.container, ListLiteral):  # an item's field: still a set lookup
            listed = frozenset(node.container.values)
            value = self.compile(node.element)

            def in_listed(c: dict[str, Any]) -> Any:
                v = value(c)
                return None if v is None else v in listed

            return in_listed
        holder = self.plain_name(node.container)
        if holder is not None and self.constant(node.element):
            k = interpret(node.element, {})

            def const_in(c: dict[str, Any]) -> Any:
                v = c.get(holder)
                return None if v is None else k in v

            return const_in
        element, container = self.compile(node.element), self.compile(node.container)

        def in_(c: dict[str, Any]) -> Any:
            e, s = element(c), container(c)
            return None if e is None or s is None else e in s

        return in_

    def between(self, node: Between) -> Evaluator:
        key = self.plain_name(node.value)
        if key is not None and self.constant(node.low) and self.constant(node.high):
            lo, hi = interpret(node.low, {}), interpret(node.high, {})

            def between_const(c: dict[str, Any]) -> Any:
                v = c.get(key)
                return None if v is None else lo <= v <= hi

            return between_const
        value, low, high = self.compile(node.value), self.compile(node.low), self.compile(node.high)

        def between(c: dict[str, Any]) -> Any:
            v, lo_, hi_ = value(c), low(c), high(c)
            if v is None or lo_ is None or hi_ is None:
                return None
            return lo_ <= v <= hi_

        return between

    def contains(self, node: Contains) -> Evaluator:
        subject, value = self.compile(node.subject), self.compile(node.value)

        def contains(c: dict[str, Any]) -> Any:
            s, v = subject(c), value(c)
            return None if s is None or v is None else v in s

        return contains

    def quantifier(self, node: Quantifier | Count) -> Evaluator:
        collection = self.compile(node.collection)
        var = node.var
        saved = self.bound
        self.bound = saved | {var}
        try:
            body = self.compile(node.condition)
        finally:
            self.bound = saved

        if isinstance(node, Count):

            def count(c: dict[str, Any]) -> Any:
                items = collection(c)
                if items is None:
                    return None
                n = 0
                for item in items:
                    c[var] = item
                    if body(c) is True:
                        n += 1
                c.pop(var, None)
                return n

            return count

        if node.kind == "any":
            guarded = self.guarded_any(node, collection)
            if guarded is not None:
                return guarded
        want, other = (True, False) if node.kind == "any" else (False, True)

        def quantify(c: dict[str, Any]) -> Any:
            items = collection(c)
            if items is None:
                return None
            unknown = False
            try:
                for item in items:
                    c[var] = item
                    v = body(c)
                    if v is want:
                        return want
                    if v is None:
                        unknown = True
            finally:
                c.pop(var, None)
            return None if unknown else other

        return quantify

    def guarded_any(self, node: Quantifier, collection: Evaluator) -> Evaluator | None:
        """``any item in cart.items: item.F == K and rest``: test ``F`` inline, no call per item."""
        body = node.condition
        first, others = (
            (body.operands[0], body.operands[1:])
            if isinstance(body, Logic) and (body.kind == "and")
            else (body, ())
        )
        if not (
            isinstance(first, Compare)
            and first.op == "=="
            and isinstance(first.left, Name)
            and first.left.path.partition(".")[0] == node.var
            and first.left.path.partition(".")[2]
            and self.constant(first.right)
        ):
            return None
        field_name = first.left.path.partition(".")[2]
        k = interpret(first.right, {})
        var = node.var
        saved = self.bound
        self.bound = saved | {var}
        try:
            rest: Evaluator | None = None
            if len(others) == 1:
                rest = self.compile(others[0])
            elif others:
                rest = self.compile(Logic.model_construct(kind="and", operands=others))
        finally:
            self.bound = saved

        def scan(c: dict[str, Any], items: Iterable[dict[str, Any]]) -> Any:
            unknown = False
            try:
                for item in items:
                    v = item.get(field_name)
                    if v is not None and v != k:
                        continue  # this item's condition is false
                    if rest is None:
                        if v is None:
                            unknown = True
                            continue
                        return True
                    c[var] = item
                    r = rest(c)
                    if v is None:
                        if r is not False:
                            unknown = True  # unknown and (true or unknown) is unknown
                    elif r is True:
                        return True
                    elif r is None:
                        unknown = True
            finally:
                c.pop(var, None)
            return None if unknown else False

        if not (isinstance(node.collection, Name) and node.collection.path == "cart.items"):

            def any_guarded(c: dict[str, Any]) -> Any:
                items = collection(c)
                return None if items is None else scan(c, items)

            return any_guarded

        # Over the cart's items, group them by the field once per context: the items an ``any``
        # must look at are those whose field equals K or is missing (``v != k`` skips the rest).

        def any_grouped(c: dict[str, Any]) -> Any:
            groups = items_by(c, field_name)
            if groups is None:
                return None
            missing = groups.get(None)
            hits = groups.get(k)
            if missing is None:
                return False if hits is None else scan(c, hits)
            return scan(c, missing if hits is None else (*hits, *missing))

        return any_grouped

    def call(self, node: Call) -> Evaluator:
        key = {"cart.has_sku": "cart.skus", "cart.has_category": "cart.categories"}[node.function]
        if self.constant(node.args[0]):
            k = interpret(node.args[0], {})

            def has_const(c: dict[str, Any]) -> Any:
                s = c.get(key)
                return None if s is None else k in s

            return has_const
        arg = self.compile(node.args[0])

        def has(c: dict[str, Any]) -> Any:
            s, v = c.get(key), arg(c)
            return None if s is None or v is None else v in s

        return has


def items_by(c: dict[str, Any], field_name: str) -> dict[Any, list[dict[str, Any]]] | None:
    """The cart's items grouped by one field (missing values under None), cached in ``c``."""
    key = f"#cart.items by {field_name}"
    groups: dict[Any, list[dict[str, Any]]] | None = c.get(key)
    if groups is None:
        items = c.get("cart.items")
        if items is None:
            return None
        groups = c[key] = {}
        for item in items:
            groups.setdefault(item.get(field_name), []).append(item)
    return groups


def compile_ast(node: Condition) -> Evaluator:
    """Compile a type-checked ``node`` into an evaluator.

    The evaluator may write quantifier variables into the context while it runs (and
    removes them before returning), and caches the cart's items grouped by sku or category
    under keys starting with ``#`` (no rule name can), so give each thread its own context
    and build a new context when the request changes.
    """
    return _Compiler().compile(node)
