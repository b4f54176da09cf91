"""Off-policy evaluation over HTTP: ``POST /v1/evaluations``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from ..errors import InvalidInput
from ..http import allow
from ..keys.service import Principal
from . import service
from .schemas import EvaluationIn

__all__ = ["router"]

router = APIRouter(tags=["evaluations"])
Reader = Annotated[Principal, Depends(allow("author", "approver"))]


@router.post("/v1/evaluations")
def evaluate(_: Reader, request: Request, body: EvaluationIn) -> dict[str, Any]:
    """What a target would have earned on the decisions logged in the last ``days`` (on
    ``channel``): a ``draft`` snapshot, a stored ``snapshot`` version, or (neither) the live
    snapshot. Per metric (acceptance per offer shown, revenue per decision) and estimator
    (IPS, SNIPS, DM, DR, switch-DR, DRos): the value with its 95% bootstrap interval, the
    effective sample size, the largest weight and the support's warnings, next to the
    logging strategy's own observed value; the decisions used and skipped, with reasons."""
    # a read-only transaction: replaying the logs takes a while, and on SQLite the request's
    # write transaction would hold the one write turn (every decision would wait meanwhile)
    with request.app.state.db.read() as session:
        return _evaluate(session, request, body)


def _evaluate(session: Session, request: Request, body: EvaluationIn) -> dict[str, Any]:
    if body.draft is not None and body.snapshot is not None:
        raise InvalidInput([{"field": name, "message": "give a draft or a snapshot version, not both"}
                            for name in ("draft", "snapshot")])  # fmt: skip
    kind: service.TargetKind = "live"
    if body.draft is not None:
        target, kind = service.draft_target(session, body.draft), "draft"
    elif body.snapshot is not None:
        target, kind = service.stored_target(session, body.snapshot), "snapshot"
    else:
        target = request.app.state.snapshots.get()
    result = service.evaluate(session, target, days=body.days, channel=body.channel,
                              now=service.ledger_now(session), seed=body.seed,
                              target_kind=kind)  # fmt: skip
    return dict(result)
