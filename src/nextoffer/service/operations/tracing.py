"""OpenTelemetry traces: off unless the standard ``OTEL_*`` settings ask for them.

On when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``, or any installed
one) or ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (then
``otlp``); ``OTEL_SDK_DISABLED=true`` keeps them off. The SDK reads the rest itself:
``OTEL_SERVICE_NAME`` (default ``nextoffer``), ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER``(``_ARG``), ``OTEL_EXPORTER_OTLP_*``, ``OTEL_BSP_*``,
``OTEL_PROPAGATORS`` (W3C ``traceparent`` by default: a caller's trace continues here).

A span per HTTP request (``POST /v1/decisions``, kind server), a child span per database
statement (SQLAlchemy's) and per read and write of the decision path, and a child span per
decision stage (candidates, qualify, policies, score, gates, rank, place, holdout), laid out
from the stage timings the engine keeps anyway. Off, a request pays one check of a global.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from sqlalchemy import Engine, event
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...core.decision.result import Trace
from .logs import current, route_of

__all__ = [
    "Tracing",
    "decision_stages",
    "from_environment",
    "instrument",
    "span",
    "tracer",
    "use",
]

EXPORTERS_GROUP = "opentelemetry_traces_exporter"
_tracer: Tracer | None = None
_NOTHING = contextlib.nullcontext()


def from_environment(env: Mapping[str, str] | None = None) -> TracerProvider | None:
    """The tracer provider the ``OTEL_*`` settings ask for (None: traces are off). An
    unknown exporter's name is a ``ValueError`` naming the setting."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = [n.strip() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    if not names and (env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                      or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):  # fmt: skip
        names = ["otlp"]
    names = [n for n in names if n != "none"]
    if not names:
        return None
    exporters: list[SpanExporter] = []
    for name in names:
        found = importlib.metadata.entry_points(group=EXPORTERS_GROUP, name=name)
        if not found and name == "otlp":  # the protocol by default: http/protobuf
            found = importlib.metadata.entry_points(group=EXPORTERS_GROUP, name="otlp_proto_http")
        if not found:
            known = sorted(e.name for e in importlib.metadata.entry_points(group=EXPORTERS_GROUP))
            raise ValueError(
                f"OTEL_TRACES_EXPORTER: no exporter {name!r} installed (known: {', '.join(known)})"
            )
        exporters.append(next(iter(found)).load()())
    attributes = {}  # the SDK reads OTEL_RESOURCE_ATTRIBUTES itself
    if env.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = env["OTEL_SERVICE_NAME"]
    elif "service.name=" not in env.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attributes["service.name"] = "nextoffer"
    provider = TracerProvider(resource=Resource.create(attributes))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def use(provider: TracerProvider | None) -> None:
    """Trace with ``provider`` in this process from now on (None: traces off). Not the
    global provider of the OpenTelemetry API, which can be set once: a test sets its own."""
    global _tracer
    _tracer = None if provider is None else provider.get_tracer("nextoffer")


def tracer() -> Tracer | None:
    """This process's tracer (None: traces are off)."""
    return _tracer


def span(name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """A child span of the current one around a block (nothing when traces are off)."""
    if _tracer is None:
        return _NOTHING
    return _tracer.start_as_current_span(name, attributes=attributes)


def decision_stages(decision: Trace, started_ns: int, channel: str) -> None:
    """The engine's run as a ``decide`` span from ``started_ns`` (``time.time_ns()``) with a
    child span per stage, laid out one after another from the stage timings."""
    if _tracer is None:
        return
    stages = [s for s in decision.stages if s.stage != "total"]
    total = next((s for s in decision.stages if s.stage == "total"), None)
    took = int(total.micros * 1000) if total is not None else 0
    took = max(took, int(sum(s.micros for s in stages) * 1000))
    parent = _tracer.start_span("decide", start_time=started_ns,
                                attributes={"nextoffer.channel": channel})  # fmt: skip
    inside = trace.set_span_in_context(parent)
    at = started_ns + took - int(sum(s.micros for s in stages) * 1000)  # the context first
    for stage in stages:
        end = at + int(stage.micros * 1000)
        child = _tracer.start_span(
            stage.stage, context=inside, start_time=at,
            attributes={"nextoffer.entered": stage.entered, "nextoffer.left": stage.left},
        )  # fmt: skip
        child.end(end_time=end)
        at = end
    parent.end(end_time=started_ns + took)


def instrument(engine: Engine) -> None:
    """A span for every statement ``engine`` runs (when traces are on)."""
    if _tracer is None:
        return

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                executemany: bool) -> None:  # fmt: skip
        if _tracer is None or context is None:
            return
        operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        context._nextoffer_span = _tracer.start_span(
            f"db {operation}", kind=SpanKind.CLIENT,
            attributes={"db.system": engine.dialect.name, "db.operation.name": operation,
                        "db.query.text": statement[:2000]},
        )  # fmt: skip

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
               executemany: bool) -> None:  # fmt: skip
        done = getattr(context, "_nextoffer_span", None)
        if done is not None:
            done.end()
            context._nextoffer_span = None

    @event.listens_for(engine, "handle_error")
    def _failed(exception_context: Any) -> None:
        context = exception_context.execution_context
        done = getattr(context, "_nextoffer_span", None) if context is not None else None
        if done is not None:
            done.set_status(
                Status(StatusCode.ERROR, type(exception_context.original_exception).__name__)
            )
            done.end()
            context._nextoffer_span = None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


class Tracing:
    """A span per HTTP request, continuing the caller's trace (``traceparent``); installed
    only when traces are on. A plain ASGI middleware (``app.WorkerHeader`` says why)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        traced = _tracer
        if scope["type"] != "http" or traced is None:
            await self.app(scope, receive, send)
            return
        parent = propagate.extract(_headers(scope))
        method = scope["method"]
        request = traced.start_span(
            method, context=parent, kind=SpanKind.SERVER, start_time=time.time_ns(),
            attributes={"http.request.method": method, "url.scheme": scope.get("scheme", "http")},
        )  # fmt: skip
        token = otel_context.attach(trace.set_span_in_context(request, parent))
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except BaseException as exc:
            request.record_exception(exc)
            raise
        finally:
            route = route_of(scope)
            request.update_name(f"{method} {route}")
            request.set_attribute("http.route", route)
            request.set_attribute("http.response.status_code", status)
            ids = current()
            if ids is not None:
                request.set_attribute("nextoffer.request_id", ids.request_id)
                if ids.decision_id is not None:
                    request.set_attribute("nextoffer.decision_id", ids.decision_id)
            if status >= 500:
                request.set_status(Status(StatusCode.ERROR))
            request.end()
            otel_context.detach(token)
