"""The text form of the rule language, parsed into the AST.

Grammar (lowest precedence first)::

    condition  := quantifier | or_expr
    quantifier := ("any" | "all") NAME "in" name ":" condition      # extends to the end
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | quantifier | predicate
    predicate  := value ( ("==" | "!=" | "<" | "<=" | ">" | ">=") value
                        | "not"? "in" value
                        | "between" value "and" value
                        | "contains" value | "starts_with" value
                        | "exists" | "is" "missing" | "is" "not" "missing" )?
    value      := STRING | NUMBER | "true" | "false" | "[" literals "]"
                | name | name "(" args ")" | "count" "(" NAME "in" name ":" condition ")"
                | "(" condition ")"
    name       := NAME ("." NAME)*

``x not in y`` parses to ``not (x in y)`` and ``x is missing`` to ``not (x exists)``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import Diagnostic, RuleLimitError, RuleSyntaxError, Span
from .lexer import Token, tokenize
from .limits import DEFAULT_LIMITS, Limits
from .nodes import (
    Between,
    Call,
    Compare,
    CompareOp,
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

__all__ = ["LoadedCondition", "parse_text"]

_COMPARE_OPS: frozenset[str] = frozenset({"==", "!=", "<", "<=", ">", ">="})


@dataclass(frozen=True, slots=True)
class LoadedCondition:
    """An AST and, when it came from text, the text and each node's span (for errors)."""

    ast: Condition
    source: str | None = None
    spans: Mapping[int, Span] = field(default_factory=dict)

    def span_of(self, node: object) -> Span | None:
        return self.spans.get(id(node))


