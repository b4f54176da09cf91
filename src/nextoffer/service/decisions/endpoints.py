"""``POST /v1/decisions`` and ``GET /v1/decisions/{id}``."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError

from ...core.errors import NextofferError
from ...core.request import Request as DecisionRequest
from ..db import DatabaseBusy, unavailable
from ..errors import ServiceError
from ..http import SessionDep, allow, idempotency_header
from ..keys.service import Principal
from ..ledger.service import IdempotencyKey
from ..operations.logs import current
from ..operations.metrics import metrics
from . import service
from .schemas import Decision

router = APIRouter(tags=["decisions"])
_client = allow("client")


class DecisionRoute(APIRoute):
    """The decision endpoint: documented by FastAPI from ``decide``'s signature, served by
    ``_serve``, which does for this one endpoint what FastAPI does for any (the key first,
    then the header and the JSON body, validated as FastAPI would and failing the same way)
    without its generic machinery: dependency solving, the body parsed by the json module
    and then validated, the answer validated again. That machinery took 40% of a
    decision's CPU (0.72 -> 0.43 ms in process)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return _serve


def _body_error(kind: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": ("body",), "msg": message}])


async def _serve(request: Request) -> Response:
    who = await _client(request)
    key = idempotency_header(request.headers.get("idempotency-key"))
    raw = await request.body()
    if not raw:
        raise _body_error("missing", "Field required")
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise _body_error("content_type", "must be JSON (Content-Type: application/json)")  # fmt: skip
    try:
        body = DecisionRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    return await decide(request=request, body=body, who=who, idempotency_key=key)


async def decide(
    request: Request,
    body: DecisionRequest,
    who: Annotated[Principal, Depends(_client)],
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> JSONResponse:
    """Which offers to show where, for one customer, now; written to the ledger with its id.
    Needs a key with role ``client``. With an ``Idempotency-Key`` (the client's own: another
    API key's equal key is another decision), a retry with the same request returns the
    original decision; the key used before for another request is refused (409)."""
    state = request.app.state
    start, result = time.perf_counter(), "error"
    try:
        decision = await service.decide_async(
            state.db,
            state.snapshots,
            body,
            None if idempotency_key is None else IdempotencyKey(who.id, idempotency_key),
            state.models,
            state.pipeline,
            state.clock,
            state.journeys,
            state.arms,
        )
        result = _result(decision)
    except ServiceError as exc:
        result = "unavailable" if exc.status == 503 else "invalid"
        raise
    except NextofferError:
        result = "invalid"
        raise
    except (DatabaseBusy, sa.exc.TimeoutError):
        result = "unavailable"
        raise
    except sa.exc.DBAPIError as exc:
        result = "unavailable" if unavailable(exc) else "error"
        raise
    finally:
        metrics().decided(_channel(state, body, result), result, time.perf_counter() - start)
    context = current()
    if context is not None:
        context.decision_id = decision["id"]
    return JSONResponse(decision)


def _result(decision: Decision) -> str:
    if decision["control"]:
        return "control"
    return "offered" if any(p["offers"] for p in decision["placements"]) else "empty"


def _channel(state: Any, body: DecisionRequest, result: str) -> str:
    """The decision's channel as a label: a channel of the live snapshot, else ``unknown``
    (a refused request may name any)."""
    channel = body.channel
    if channel is None:
        return UNKNOWN
    if result in ("offered", "empty", "control"):
        return channel
    snapshot = state.snapshots.loaded
    return channel if snapshot is not None and channel in snapshot.channels else UNKNOWN


UNKNOWN = "unknown"


# What ``_serve`` gives ``decide``, by name: the endpoint's contract is ``decide``'s signature
# (FastAPI documents it from there); a parameter added there and not served fails here, at
# import, instead of being silently ignored.
SERVED = ("request", "body", "who", "idempotency_key")
if tuple(inspect.signature(decide).parameters) != SERVED:
    raise TypeError(f"decide's parameters are not what _serve passes ({', '.join(SERVED)})")

router.add_api_route(
    "/v1/decisions",
    decide,
    methods=["POST"],
    response_model=dict[str, Any],
    route_class_override=DecisionRoute,
)


@router.get(
    "/v1/decisions/{decision_id}", dependencies=[Depends(allow("client", "author", "approver"))]
)
def get(session: SessionDep, decision_id: Annotated[str, Path(max_length=36)]) -> dict[str, Any]:
    """A decision from the ledger, with its request and trace."""
    return dict(service.get(session, decision_id))
