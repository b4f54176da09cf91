"""The server's log: one JSON object a line (``--log-format json``) or plain text for a
terminal, each line of a request with its request id (and decision id, where there is one).

Every request gets an id: the client's ``X-Request-ID`` when it sends a sensible one (up to
128 letters, digits and ``._:-``), a new one otherwise; the answer carries it back in
``X-Request-ID``. One access line per request gives its method, route template (never the
path: paths hold customer ids), status and time. Nothing personal is logged: no path, query,
header or body, and the database's errors without their parameters (``db.py``).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import metrics

__all__ = [
    "JsonFormatter",
    "PlainFormatter",
    "RequestContext",
    "RequestLog",
    "access_line",
    "current",
    "logging_config",
    "route_of",
]

_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "(unmatched)"
ACCESS = "nextoffer.access"
access = logging.getLogger(ACCESS)


@dataclass(slots=True)
class RequestContext:
    """What the log lines of one request carry (the decision id set by the decision endpoint)."""

    request_id: str
    decision_id: str | None = None


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "nextoffer_request", default=None
)


def current() -> RequestContext | None:
    """The request being served (None outside a request)."""
    return _current.get()


def route_of(scope: Scope) -> str:
    """The route template the request matched (``/v1/customers/{customer_id}``), never the
    path itself."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED


def _fields(record: logging.LogRecord, extra: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
            timespec="milliseconds"
        ),
        "level": record.levelname.lower(),
        "logger": record.name,
        "message": record.getMessage(),
    }
    context = _current.get()
    if context is not None:
        out["request_id"] = context.request_id
        if context.decision_id is not None:
            out["decision_id"] = context.decision_id
    fields = getattr(record, "fields", None) if extra else None
    if fields:
        out.update(fields)
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the request's ids, the
    access line's fields, and an exception's type and traceback."""

    def format(self, record: logging.LogRecord) -> str:
        out = _fields(record)
        out["pid"] = record.process
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
            out["traceback"] = self.formatException(record.exc_info)
        # pydantic-core's serializer: a sixth of the json module's time for an access line
        return to_json(out, fallback=str).decode()


class PlainFormatter(logging.Formatter):
    """``time level logger message key=value …`` for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        out = _fields(record, extra=False)  # an access line's message says it all
        head = f"{out.pop('time')} {out.pop('level').upper():7} {out.pop('logger')}"
        message = out.pop("message")
        tail = " ".join(f"{k}={v}" for k, v in out.items())
        line = f"{head} {message}" + (f" {tail}" if tail else "")
        if record.exc_info and record.exc_info[0] is not None:
            line += "\n" + self.formatException(record.exc_info)
        return line


def logging_config(log_format: str, access_log: bool = True) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of a server process (uvicorn applies it in each
    worker): nextoffer's and uvicorn's loggers, one handler on stderr in ``log_format``
    (``json``; else plain)."""
    formatter = JsonFormatter if log_format == "json" else PlainFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"nextoffer": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "nextoffer",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "nextoffer": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "nextoffer.access": {"level": "INFO" if access_log else "WARNING"},
            "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "uvicorn.error": {"level": "WARNING"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def access_line(method: str, route: str, status: int, millis: float) -> None:
    """A request's access line (the record made here, without ``Logger.info``'s search of
    the stack for its caller)."""
    access.handle(access.makeRecord(
        ACCESS, logging.INFO, __file__, 0, "%s %s %d %.3f ms", (method, route, status, millis),
        None, extra={"fields": {"method": method, "route": route, "status": status,
                                "duration_ms": millis}},
    ))  # fmt: skip


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given: str = value.decode("latin-1")
            if _ID.fullmatch(given):
                return given
            break
    return secrets.token_hex(16)


class RequestLog:
    """Gives every HTTP request its id (``X-Request-ID``, in the answer too), counts it
    (``nextoffer_http_requests_total``) and logs its access line. A plain ASGI middleware
    (``app.WorkerHeader`` says why)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        context = RequestContext(_request_id(scope))
        token = _current.set(context)
        header = (b"x-request-id", context.request_id.encode())
        status = 500  # unless an answer starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = route_of(scope)
            metrics().answered(method, route, status)
            if access.isEnabledFor(logging.INFO):
                access_line(method, route, status, round((time.perf_counter() - start) * 1000, 3))
            _current.reset(token)
