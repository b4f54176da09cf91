"""Print an AST back to the text form; ``parse_text(to_text(ast)).ast == ast``."""

from __future__ import annotations

import json

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
    Scalar,
    StartsWith,
)

__all__ = ["to_text"]

# Binding strength: a child weaker than its slot needs parentheses.
_OR, _AND, _NOT, _PREDICATE, _VALUE = 1, 2, 3, 4, 5


def _scalar(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _strength(node: Condition) -> int:
    if isinstance(node, Logic):
        return _OR if node.kind == "or" else _AND
    if isinstance(node, Quantifier):
        return 0
    if isinstance(node, Not):
        if isinstance(node.operand, Exists | In):
            return _PREDICATE
        return _NOT
    if isinstance(node, Compare | In | Between | Contains | StartsWith | Exists):
        return _PREDICATE
    return _VALUE


def _wrap(node: Condition, slot: int) -> str:
    text = to_text(node)
    return f"({text})" if _strength(node) < slot else text


def to_text(node: Condition) -> str:
    """The canonical text of ``node``."""
    if isinstance(node, Constant):
        return _scalar(node.value)
    if isinstance(node, ListLiteral):
        return "[" + ", ".join(_scalar(v) for v in node.values) + "]"
    if isinstance(node, DateLiteral):
        return f'date("{node.value.isoformat()}")'
    if isinstance(node, Name):
        return node.path
    if isinstance(node, Call):
        return f"{node.function}(" + ", ".join(_wrap(a, _VALUE) for a in node.args) + ")"
    if isinstance(node, Count):
        return f"count({node.var} in {node.collection.path}: {to_text(node.condition)})"
    if isinstance(node, Quantifier):
        return f"{node.kind} {node.var} in {node.collection.path}: {to_text(node.condition)}"
    if isinstance(node, Logic):
        slot = _OR + 1 if node.kind == "or" else _AND + 1
        return f" {node.kind} ".join(_wrap(o, slot) for o in node.operands)
    if isinstance(node, Not):
        inner = node.operand
        if isinstance(inner, Exists):
            return f"{inner.subject.path} is missing"
        if isinstance(inner, In):
            return f"{_wrap(inner.element, _VALUE)} not in {_wrap(inner.container, _VALUE)}"
        return f"not {_wrap(inner, _NOT)}"
    if isinstance(node, Compare):
        return f"{_wrap(node.left, _VALUE)} {node.op} {_wrap(node.right, _VALUE)}"
    if isinstance(node, In):
        return f"{_wrap(node.element, _VALUE)} in {_wrap(node.container, _VALUE)}"
    if isinstance(node, Between):
        return (
            f"{_wrap(node.value, _VALUE)} between {_wrap(node.low, _VALUE)}"
            f" and {_wrap(node.high, _VALUE)}"
        )
    if isinstance(node, Contains):
        return f"{_wrap(node.subject, _VALUE)} contains {_wrap(node.value, _VALUE)}"
    if isinstance(node, StartsWith):
        return f"{_wrap(node.subject, _VALUE)} starts_with {_wrap(node.value, _VALUE)}"
    if isinstance(node, Exists):
        return f"{node.subject.path} exists"
    raise AssertionError(f"unknown node {node!r}")  # pragma: no cover
