"""Uplift over HTTP: train from the ledger, models, the report, a customer's estimates."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from starlette.concurrency import run_in_threadpool

from ...core.learning.segments import Thresholds
from ..db import Database
from ..http import SessionDep, allow
from ..keys.service import Principal
from . import service

router = APIRouter(tags=["uplift"])
Reader = Annotated[Principal, Depends(allow("author", "approver"))]


class TrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offer: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    method: Literal["t-learner", "x-learner"] = "x-learner"
    outcome: Literal["conversion", "value"] = "conversion"
    window_days: Annotated[int, Field(ge=1, le=3650)] = service.WINDOW_DAYS
    lookback_days: Annotated[int, Field(ge=1, le=3650)] = service.LOOKBACK_DAYS
    min_per_arm: Annotated[int, Field(ge=2, le=1_000_000)] = service.MIN_PER_ARM
    bootstrap: Annotated[int, Field(ge=0, le=200)] = 30
    persuade: Annotated[float, Field(ge=-1, le=1, description="τ above it: persuadable.")] = 0.05
    harm: Annotated[
        float, Field(ge=-1, le=1, validate_default=True, description="τ below it: harmed.")
    ] = -0.05
    high_base_rate: Annotated[
        float, Field(ge=0, le=1, description="A base rate at or above it is high.")
    ] = 0.2

    @field_validator("harm")
    @classmethod
    def _ordered(cls, harm: float, info: ValidationInfo) -> float:
        persuade = info.data.get("persuade")
        if persuade is not None and harm > persuade:
            raise ValueError(f"must not exceed persuade ({persuade})")
        return harm


@router.post("/v1/uplift/train")
async def train(request: Request, _: Reader, body: TrainIn | None = None) -> dict[str, Any]:
    """Train an uplift model per offer from the ledger (treated: shown outside the control
    group; control: the control group's counterfactual), store it, and score every customer
    into the CATE store. Offers with fewer than ``min_per_arm`` customers per arm are listed
    with the reason and keep an unknown τ.

    The reading and fitting run in a thread without a write transaction; only storing the
    result takes a turn to write, so decisions and events go on meanwhile."""
    b = body or TrainIn()
    db: Database = request.app.state.db
    training = await run_in_threadpool(
        functools.partial(
            service.prepare, db, offer=b.offer, method=b.method, outcome=b.outcome,
            window_days=b.window_days, lookback_days=b.lookback_days, min_per_arm=b.min_per_arm,
            n_bootstrap=b.bootstrap, thresholds=Thresholds(b.persuade, b.harm, b.high_base_rate),
        )
    )  # fmt: skip
    async with db.write_turn():
        return await run_in_threadpool(db.run, service.store, training)


@router.get("/v1/uplift/models")
def models(
    session: SessionDep, _: Reader, offer: Annotated[str | None, Query(max_length=200)] = None
) -> list[dict[str, Any]]:
    """Every stored model, newest first, with its evaluation."""
    return service.models(session, offer)


@router.get("/v1/uplift/report")
def report(
    session: SessionDep, _: Reader, offer: Annotated[str | None, Query(max_length=200)] = None
) -> dict[str, Any]:
    """Per offer: the live model's Qini (ours, scikit-uplift's and causalml's conventions),
    AUUC, uplift@30%, calibration by decile, the Qini curve and the segment mix."""
    return service.report(session, offer)


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
    estimates = service.customer_estimates(session, customer_id, request.app.state.models.live())
    cate, segments, unscored = estimates.cate, estimates.segments, set(estimates.unscored)
    return {"customer_id": customer_id,
            "offers": [{"offer": o, "tau": cate.get(o), "segment": segments.get(o),
                        "scored": o not in unscored}
                       for o in sorted(set(cate) | set(segments))]}  # fmt: skip
