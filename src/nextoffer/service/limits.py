"""Limits on what a request may be, checked at the edge before the application reads it.

``BodyLimits`` (an ASGI middleware) reads each request body itself, streaming:

- at most ``max_body_bytes`` (413, from ``Content-Length`` before reading anything, or as
  soon as a streamed body passes the limit), within ``body_timeout_seconds`` (408: a client
  that trickles its body is cut off, and the connection closed);
- a JSON body nests objects and arrays at most ``max_json_depth`` deep, and no array holds
  more than ``max_list_items`` items (422, naming the field);
- no string of a JSON body, a form, the path or the query holds a NUL character or a lone
  UTF-16 surrogate, and no number is ``NaN``, ``Infinity`` or too large for a float (422,
  naming the field): PostgreSQL refuses them where SQLite stored them (NaN as invalid JSON),
  so the same request got different answers from the two databases.

The checks cost next to nothing for an ordinary body: counts and searches in C over the
raw bytes show that it cannot break a limit; only a body that may do so is parsed to find
the field.

``GuardedHttpToolsProtocol`` (uvicorn's HTTP protocol) closes a connection whose request
headers have not all arrived within ``header_timeout_seconds`` of it opening or of the last
response (uvicorn's keep-alive timeout restarts with every byte, so headers sent a byte at
a time would hold a connection for ever).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Iterator
from functools import cache
from typing import Any, TypedDict
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .config import Settings, load_settings

__all__ = ["BodyLimits", "GuardedHttpToolsProtocol", "Refused", "UvicornOptions", "check_json",
           "uvicorn_options"]  # fmt: skip

# a JSON string token (its contents may hold brackets and commas, which do not count)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]', re.DOTALL)
# what may be a NUL or a lone surrogate (after "\u"), or a number too large for a float
_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
# numbers, as a picture: digits "0", exponents "e", signs "+", the rest " " (one C pass); a
# float beyond 1.8e308 needs a three-digit exponent or some 309 digits
_NUMBERS = bytes(
    b"0"[0]
    if chr(c).isdigit() and c < 128
    else b"e"[0]
    if c in b"eE"
    else b"+"[0]
    if c in b"+-"
    else 32
    for c in range(256)
)


def _huge(body: bytes) -> bool:
    picture = body.translate(_NUMBERS)
    return b"e000" in picture or b"e+000" in picture or b"0" * 300 in picture


_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_PARENS = bytes.maketrans(b"[]{}", b"()()")
_NONFINITE = object()


class Refused(Exception):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


def _path(parts: list[str | int]) -> str:
    out = "body" if parts and isinstance(parts[0], int) else ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    # shown as written: a NUL or a lone surrogate in a key would break the answer itself
    out = out.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()
    return out or "body"


def _too_deep(body: bytes, depth: int) -> None:
    """Refuse a body nested deeper than ``depth``, naming where, without parsing it (the
    json module's recursion would give out first)."""
    stack: list[list[Any]] = []  # per open object or array: [its bracket, key or index]
    expect_key = False
    for match in _TOKEN.finditer(body):
        token = match.group()
        if token in (b"{", b"["):
            if len(stack) >= depth:
                where = _path([p for _, p in stack if p is not None])
                raise Refused(422, where, f"nested deeper than {depth} levels")
            stack.append([token, None if token == b"{" else 0])
            expect_key = token == b"{"
        elif token in (b"}", b"]"):
            if stack:
                stack.pop()
            expect_key = False
        elif token == b",":
            if stack and stack[-1][0] == b"[":
                stack[-1][1] += 1
            expect_key = bool(stack) and stack[-1][0] == b"{"
        elif token == b":":
            expect_key = False
        elif expect_key and stack:  # a string in key position
            try:
                stack[-1][1] = json.loads(token)
            except ValueError:
                stack[-1][1] = token.decode("utf-8", "replace")[1:-1]
            expect_key = False


def _walk(value: Any, items: int) -> Iterator[tuple[list[str | int], str]]:
    """Every list too long, and every string and number a database could not hold alike, of
    a parsed JSON document, with its path; iteratively (the depth is checked already)."""
    todo: list[tuple[list[str | int], Any]] = [([], value)]
    while todo:
        path, node = todo.pop()
        if isinstance(node, dict):
            for key, item in node.items():
                if problem := _text_problem(key):
                    yield [*path, key], f"a key {problem}"
                todo.append(([*path, key], item))
        elif isinstance(node, list):
            if len(node) > items:
                yield path, f"at most {items} items in a list"
            todo.extend(([*path, i], item) for i, item in enumerate(node))
        elif isinstance(node, str):
            if problem := _text_problem(node):
                yield path, problem
        elif node is _NONFINITE or (isinstance(node, float) and not math.isfinite(node)):
            yield path, "must be a finite number (not NaN or Infinity, at most 1.8e308)"


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (it holds a lone surrogate)"
    return None


def check_json(body: bytes, depth: int = 32, items: int = 1_000) -> None:
    """Raise ``Refused`` for a JSON body that breaks a limit or holds what a database cannot
    hold alike. A body that is not JSON at all is left to the application to refuse.

    Only a body that may break a rule is parsed (to name the field): one with more brackets
    than ``depth`` is measured without its strings; one with ``items`` commas or more may
    hold a list too long; one with ``\\u`` escapes, ``NaN``, ``Infinity`` or a long
    exponent may hold a NUL, a lone surrogate or a non-finite number."""
    parse = False
    if body.count(b"{") + body.count(b"[") > depth or body.count(b",") >= items:
        # the body without its strings (split at quotes when no escape can hide one)
        bare = _STRING.sub(b"", body) if b"\\" in body else b"".join(body.split(b'"')[::2])
        brackets = bare.translate(_PARENS, _NOT_BRACKETS)  # "(" and ")" alone
        for _ in range(depth):  # each pass drops the innermost level
            brackets = brackets.replace(b"()", b"")
        if brackets:
            _too_deep(body, depth)
        parse = bare.count(b",") >= items
    parse = parse or (
        (b"\\u" in body and _ESCAPE.search(body) is not None)
        or b"NaN" in body
        or b"Infinity" in body
        or _huge(body)
    )
    if not parse:
        return
    try:
        document = json.loads(body, parse_constant=lambda _: _NONFINITE)
    except (ValueError, RecursionError):
        return
    for path, problem in _walk(document, items):
        raise Refused(422, _path(path), problem)


def _check_text(field: str, text: str) -> None:
    if problem := _text_problem(text):
        raise Refused(422, field, problem)


def _is_json(media: str) -> bool:
    return not media or media == "application/json" or media.endswith("+json")


class BodyLimits:
    """See the module's docstring. A plain ASGI middleware, like ``WorkerHeader``."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_bytes = settings.max_body_bytes
        self.depth = settings.max_json_depth
        self.items = settings.max_list_items
        self.timeout = settings.body_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(scope, receive)
        except Refused as exc:
            await _refuse(exc, scope, receive, send)
            return
        if body is None:  # the client went away
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes | None:
        _check_text("path", scope["path"])
        query: bytes = scope["query_string"]
        if b"%" in query:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                _check_text(name, name)
                _check_text(name, value)
        media = b""
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    raise _too_large(self.max_bytes)
            elif name == b"content-type":
                media = value.partition(b";")[0].strip().lower()
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise _too_large(self.max_bytes)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise Refused(
                408, "body", f"the request body did not arrive within {self.timeout:g} s"
            ) from None
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if body and _is_json(media.decode("latin-1")):
            check_json(body, self.depth, self.items)
        elif media == b"application/x-www-form-urlencoded" and b"%00" in body:
            for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
                _check_text(name, value)
        return body


def _too_large(limit: int) -> Refused:
    return Refused(413, "body", f"the request body is larger than {limit} bytes")


async def _refuse(exc: Refused, scope: Scope, receive: Receive, send: Send) -> None:
    # the rest of a refused body is never read: the connection closes after the answer
    response = JSONResponse(
        {"detail": f"{exc.field}: {exc.message}",
         "errors": [{"field": exc.field, "message": exc.message}]},
        status_code=exc.status,
        headers={"Connection": "close"} if exc.status in (408, 413) else None,
    )  # fmt: skip
    await response(scope, receive, send)


@cache
def _header_timeout() -> float:
    # each worker process reads its settings once (the protocol is made per connection)
    return load_settings().header_timeout_seconds


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request headers do not all
    arrive within ``header_timeout_seconds``."""

    _headers_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._headers_deadline = self.loop.call_later(_header_timeout(), self._too_slow)

    def _disarm(self) -> None:
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
            self._headers_deadline = None

    def _too_slow(self) -> None:
        self._headers_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


class UvicornOptions(TypedDict):
    """Keyword arguments of ``uvicorn.run`` and ``uvicorn.Config``: the HTTP protocol that
    closes a connection whose headers come too slowly, and the keep-alive timeout."""

    http: type[GuardedHttpToolsProtocol]
    timeout_keep_alive: int


def uvicorn_options(settings: Settings) -> UvicornOptions:
    """The options ``serve`` and ``demo`` give uvicorn for these limits."""
    return {"http": GuardedHttpToolsProtocol, "timeout_keep_alive": settings.keep_alive_seconds}
