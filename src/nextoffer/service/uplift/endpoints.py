"""Uplift over HTTP: train from the ledger, models, the report, a customer's estimates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from ..db import Database
from ..http import SessionDep, allow
from ..keys.service import Principal
from . import service
from .schemas import TrainIn

router = APIRouter(tags=["uplift"])
Reader = Annotated[Principal, Depends(allow("author", "approver"))]


@router.post("/v1/uplift/train")
async def train(request: Request, _: Reader, body: TrainIn | None = None) -> dict[str, Any]:
    """Train an uplift model per offer from the ledger (treated: shown outside the control
    group; control: the control group's counterfactual), store it, and score every customer
    into the CATE store. Offers with fewer than ``min_per_arm`` customers per arm are listed
    with the reason and keep an unknown τ.

    The reading and fitting run in a thread without a write transaction; only storing the
    result takes a turn to write, so decisions and events go on meanwhile."""
    db: Database = request.app.state.db
    training = await run_in_threadpool(service.prepare_request, db, body or TrainIn())
    async with db.write_turn():
        trained = await run_in_threadpool(db.run, service.store, training)
    return dict(trained)


@router.get("/v1/uplift/models")
def models(
    session: SessionDep, _: Reader, offer: Annotated[str | None, Query(max_length=200)] = None
) -> list[dict[str, Any]]:
    """Every stored model, newest first, with its evaluation."""
    return [dict(row) for row in service.models(session, offer)]


@router.get("/v1/uplift/report")
def report(
    session: SessionDep, _: Reader, offer: Annotated[str | None, Query(max_length=200)] = None
) -> dict[str, Any]:
    """Per offer: the live model's Qini (ours, scikit-uplift's and causalml's conventions),
    AUUC, uplift@30%, calibration by decile, the Qini curve and the segment mix."""
    return dict(service.report(session, offer))


@router.get("/v1/customers/{customer_id}/uplift")
def customer_uplift(
    request: Request,
    session: SessionDep,
    _: Annotated[Principal, Depends(allow("client", "author", "approver"))],
    customer_id: Annotated[str, Path(min_length=1, max_length=200)],
) -> dict[str, Any]:
    """The customer's τ and segment per offer. ``scored`` is false for an offer whose live
    model has not scored this customer yet: τ is then the offer's average (the customer is
    scored in the background after their first decision, or by the next bulk scoring)."""
    live = request.app.state.models.live()
    return dict(service.customer_uplift(session, customer_id, live))
