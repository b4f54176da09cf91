"""Type check a condition before anything runs.

Every problem is reported, not only the first: unknown names (with a "did you mean"),
operands of the wrong type, operators that do not fit, a condition that is not boolean.
Each diagnostic names the JSON path of its node and, for text, the line and column.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from .errors import Diagnostic, RuleTypeError, Span
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
from .types import ANY, BOOL, DATE, FLOAT, INT, ITEM, ITEMS, STRING, Scope, Type, list_of

__all__ = ["TypeInfo", "check"]

TypeInfo = dict[int, Type]
"""The type of every node, keyed by ``id(node)``."""


def _scalar_type(value: object) -> Type:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    return STRING


class _Checker:
    def __init__(
        self, scope: Scope, source: str | None, span_of: Callable[[object], Span | None]
    ) -> None:
        self.scope = scope
        self.source = source
        self.span_of = span_of
        self.errors: list[Diagnostic] = []
        self.types: TypeInfo = {}
        self.vars: dict[str, Type] = {}

    def error(self, node: Condition, path: str, message: str) -> Type | None:
        self.errors.append(Diagnostic(message, path, self.span_of(node), self.source))
        return None

    def visit(self, node: Condition, path: str) -> Type | None:
        result = self._visit(node, path)
        if result is not None:
            self.types[id(node)] = result
        return result

    def expect_bool(self, node: Condition, path: str, role: str) -> None:
        kind = self.visit(node, path)
        if kind is not None and kind != BOOL:
            self.error(node, path, f"{role} must be a condition (bool), not {kind}")

    def _visit(self, node: Condition, path: str) -> Type | None:
        if isinstance(node, Constant):
            return _scalar_type(node.value)
        if isinstance(node, DateLiteral):
            return DATE
        if isinstance(node, ListLiteral):
            kinds = {_scalar_type(v) for v in node.values}
            if not kinds:
                return list_of(ANY)
            if kinds == {INT, FLOAT}:
                return list_of(FLOAT)
            if len(kinds) > 1:
                names = ", ".join(sorted(str(k) for k in kinds))
                return self.error(node, path, f"a list must hold one type, found {names}")
            return list_of(kinds.pop())
        if isinstance(node, Name):
            return self.name(node, path)
        if isinstance(node, Logic):
            for i, operand in enumerate(node.operands):
                self.expect_bool(operand, f"{path}.operands[{i}]", f"each operand of '{node.kind}'")
            return BOOL
        if isinstance(node, Not):
            self.expect_bool(node.operand, f"{path}.operand", "the operand of 'not'")
            return BOOL
        if isinstance(node, Compare):
            return self.compare(node, path)
        if isinstance(node, In):
            return self.membership(node, path)
        if isinstance(node, Between):
            value = self.visit(node.value, f"{path}.value")
            low = self.visit(node.low, f"{path}.low")
            high = self.visit(node.high, f"{path}.high")
            for sub, kind, where in ((node.value, value, "value"), (node.low, low, "low"),
                                     (node.high, high, "high")):  # fmt: skip
                if kind is not None and not kind.is_ordered:
                    self.error(
                        sub, f"{path}.{where}", f"'between' needs numbers or dates, not {kind}"
                    )
                    return BOOL
            if (
                value
                and low
                and high
                and not (value.comparable_with(low) and value.comparable_with(high))
            ):
                self.error(
                    node, path, f"'between' bounds must match {value}, found {low} and {high}"
                )
            return BOOL
        if isinstance(node, Contains):
            subject = self.visit(node.subject, f"{path}.subject")
            value = self.visit(node.value, f"{path}.value")
            if (
                subject is not None
                and subject != STRING
                and subject not in (list_of(STRING), list_of(ANY))
            ):
                self.error(node.subject, f"{path}.subject",
                           f"'contains' needs a string or a list of strings on its left, not {subject}")  # fmt: skip
            elif value is not None and value != STRING:
                self.error(
                    node.value,
                    f"{path}.value",
                    f"'contains' needs a string on its right, not {value}",
                )
            return BOOL
        if isinstance(node, StartsWith):
            subject = self.visit(node.subject, f"{path}.subject")
            value = self.visit(node.value, f"{path}.value")
            for sub, kind, where in (
                (node.subject, subject, "subject"),
                (node.value, value, "value"),
            ):
                if kind is not None and kind != STRING:
                    self.error(sub, f"{path}.{where}", f"'starts_with' needs strings, not {kind}")
            return BOOL
        if isinstance(node, Exists):
            self.visit(node.subject, f"{path}.subject")
            return BOOL
        if isinstance(node, Quantifier | Count):
            return self.quantifier(node, path)
        if isinstance(node, Call):
            return self.call(node, path)
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover

    def name(self, node: Name, path: str) -> Type | None:
        head, _, rest = node.path.partition(".")
        if head in self.vars:
            if not rest:
                return self.vars[head]
            kind = self.scope.item_field(rest)
            if kind is None:
                return self.unknown(node, path, rest, self.scope.item_fields(), prefix=f"{head}.")
            return kind
        kind = self.scope.lookup(node.path)
        if kind is not None:
            return kind
        if node.path.startswith("offer.") and not self.scope.offer_names:
            return self.error(
                node, path, "'offer.*' names are only for offer conditions, not triggers"
            )
        if node.path.removeprefix("customer.") in self.scope.customer.personal:
            return self.error(
                node, path, f"'{node.path}' is a personal attribute: no condition reads it"
            )
        candidates = [*self.scope.names, *self.vars]
        return self.unknown(node, path, node.path, candidates)

    def unknown(
        self, node: Name, path: str, name: str, candidates: list[str], prefix: str = ""
    ) -> Type | None:
        longer = sorted((c for c in candidates if c.startswith(name)), key=len)
        close = longer[:1] or difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
        if not close and "." in name:
            tail = name.rsplit(".", 1)[-1].lower()
            close = [c for c in candidates if c.rsplit(".", 1)[-1].lower() == tail][:1]
        hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
        return self.error(node, path, f"unknown name '{prefix}{name}'{hint}")

    def compare(self, node: Compare, path: str) -> Type:
        left = self.visit(node.left, f"{path}.left")
        right = self.visit(node.right, f"{path}.right")
        if left is None or right is None:
            return BOOL
        if node.op in ("==", "!="):
            if left.is_list or right.is_list or ITEMS in (left, right) or ITEM in (left, right):
                self.error(node, path, f"'{node.op}' compares single values, not {left} and {right}"
                           + (" (use 'in' or 'contains')" if left.is_list or right.is_list else ""))  # fmt: skip
            elif not left.comparable_with(right):
                self.error(node, path, f"cannot compare {left} with {right}")
        elif not (left.is_ordered and right.is_ordered):
            bad, where, sub = (
                (left, "left", node.left) if not left.is_ordered else (right, "right", node.right)
            )
            self.error(sub, f"{path}.{where}", f"'{node.op}' needs numbers or dates, not {bad}")
        elif not left.comparable_with(right):
            self.error(node, path, f"cannot compare {left} with {right}")
        return BOOL

    def membership(self, node: In, path: str) -> Type:
        element = self.visit(node.element, f"{path}.element")
        container = self.visit(node.container, f"{path}.container")
        if container is not None and not container.is_list:
            hint = " (use 'contains' for text)" if container == STRING else ""
            self.error(
                node.container,
                f"{path}.container",
                f"'in' needs a list on its right, not {container}{hint}",
            )
        elif element is not None and container is not None:
            assert container.elem is not None
            if element.is_list or element in (ITEMS, ITEM):
                self.error(
                    node.element,
                    f"{path}.element",
                    f"'in' needs a single value on its left, not {element}",
                )
            elif not element.comparable_with(container.elem):
                self.error(node, path, f"cannot look for {element} in {container}")
        return BOOL

    def quantifier(self, node: Quantifier | Count, path: str) -> Type:
        collection = self.visit(node.collection, f"{path}.collection")
        what = "count" if isinstance(node, Count) else node.kind
        if collection is not None and collection != ITEMS:
            self.error(
                node.collection,
                f"{path}.collection",
                f"'{what}' ranges over cart.items, not {collection}",
            )
        if node.var in self.vars or self.scope.lookup(node.var) is not None or node.var in (
            "customer", "cart", "store", "local_time", "offer",
        ) or any(name.startswith(f"{node.var}.") for name in self.scope.extra):  # fmt: skip
            self.error(node, path, f"variable '{node.var}' hides another name; choose another")
        saved = dict(self.vars)
        self.vars[node.var] = ITEM
        try:
            self.expect_bool(node.condition, f"{path}.condition", f"the condition of '{what}'")
        finally:
            self.vars = saved
        return INT if isinstance(node, Count) else BOOL

    def call(self, node: Call, path: str) -> Type | None:
        fn = self.scope.function(node.function)
        if fn is None:
            close = difflib.get_close_matches(node.function, self.scope.known_functions(), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            return self.error(node, path, f"unknown function '{node.function}'{hint}")
        if len(node.args) != len(fn.params):
            return self.error(
                node, path, f"{fn.name}() takes {len(fn.params)} argument(s), got {len(node.args)}"
            )
        for i, (arg, param) in enumerate(zip(node.args, fn.params, strict=True)):
            kind = self.visit(arg, f"{path}.args[{i}]")
            if kind is not None and not kind.comparable_with(param):
                self.error(
                    arg, f"{path}.args[{i}]", f"{fn.name}() needs a {param} argument, not {kind}"
                )
        return fn.result


def check(
    node: Condition,
    scope: Scope,
    *,
    source: str | None = None,
    span_of: Callable[[object], Span | None] = lambda _: None,
) -> TypeInfo:
    """Check ``node`` against ``scope``; return every node's type or raise ``RuleTypeError``."""
    checker = _Checker(scope, source, span_of)
    kind = checker.visit(node, "$")
    if kind is not None and kind != BOOL:
        checker.error(node, "$", f"a condition must be true or false, but this is {kind}")
    if checker.errors:
        raise RuleTypeError(checker.errors)
    return checker.types