class _Parser:
    def __init__(self, source: str, limits: Limits) -> None:
        self.source = source
        self.limits = limits
        self.tokens = tokenize(source)
        self.pos = 0
        self.depth = 0
        self.nodes = 0
        self.spans: dict[int, Span] = {}
        self.keep: list[Condition] = []

    # -- helpers -----------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        tok = self.tokens[self.pos]
        return tok.kind == kind and (text is None or tok.text == text)

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        if self.at(kind, text):
            return self.advance()
        return None

    def fail(self, message: str, tok: Token | None = None) -> RuleSyntaxError:
        tok = tok or self.tok
        span = tok.span if tok.kind != "eof" else Span(tok.start, tok.start + 1)
        return RuleSyntaxError([Diagnostic(message, span=span, source=self.source)])

    def describe(self, tok: Token) -> str:
        return "end of condition" if tok.kind == "eof" else repr(tok.text)

    def expect(self, kind: str, text: str, what: str | None = None) -> Token:
        tok = self.accept(kind, text)
        if tok is None:
            raise self.fail(f"expected {what or repr(text)}, found {self.describe(self.tok)}")
        return tok

    def node(self, node: Condition, start: int, end: int) -> Condition:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise RuleLimitError(
                [
                    Diagnostic(
                        f"condition has more than {self.limits.max_nodes} nodes",
                        span=Span(start, end),
                        source=self.source,
                    )
                ]
            )
        self.spans[id(node)] = Span(start, end)
        self.keep.append(node)
        return node

    def start_of(self, node: Condition) -> int:
        return self.spans[id(node)].start

    def end_of(self, node: Condition) -> int:
        return self.spans[id(node)].end

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise RuleLimitError(
                [
                    Diagnostic(
                        f"condition is nested deeper than {self.limits.max_depth} levels",
                        span=self.tok.span,
                        source=self.source,
                    )
                ]
            )

    # -- grammar -----------------------------------------------------------------------
    def parse(self) -> Condition:
        if self.at("eof"):
            raise self.fail("empty condition")
        result = self.condition()
        if not self.at("eof"):
            tok = self.tok
            if tok.kind == "op" and tok.text == ")":
                raise self.fail("unmatched ')'")
            raise self.fail(f"unexpected {self.describe(tok)} after a complete condition")
        return result

    def condition(self) -> Condition:
        self.enter()
        try:
            if self.at("keyword", "any") or self.at("keyword", "all"):
                return self.quantifier()
            return self.or_expr()
        finally:
            self.depth -= 1

    def quantifier(self) -> Condition:
        kw = self.advance()
        var, collection = self.binding()
        body = self.condition()
        kind = "any" if kw.text == "any" else "all"
        node = Quantifier(kind=kind, var=var, collection=collection, condition=body)
        return self.node(node, kw.start, self.end_of(body))

    def binding(self) -> tuple[str, Name]:
        var_tok = self.accept("name")
        if var_tok is None:
            raise self.fail(f"expected a variable name, found {self.describe(self.tok)}")
        self.expect("keyword", "in")
        if not self.at("name"):
            raise self.fail(
                f"expected a collection such as cart.items, found {self.describe(self.tok)}"
            )
        collection = self.name()
        self.expect("op", ":")
        assert isinstance(var_tok.value, str)
        return var_tok.value, collection

    def or_expr(self) -> Condition:
        first = self.and_expr()
        operands = [first]
        while self.accept("keyword", "or"):
            operands.append(self.and_expr())
        if len(operands) == 1:
            return first
        node = Logic(kind="or", operands=tuple(operands))
        return self.node(node, self.start_of(first), self.end_of(operands[-1]))

    def and_expr(self) -> Condition:
        first = self.not_expr()
        operands = [first]
        while self.accept("keyword", "and"):
            operands.append(self.not_expr())
        if len(operands) == 1:
            return first
        node = Logic(kind="and", operands=tuple(operands))
        return self.node(node, self.start_of(first), self.end_of(operands[-1]))

    def not_expr(self) -> Condition:
        kw = self.accept("keyword", "not")
        if kw is not None:
            self.enter()
            try:
                operand = self.not_expr()
            finally:
                self.depth -= 1
            return self.node(Not(operand=operand), kw.start, self.end_of(operand))
        if self.at("keyword", "any") or self.at("keyword", "all"):
            return self.quantifier()
        return self.predicate()

    def predicate(self) -> Condition:
        left = self.value()
        start = self.start_of(left)
        tok = self.tok
        if tok.kind == "op" and tok.text in _COMPARE_OPS:
            self.advance()
            right = self.value()
            op: CompareOp = tok.text  # type: ignore[assignment]
            return self.node(Compare(op=op, left=left, right=right), start, self.end_of(right))
        if tok.kind != "keyword":
            return left
        word = tok.text
        if word == "in":
            self.advance()
            container = self.value()
            return self.node(In(element=left, container=container), start, self.end_of(container))
        if word == "not" and self.tokens[self.pos + 1].text == "in":
            self.advance()
            self.advance()
            container = self.value()
            end = self.end_of(container)
            inner = self.node(In(element=left, container=container), start, end)
            return self.node(Not(operand=inner), start, end)
        if word == "between":
            self.advance()
            low = self.value()
            self.expect("keyword", "and", "'and' between the two bounds")
            high = self.value()
            node: Condition = Between(value=left, low=low, high=high)
            return self.node(node, start, self.end_of(high))
        if word in ("contains", "starts_with"):
            self.advance()
            value = self.value()
            cls = Contains if word == "contains" else StartsWith
            return self.node(cls(subject=left, value=value), start, self.end_of(value))
        if word in ("exists", "is"):
            if not isinstance(left, Name):
                raise self.fail(f"'{word}' needs a name on its left", tok)
            self.advance()
            if word == "exists":
                return self.node(Exists(subject=left), start, tok.end)
            negated = self.accept("keyword", "not") is None
            end_tok = self.expect("keyword", "missing", "'missing' after 'is'")
            exists = self.node(Exists(subject=left), start, end_tok.end)
            if negated:
                return self.node(Not(operand=exists), start, end_tok.end)
            return exists
        return left

    def value(self) -> Condition:
        tok = self.tok
        if tok.kind in ("string", "int", "float"):
            self.advance()
            return self.node(Constant(value=self.scalar(tok)), tok.start, tok.end)
        if tok.kind == "keyword":
            if tok.text in ("true", "false"):
                self.advance()
                return self.node(Constant(value=tok.text == "true"), tok.start, tok.end)
            if tok.text == "count":
                return self.count()
            raise self.fail(f"expected a value, found keyword {tok.text!r}")
        if tok.kind == "op":
            if tok.text == "[":
                return self.list_literal()
            if tok.text == "(":
                self.advance()
                inner = self.condition()
                self.expect("op", ")", "')' to close '('")
                return inner
        if tok.kind == "name":
            name = self.name()
            if self.at("op", "("):
                return self.call(name)
            return name
        raise self.fail(f"expected a value, found {self.describe(tok)}")

    def scalar(self, tok: Token) -> Scalar:
        value = tok.value
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail("number is too large", tok)
        assert value is not None
        return value

    def name(self) -> Name:
        first = self.advance()
        parts = [first.text]
        end = first.end
        while self.at("op", "."):
            self.advance()
            part = self.tok
            if part.kind not in ("name", "keyword"):
                raise self.fail(f"expected a name after '.', found {self.describe(part)}")
            self.advance()
            parts.append(part.text)
            end = part.end
        node = Name(path=".".join(parts))
        self.node(node, first.start, end)
        return node

    def list_literal(self) -> Condition:
        open_tok = self.advance()
        values: list[Scalar] = []
        if not self.at("op", "]"):
            while True:
                tok = self.tok
                if tok.kind in ("string", "int", "float"):
                    values.append(self.scalar(self.advance()))
                elif tok.kind == "keyword" and tok.text in ("true", "false"):
                    self.advance()
                    values.append(tok.text == "true")
                else:
                    raise self.fail(f"a list holds constants only, found {self.describe(tok)}")
                if len(values) > self.limits.max_list_length:
                    raise RuleLimitError(
                        [
                            Diagnostic(
                                f"list has more than {self.limits.max_list_length} items",
                                span=Span(open_tok.start, tok.end),
                                source=self.source,
                            )
                        ]
                    )
                if not self.accept("op", ","):
                    break
        close = self.expect("op", "]", "',' or ']'")
        return self.node(ListLiteral(values=tuple(values)), open_tok.start, close.end)

    def call(self, name: Name) -> Condition:
        self.advance()
        args: list[Condition] = []
        if not self.at("op", ")"):
            while True:
                args.append(self.value())
                if not self.accept("op", ","):
                    break
        close = self.expect("op", ")", "',' or ')'")
        start = self.start_of(name)
        if name.path == "date":
            if (
                len(args) != 1
                or not isinstance(args[0], Constant)
                or not isinstance(args[0].value, str)
            ):
                raise RuleSyntaxError(
                    [
                        Diagnostic(
                            'date() takes one string such as "2026-03-08"',
                            span=Span(start, close.end),
                            source=self.source,
                        )
                    ]
                )
            try:
                day = dt.date.fromisoformat(args[0].value)
            except ValueError:
                raise RuleSyntaxError(
                    [
                        Diagnostic(
                            f"not a date: {args[0].value!r} (expected YYYY-MM-DD)",
                            span=self.spans[id(args[0])],
                            source=self.source,
                        )
                    ]
                ) from None
            return self.node(DateLiteral(value=day), start, close.end)
        return self.node(Call(function=name.path, args=tuple(args)), start, close.end)

    def count(self) -> Condition:
        kw = self.advance()
        self.expect("op", "(", "'(' after count")
        var, collection = self.binding()
        body = self.condition()
        close = self.expect("op", ")", "')' to close count(")
        node = Count(var=var, collection=collection, condition=body)
        return self.node(node, kw.start, close.end)


def parse_text(source: str, limits: Limits = DEFAULT_LIMITS) -> LoadedCondition:
    """Parse the text form of a condition into its AST, keeping each node's source span."""
    if len(source) > limits.max_text_length:
        raise RuleLimitError(
            [Diagnostic(f"condition text is longer than {limits.max_text_length} characters")]
        )
    parser = _Parser(source, limits)
    ast = parser.parse()
    return LoadedCondition(ast, source, parser.spans)
