"""Rule governance over HTTP: ``/v1/proposals`` and ``/v1/rules``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ...core.decision import Snapshot
from ...core.request import Request as DecisionRequest
from ..errors import NotFound, validated
from ..http import SessionDep, allow
from ..keys.service import Principal
from . import service
from .schemas import ProposalIn, ReviewIn

router = APIRouter(tags=["rules"])
RuleId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]
ProposalId = Annotated[str, Path(min_length=1, max_length=36)]
Author = Annotated[Principal, Depends(allow("author"))]
Approver = Annotated[Principal, Depends(allow("approver"))]


def live_or_none(request: Request) -> Snapshot | None:
    """The worker's live snapshot, or None before the first publish."""
    try:
        snapshot: Snapshot = request.app.state.snapshots.get()
    except NotFound:
        return None
    return snapshot


class RestoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revision: Annotated[int, Field(ge=1, le=1_000_000)]
    reason: Annotated[str, Field(max_length=2000)] = ""


class ActivateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revision: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


@router.post("/v1/proposals", status_code=201)
def propose(
    session: SessionDep, who: Author, body: ProposalIn, response: Response
) -> dict[str, Any]:
    """Propose a rule (mined or written); the same trigger and offers again update its statistics."""
    result = service.propose(session, who.id, body)
    if result["updated"]:
        response.status_code = 200
    return dict(result)


@router.get("/v1/proposals", dependencies=[Depends(allow("author", "approver"))])
def proposals(session: SessionDep,
              status: Literal["open", "approved", "rejected", "superseded", "all"] = "open") -> list[dict[str, Any]]:  # fmt: skip
    return [dict(p) for p in service.list_proposals(session, None if status == "all" else status)]


@router.post("/v1/proposals/{proposal_id}/approve")
def approve(session: SessionDep, who: Approver, proposal_id: ProposalId,
            body: Annotated[ReviewIn | None, Body()] = None) -> dict[str, Any]:  # fmt: skip
    """Approve: the rule's new revision goes live within a second. Edits of the trigger,
    offers or priority make a new proposal by the editor instead (``live: false``, its id in
    ``proposal``), which someone else approves; a description edit is approved with it."""
    return dict(service.approve(session, who.id, proposal_id, body or ReviewIn()))


@router.post("/v1/proposals/{proposal_id}/reject")
def reject(session: SessionDep, who: Approver, proposal_id: ProposalId,
           body: ReviewIn) -> dict[str, Any]:  # fmt: skip
    return dict(service.reject(session, who.id, proposal_id, body))


Days = Annotated[int, Query(ge=1, le=3650)]


@router.post(
    "/v1/proposals/{proposal_id}/backtest", dependencies=[Depends(allow("author", "approver"))]
)
def backtest_proposal(request: Request, session: SessionDep, proposal_id: ProposalId,
                      days: Days = 30) -> dict[str, Any]:  # fmt: skip
    """Replay the last ``days`` of requests with the proposal in place: fires, offers added and
    pushed out, change in expected value per request with a 95% bootstrap interval."""
    live = request.app.state.snapshots.get()
    return dict(service.backtest_draft(session, live, proposal_id=proposal_id, days=days))


@router.post("/v1/rules/{rule_id}/revisions/{revision}/backtest",
             dependencies=[Depends(allow("author", "approver"))])  # fmt: skip
def backtest_revision(request: Request, session: SessionDep, rule_id: RuleId,
                      revision: Annotated[int, Path(ge=1, le=1_000_000)], days: Days = 30) -> dict[str, Any]:  # fmt: skip
    live = request.app.state.snapshots.get()
    return dict(
        service.backtest_draft(session, live, rule_id=rule_id, revision=revision, days=days)
    )


@router.post(
    "/v1/proposals/{proposal_id}/dry-run", dependencies=[Depends(allow("author", "approver"))]
)
def dry_run(request: Request, session: SessionDep, proposal_id: ProposalId,
            body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:  # fmt: skip
    """One decision with the proposal in place, with its trace; nothing is recorded."""
    candidate = service.draft_snapshot(session, request.app.state.snapshots.get(), proposal_id)
    return service.dry_run(candidate, validated(DecisionRequest, body))


@router.get("/v1/rules", dependencies=[Depends(allow("author", "approver"))])
def rules(request: Request, session: SessionDep) -> list[dict[str, Any]]:
    """Every rule; ``needs_attention`` (else null) when the live snapshot holds it disabled
    (published before a check that now refuses its trigger: it never fires)."""
    return [dict(r) for r in service.list_rules(session, live_or_none(request))]


@router.get("/v1/rules/{rule_id}/history", dependencies=[Depends(allow("author", "approver"))])
def history(session: SessionDep, rule_id: RuleId) -> dict[str, Any]:
    """Every revision (author, time, reason) and every governance action on the rule."""
    return dict(service.history(session, rule_id))


@router.get("/v1/rules/{rule_id}/diff", dependencies=[Depends(allow("author", "approver"))])
def diff(session: SessionDep, rule_id: RuleId, a: Annotated[int, Query(ge=1, le=1_000_000)],
         b: Annotated[int, Query(ge=1, le=1_000_000)]) -> dict[str, Any]:  # fmt: skip
    return dict(service.diff(session, rule_id, a, b))


@router.post("/v1/rules/{rule_id}/restore")
def restore(session: SessionDep, who: Approver, rule_id: RuleId, body: RestoreIn) -> dict[str, Any]:
    """A new revision equal to an old one, live within a second."""
    return dict(service.restore(session, who.id, rule_id, body.revision, body.reason))


@router.post("/v1/rules/{rule_id}/activate")
def activate(session: SessionDep, who: Approver, rule_id: RuleId,
             body: Annotated[ActivateIn | None, Body()] = None) -> dict[str, Any]:  # fmt: skip
    return dict(
        service.activate(session, who.id, rule_id, body.revision if body else None, on=True)
    )


@router.post("/v1/rules/{rule_id}/deactivate")
def deactivate(session: SessionDep, who: Approver, rule_id: RuleId) -> dict[str, Any]:
    return dict(service.activate(session, who.id, rule_id, None, on=False))
