"""Tokens of the rule language's text form."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from .errors import Diagnostic, RuleSyntaxError, Span
from .nodes import KEYWORDS

__all__ = ["KEYWORDS", "Token", "TokenKind", "tokenize"]

TokenKind = Literal["name", "string", "int", "float", "op", "keyword", "eof"]


_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<float>-?(?:\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+))
  | (?P<int>-?\d+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|:|\.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    start: int
    end: int
    value: str | int | float | bool | None = None

    @property
    def span(self) -> Span:
        return Span(self.start, self.end)


def _string_value(raw: str, source: str, start: int) -> str:
    body = raw[1:-1]
    if raw[0] == "'":
        body = body.replace('\\"', '"').replace("\\'", "'").replace('"', '\\"')
    try:
        value: str = json.loads(f'"{body}"')
    except json.JSONDecodeError:
        span = Span(start, start + len(raw))
        raise RuleSyntaxError(
            [Diagnostic("invalid escape in string", span=span, source=source)]
        ) from None
    return value


def tokenize(source: str) -> list[Token]:
    """Split ``source`` into tokens; an unknown character is a syntax error at its place."""
    tokens: list[Token] = []
    pos, n = 0, len(source)
    match = _TOKEN.match
    while pos < n:
        m = match(source, pos)
        if m is None:
            ch = source[pos]
            hint = "unterminated string" if ch in "\"'" else f"unexpected character {ch!r}"
            if ch == "=":
                hint = "unexpected '=' (did you mean '=='?)"
            elif ch in "&|!":
                word = {"&": "and", "|": "or", "!": "not"}[ch]
                hint = f"unexpected {ch!r} (did you mean '{word}'?)"
            raise RuleSyntaxError([Diagnostic(hint, span=Span(pos, pos + 1), source=source)])
        kind = m.lastgroup
        text = m.group()
        end = m.end()
        if kind == "ws":
            pos = end
            continue
        if kind == "name":
            if text in KEYWORDS:
                if text in ("true", "false"):
                    tokens.append(Token("keyword", text, pos, end, text == "true"))
                else:
                    tokens.append(Token("keyword", text, pos, end))
            else:
                tokens.append(Token("name", text, pos, end, text))
        elif kind == "string":
            tokens.append(Token("string", text, pos, end, _string_value(text, source, pos)))
        elif kind == "int":
            tokens.append(Token("int", text, pos, end, int(text)))
        elif kind == "float":
            tokens.append(Token("float", text, pos, end, float(text)))
        else:
            tokens.append(Token("op", text, pos, end))
        pos = end
    tokens.append(Token("eof", "", n, n))
    return tokens
