"""The HTTP API (FastAPI). OpenAPI at ``/docs`` and ``/openapi.json``.

Errors have one shape, ``{"detail": "...", "errors": [{"field": ..., "message": ...}]}``:
validation 422 (naming each field), 401 / 403 for keys and roles, 404, 409. Bad input never
gives a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any, NotRequired, TypedDict

import anyio
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.errors import NextofferError
from ..core.request import known_zone
from .attach import service as attach
from .attach.endpoints import router as attach_router
from .campaigns.endpoints import router as campaigns_router
from .catalog.endpoints import router as catalog_router
from .chain.endpoints import router as chain_router
from .config import Settings, load_settings
from .customers import service as customers
from .customers.endpoints import router as customers_router
from .dashboard import endpoints as dashboard
from .dashboard.views import error_page, is_dashboard
from .db import Database, DatabaseBusy, log_failure, unavailable
from .decisions.endpoints import router as decisions_router
from .decisions.service import LiveClock, Pipeline, wall_clock
from .docs import install as install_docs
from .errors import InvalidInput, NotFound, ServiceError, TooManyAttempts
from .evaluation.endpoints import router as evaluation_router
from .experiments.endpoints import router as experiments_router
from .http import key_use_writer, write_key_uses
from .journeys.endpoints import router as journeys_router
from .journeys.runner import Runner
from .keys.service import LastUses
from .keys.throttle import AuthThrottle
from .ledger import service as ledger
from .ledger.endpoints import router as ledger_router
from .limits import BodyLimits
from .operations import tracing
from .operations.endpoints import router as operations_router
from .operations.logs import RequestLog
from .operations.metrics import flushing
from .rules.endpoints import router as rules_router
from .snapshots.cache import SnapshotCache
from .snapshots.endpoints import router as snapshots_router
from .strategy_experiments.arms import ArmCache
from .strategy_experiments.endpoints import router as strategy_experiments_router
from .uplift.endpoints import router as uplift_router
from .uplift.estimates import ModelCache

__all__ = ["ErrorBody", "WorkerHeader", "create_app"]
log = logging.getLogger("nextoffer")


class ErrorBody(TypedDict):
    """An error's answer: what went wrong and, for invalid input, each field's problem."""

    detail: str
    errors: NotRequired[list[dict[str, str]]]


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "body")


async def _sweeper(app: FastAPI) -> None:
    """Erase personal data past its retention, every ``erase_every_seconds``. The periodic
    jobs run in a thread: on the event loop they would hold up every request meanwhile."""
    settings: Settings = app.state.settings
    while True:
        try:
            erased = await run_in_threadpool(app.state.db.run, customers.sweep)
            if erased:
                log.info("erased personal data of %d customers (retention)", erased)
        except Exception as exc:  # keep sweeping; the next run retries
            log_failure("erasure sweep failed", exc)
        await asyncio.sleep(settings.erase_every_seconds)


async def _recheck(every: float, check: Callable[[], object]) -> None:
    """Check a cache (the live snapshot, the live models) every ``every`` seconds, a little
    more often than it expires, in a thread: requests then find it fresh and never wait for
    the check themselves (on the event loop, a check would hold up every request)."""
    failing = False
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(check)
            failing = False
        except NotFound:  # nothing published yet
            pass
        except Exception as exc:  # a request checks it itself meanwhile; the next run retries
            if not failing:  # once per outage, not five times a second
                log_failure("checking for a new snapshot or models failed (retrying)", exc)
            failing = True


async def _attach_refresher(app: FastAPI) -> None:
    """Recount attach rates from the ledger every ``attach_refresh_seconds``."""
    settings: Settings = app.state.settings
    while True:
        await asyncio.sleep(settings.attach_refresh_seconds)
        try:
            done = await run_in_threadpool(app.state.db.run, attach.refresh)
            if done["snapshot"]:
                log.info("attach rates refreshed: published %s", done["snapshot"])
        except Exception as exc:  # keep refreshing; the next run retries
            log_failure("attach-rate refresh failed", exc)


PARTITION_CHECK_SECONDS = 3600.0


async def _partition_keeper(app: FastAPI) -> None:
    """PostgreSQL: create this and next month's ledger partitions at start-up and every hour."""
    while True:
        try:
            made = await run_in_threadpool(app.state.db.run, ledger.keep_partitions)
            if made:
                log.info("ledger partitions: created %d", made)
        except Exception as exc:  # the next run retries
            log_failure("creating the ledger's partitions failed", exc)
        await asyncio.sleep(PARTITION_CHECK_SECONDS)


