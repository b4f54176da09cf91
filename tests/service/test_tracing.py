"""OpenTelemetry traces: off by default, on with the ``OTEL_*`` settings; a span per request,
a child span per decision stage and per database call (the SDK's in-memory exporter, the
app in process on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from nextoffer.scenarios.demo import demo_snapshot
from nextoffer.service.app import create_app
from nextoffer.service.config import Settings
from nextoffer.service.keys.service import create_key
from nextoffer.service.migrate import upgrade
from nextoffer.service.operations import tracing
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish

STAGES = ["candidates", "qualify", "policies", "score", "gates", "rank", "place", "holdout"]
BODY = {"customer": {"id": "trace-1", "attributes": {"tier": "premium", "tenureMonths": 36,
        "hasCreditCard": False}, "holdings": ["checking"]}, "channel": "email"}  # fmt: skip


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.use(provider)
    yield spans
    tracing.use(None)
    provider.shutdown()


def _app(database_url: str) -> FastAPI:
    app = create_app(Settings(database_url=database_url, attach_refresh_seconds=0))
    upgrade(app.state.db)
    with app.state.db.transaction() as session:
        load_spec(session, demo_snapshot())
        publish(session, "demo-1")
        app.state.key = create_key(session, "client", "trace test")
    return app


def _close(app: FastAPI) -> None:
    if app.state.pipeline is not None:
        asyncio.run(app.state.pipeline.close())
        asyncio.run(app.state.db.dispose_async())
    app.state.db.dispose()


def _post(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.Response:
    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        auth = {"Authorization": f"Bearer {app.state.key}", **(headers or {})}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post("/v1/decisions", json=BODY, headers=auth)

    return asyncio.run(post())


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_a_decision_is_a_request_span_with_a_span_per_stage_and_database_call(
    database_url: str, exporter: InMemorySpanExporter
) -> None:
    app = _app(database_url)
    try:
        exporter.clear()
        r = _post(app)
    finally:
        _close(app)
    assert r.status_code == 200, r.text
    spans = exporter.get_finished_spans()
    (request,) = [s for s in spans if s.kind == SpanKind.SERVER]
    assert request.name == "POST /v1/decisions"
    assert request.attributes is not None
    assert request.attributes["http.route"] == "/v1/decisions"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["nextoffer.decision_id"] == r.json()["id"]
    assert request.attributes["nextoffer.request_id"] == r.headers["x-request-id"]
    assert {s.context.trace_id for s in spans} == {request.context.trace_id}
    by_id = {s.context.span_id: s for s in spans}

    def under_request(span: ReadableSpan) -> bool:
        parent = _parent(span)
        while parent is not None and parent != request.context.span_id:
            parent = _parent(by_id[parent])
        return parent == request.context.span_id

    (decide,) = [s for s in spans if s.name == "decide"]
    assert under_request(decide)
    stages = sorted((s for s in spans if _parent(s) == decide.context.span_id),
                    key=lambda s: s.start_time or 0)  # fmt: skip
    assert [s.name for s in stages] == STAGES
    assert all((s.start_time or 0) <= (s.end_time or 0) for s in stages)
    database = [s for s in spans if s.name.startswith("db ")]
    assert database
    assert all(under_request(s) for s in database)
    assert any("write decision" in s.name or s.name == "db INSERT" for s in database)


def test_a_callers_trace_continues_through_traceparent(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    app = _app(f"sqlite:///{tmp_path}/t.db")
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        exporter.clear()
        r = _post(app, {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    finally:
        _close(app)
    assert r.status_code == 200
    (request,) = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert f"{request.context.trace_id:032x}" == trace_id
    assert request.parent is not None
    assert f"{request.parent.span_id:016x}" == "00f067aa0ba902b7"


def test_traces_are_off_by_default(tmp_path: Path) -> None:
    assert tracing.from_environment({}) is None
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/off.db"))
    try:
        assert tracing.tracer() is None
        assert all(m.cls is not tracing.Tracing for m in app.user_middleware)
    finally:
        app.state.db.dispose()


def test_the_otel_settings_turn_traces_on_and_name_a_wrong_exporter() -> None:
    provider = tracing.from_environment({"OTEL_TRACES_EXPORTER": "console",
                                         "OTEL_SERVICE_NAME": "offers-eu"})  # fmt: skip
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "offers-eu"
    provider.shutdown()
    endpoint = tracing.from_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert endpoint is not None
    assert endpoint.resource.attributes["service.name"] == "nextoffer"
    endpoint.shutdown()
    assert tracing.from_environment({"OTEL_TRACES_EXPORTER": "none"}) is None
    assert tracing.from_environment({"OTEL_TRACES_EXPORTER": "console",
                                     "OTEL_SDK_DISABLED": "true"}) is None  # fmt: skip
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER: no exporter 'jaeger-x'"):
        tracing.from_environment({"OTEL_TRACES_EXPORTER": "jaeger-x"})
