"""``GET /livez``, ``GET /readyz`` (alias ``/healthz``) and ``GET /metrics`` (no key needed).

The readiness checks and the scrape's reads run in threads of their own
(``app.state.health_threads``) on a connection of their own (``Database.probe``): writers
that hold every request thread or pooled connection never stall them.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from . import service
from .metrics import exposition
from .schemas import Liveness, Readiness

router = APIRouter(tags=["operations"])

_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"description": "Not ready: the reasons, check by check."}
}


@router.get("/livez")
async def livez() -> dict[str, Any]:
    """Liveness: the process answers (nothing else is checked; restart it when it does not)."""
    answer: Liveness = {"status": "ok"}
    return dict(answer)


@router.get("/readyz", response_model=dict[str, Any], responses=_NOT_READY)
@router.get("/healthz", response_model=dict[str, Any], responses=_NOT_READY)
async def readyz(request: Request) -> Response:
    """Readiness: the database answers within ``readiness_timeout_seconds``, its schema is
    at this code's newest migration, the live snapshot and the uplift models are loaded.
    503 with the reasons otherwise (send no traffic here meanwhile). ``/healthz``, the
    probe of the first release, is an alias."""
    state = request.app.state
    timeout: float = state.settings.readiness_timeout_seconds
    check = partial(service.readiness, state.db, state.snapshots, state.models)
    result: Readiness | None = None
    with anyio.move_on_after(timeout):
        result = await anyio.to_thread.run_sync(
            check, limiter=state.health_threads, abandon_on_cancel=True
        )
    if result is None:
        result = service.not_answering(timeout)
    if result["reasons"]:
        return JSONResponse(result, status_code=503, headers={"Retry-After": "1"})
    return JSONResponse(result)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})  # fmt: skip
async def metrics(request: Request) -> Response:
    """Prometheus metrics in the text format, added up over every worker of the server."""
    state = request.app.state
    scraped = service.Scraped(state.db, state.snapshots, state.models, state.clock.now())
    body = await anyio.to_thread.run_sync(
        partial(exposition, scraped), limiter=state.health_threads
    )
    return Response(body, media_type=CONTENT_TYPE_LATEST)