class WorkerHeader:
    """Adds ``X-Worker`` (the answering worker's process id) to every HTTP response.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``) runs
    each request through an extra task and stream, which cost a tenth of a decision's time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                worker = (b"x-worker", str(os.getpid()).encode())
                message["headers"] = [*message.get("headers", ()), worker]
            await send(message)

        await self.app(scope, receive, send_with_header)


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], dt.datetime] | None = None
) -> FastAPI:
    """The app; ``clock`` is the live decision path's time (default: the wall clock)."""
    settings = settings or load_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # What start-up made (modules, the app, its routes and models) lives as long as the
        # worker: frozen, a full garbage collection no longer walks it. Unfrozen, each one
        # held the worker up for 160-210 ms (a decision's p99 is 25 ms); frozen, 3-5 ms.
        known_zone("UTC")  # reads the time zone database's list once, not in a request
        gc.collect()
        gc.freeze()
        snapshots, models = app.state.snapshots, app.state.models
        tasks = [
            asyncio.create_task(_sweeper(app)),
            asyncio.create_task(_recheck(0.8 * snapshots.poll, partial(snapshots.get, check=True))),
            asyncio.create_task(_recheck(0.8 * models.poll, partial(models.live, check=True))),
            # the running strategy experiments' arms, compiled again when the live snapshot
            # or the experiments change (never in a request)
            asyncio.create_task(_recheck(0.8 * snapshots.poll, app.state.arms.refresh)),
            asyncio.create_task(key_use_writer(app.state.key_uses, app.state.db)),
            asyncio.create_task(flushing()),  # the metrics this worker counted
        ]
        if settings.attach_refresh_seconds > 0:
            tasks.append(asyncio.create_task(_attach_refresher(app)))
        if not app.state.db.is_sqlite:
            tasks.append(asyncio.create_task(_partition_keeper(app)))
        yield
        for task in tasks:
            task.cancel()
        await write_key_uses(app.state.key_uses, app.state.db)  # the last minute's
        if app.state.pipeline is not None:
            await app.state.pipeline.close()
        await app.state.db.dispose_async()
        app.state.db.dispose()

    app = FastAPI(
        title="nextoffer",
        version="0.1.0",
        summary="Next-best-offer decisions, an append-only ledger, and the catalog behind them.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, from packaged assets (no CDN)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = Database(settings.database_url)
    app.state.snapshots = SnapshotCache(app.state.db, settings.snapshot_poll_seconds)
    app.state.models = ModelCache(app.state.db)
    app.state.arms = ArmCache(app.state.db, app.state.snapshots, settings.snapshot_poll_seconds)
    app.state.clock = LiveClock(clock or wall_clock, settings.clock_tolerance_seconds)
    # refused keys per client address (429 past a burst), and the keys' last uses to write
    app.state.auth_throttle = AuthThrottle(settings.auth_failure_burst,
                                           settings.auth_failure_refill_seconds)  # fmt: skip
    app.state.key_uses = LastUses()
    # journeys: their steps on the decision path and their events (the scheduler runs apart)
    app.state.journeys = Runner(
        app.state.db, app.state.snapshots, app.state.models, clock=app.state.clock.now
    )
    # PostgreSQL: the decision path's asyncio connections and batches (per worker)
    app.state.pipeline = None if app.state.db.is_sqlite else Pipeline(app.state.db)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        if is_dashboard(request):
            return error_page(request, exc)
        body: ErrorBody = {"detail": exc.message}
        if isinstance(exc, InvalidInput):
            body["errors"] = exc.errors
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if isinstance(exc, TooManyAttempts):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(NextofferError)
    async def core_error(request: Request, exc: NextofferError) -> Response:
        """A core error no service mapped with more context: the caller's input, a 422."""
        return await service_error(request, InvalidInput.from_core(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"field": _field(tuple(e["loc"])), "message": str(e["msg"]).removeprefix("Value error, ")}
                  for e in exc.errors()]  # fmt: skip
        if is_dashboard(request):
            return error_page(request, InvalidInput(errors))
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    @app.exception_handler(sa.exc.DataError)
    async def data_error(_: Request, exc: sa.exc.DataError) -> JSONResponse:
        # e.g. a NUL character, which PostgreSQL text and JSON cannot hold; nothing was written
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "invalid value"
        detail = f"a value cannot be stored: {reason}"
        return JSONResponse(
            {"detail": detail, "errors": [{"field": "body", "message": detail}]}, status_code=422
        )

    @app.exception_handler(sa.exc.IntegrityError)
    async def integrity_error(_: Request, exc: sa.exc.IntegrityError) -> JSONResponse:
        # two requests created the same thing at once: the later one conflicts
        return JSONResponse(
            {"detail": "conflicts with a concurrent change; retry"}, status_code=409
        )

    def retry_later(detail: str) -> JSONResponse:
        return JSONResponse({"detail": detail, "errors": []}, status_code=503,
                            headers={"Retry-After": "1"})  # fmt: skip

    @app.exception_handler(sa.exc.DBAPIError)
    async def database_gone(request: Request, exc: sa.exc.DBAPIError) -> Response:
        if not unavailable(exc):  # not the database being away or busy: a fault
            raise exc
        # a lost connection (the pool has dropped its connections), a server starting up or
        # shutting down, refusing connections or full, a write lock held too long
        return retry_later("the database is unavailable for a moment; retry")

    @app.exception_handler(sa.exc.TimeoutError)
    async def pool_exhausted(request: Request, exc: sa.exc.TimeoutError) -> Response:
        return retry_later("every database connection is busy; retry")

    @app.exception_handler(DatabaseBusy)
    async def writers_queued(request: Request, exc: DatabaseBusy) -> Response:
        return retry_later("too many writers at once; retry")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if is_dashboard(request) and exc.status_code == 404:
            return error_page(request, NotFound("no such page in the dashboard"))
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    app.add_middleware(BodyLimits, settings=settings)  # size, time, depth, NUL, NaN
    app.add_middleware(WorkerHeader)
    # traces: with the OTEL_* settings (or a provider a test set), else no middleware at all
    if tracing.tracer() is None:
        tracing.use(tracing.from_environment())
    if tracing.tracer() is not None:
        app.add_middleware(tracing.Tracing)
        for engine in {app.state.db.engine, app.state.db.reader}:
            tracing.instrument(engine)
    app.add_middleware(RequestLog)  # outermost: every line of a request has its id

    # the probes (/readyz and its alias /healthz) and /metrics run in threads of their own and on a
    # connection of their own: writers that hold every request thread or pooled connection
    # never stall them
    app.state.health_threads = anyio.CapacityLimiter(2)

    for router in (decisions_router, ledger_router, customers_router, catalog_router,
                   snapshots_router, rules_router, attach_router, uplift_router,
                   experiments_router, strategy_experiments_router, evaluation_router,
                   journeys_router, campaigns_router, operations_router, chain_router):  # fmt: skip
        app.include_router(router)
    dashboard.install(app)
    install_docs(app)
    return app
