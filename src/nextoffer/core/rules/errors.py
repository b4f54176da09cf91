"""Errors of the rule language, each pointing at its place.

    RuleError                    -- any problem with a condition (a core NextofferError)
     +-- RuleSyntaxError         -- the text does not parse, or the JSON is not a condition
     +-- RuleTypeError           -- unknown name, wrong type, operator that does not fit
     +-- RuleLimitError          -- the condition is too deep, too large or too long

Each carries one or more ``Diagnostic``: a message, the JSON path of the node
(``$.operands[1].left``) and, when the condition came from text, the line and column,
rendered with a caret under the offending text.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import NextofferError

__all__ = [
    "Diagnostic",
    "RuleError",
    "RuleLimitError",
    "RuleSyntaxError",
    "RuleTypeError",
    "Span",
]


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open range ``[start, end)`` of character offsets in the source text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem: what is wrong and where."""

    message: str
    path: str = "$"
    span: Span | None = None
    source: str | None = None

    @property
    def line(self) -> int | None:
        if self.span is None or self.source is None:
            return None
        return self.source.count("\n", 0, self.span.start) + 1

    @property
    def column(self) -> int | None:
        if self.span is None or self.source is None:
            return None
        return self.span.start - (self.source.rfind("\n", 0, self.span.start) + 1) + 1

    def render(self) -> str:
        """The message with its place: line and column with a caret, or the JSON path."""
        if self.span is None or self.source is None:
            return f"{self.path}: {self.message}"
        line, column = self.line, self.column
        assert line is not None
        assert column is not None
        text = self.source.split("\n")[line - 1]
        width = max(
            1, min(self.span.end, self.span.start + len(text) - column + 1) - self.span.start
        )
        caret = " " * (column - 1) + "^" * width
        return f"line {line}, column {column}: {self.message}\n  {text}\n  {caret}"

    def to_dict(self) -> dict[str, object]:
        return {
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "column": self.column,
        }


class RuleError(NextofferError):
    """A condition that cannot be used; ``diagnostics`` lists every problem found. Raised
    when a condition is parsed, checked or compiled; ``field`` and ``message`` are the
    first problem's path and message, ``str(exc)`` renders them all."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        assert diagnostics
        self.diagnostics = diagnostics
        first = diagnostics[0]
        super().__init__(first.path, first.message, text="\n".join(d.render() for d in diagnostics))


class RuleSyntaxError(RuleError):
    """The text does not parse, or the JSON is not a valid condition (raised by the parser
    and by loading a condition's JSON)."""


class RuleTypeError(RuleError):
    """A name is unknown, or an operator does not fit its operands' types (raised by the
    type checker, against the customer and offer schemas)."""


class RuleLimitError(RuleError):
    """The condition exceeds a limit (depth, node count, list length, text length, or the
    bound on its work); raised before it is checked or compiled."""
