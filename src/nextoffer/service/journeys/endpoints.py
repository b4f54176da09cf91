"""Journeys over HTTP: ``/v1/journeys`` (definitions under four eyes, reports, simulation)
and ``/v1/customers/{id}/journeys``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ...core.decision import Snapshot
from ..http import SessionDep, allow
from ..keys.service import Principal
from . import service
from .schemas import ReviewIn, SimulateIn

router = APIRouter(tags=["journeys"])
JourneyId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]
ProposalId = Annotated[str, Path(min_length=1, max_length=36)]
Author = Annotated[Principal, Depends(allow("author"))]
Approver = Annotated[Principal, Depends(allow("approver"))]
READERS = Depends(allow("author", "approver"))


class JourneyProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any]  # a journey definition (JSON; the CLI reads YAML too)
    reason: Annotated[str, Field(max_length=2000)] = ""


class RestoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Annotated[int, Field(ge=1, le=1_000_000)]
    reason: Annotated[str, Field(max_length=2000)] = ""


@router.get("/v1/journeys", dependencies=[READERS])
def list_journeys(session: SessionDep) -> list[dict[str, Any]]:
    """Every journey: its live version, versions, customers in it, open proposals."""
    return [dict(j) for j in service.list_journeys(session)]


@router.post("/v1/journeys/proposals", status_code=201)
def propose(session: SessionDep, who: Author, body: JourneyProposalIn) -> dict[str, Any]:
    """Propose a journey definition (a new journey, or a new version of one), checked
    against the live catalog; an approver publishes it."""
    return dict(service.propose(session, who.id, body.definition, body.reason))


@router.get("/v1/journeys/proposals", dependencies=[READERS])
def proposals(
    session: SessionDep, status: Literal["open", "approved", "rejected", "all"] = "open"
) -> list[dict[str, Any]]:
    return [dict(p) for p in service.list_proposals(session, None if status == "all" else status)]


@router.post("/v1/journeys/proposals/{proposal_id}/publish")
def publish(
    session: SessionDep, who: Approver, proposal_id: ProposalId, body: ReviewIn | None = None
) -> dict[str, Any]:
    """Publish a proposal as the journey's next version, live for new entries (four eyes:
    not by its author). Customers in the journey stay on the version they entered with."""
    return dict(service.approve(session, who.id, proposal_id, (body or ReviewIn()).reason))


@router.post("/v1/journeys/proposals/{proposal_id}/reject")
def reject(
    session: SessionDep, who: Approver, proposal_id: ProposalId, body: ReviewIn
) -> dict[str, Any]:
    return dict(service.reject(session, who.id, proposal_id, body.reason))


@router.get("/v1/journeys/{journey_id}", dependencies=[READERS])
def get_journey(session: SessionDep, journey_id: JourneyId) -> dict[str, Any]:
    """The journey's live definition, every version and its proposals."""
    return dict(service.get_journey(session, journey_id))


@router.post("/v1/journeys/{journey_id}/restore")
def restore(
    session: SessionDep, who: Approver, journey_id: JourneyId, body: RestoreIn
) -> dict[str, Any]:
    """Publish a new version equal to an earlier one."""
    return dict(service.restore(session, who.id, journey_id, body.version, body.reason))


@router.get("/v1/journeys/{journey_id}/report", dependencies=[READERS])
def report(session: SessionDep, journey_id: JourneyId) -> dict[str, Any]:
    """Per step: entered, waiting, advanced, exited by reason, median time in step; exits by
    reason; the entrants against the journey's holdout."""
    return dict(service.report(session, journey_id))


@router.post("/v1/journeys/{journey_id}/simulate", dependencies=[READERS])
def simulate(
    session: SessionDep, request: Request, journey_id: JourneyId, body: SimulateIn,
    response: Response,
) -> dict[str, Any]:  # fmt: skip
    """A customer and a timed sequence of events in; the path and the decisions out.
    Nothing is written."""
    snapshot: Snapshot = request.app.state.snapshots.get()
    response.headers["Cache-Control"] = "no-store"
    return dict(service.simulate(session, snapshot, journey_id, body))


@router.get(
    "/v1/customers/{customer_id}/journeys",
    dependencies=[Depends(allow("client", "author", "approver"))],
)
def customer_journeys(session: SessionDep, customer_id: str) -> dict[str, Any]:
    """Where the customer is in each journey they entered, and the path so far."""
    return {"customer_id": customer_id,
            "journeys": [dict(e) for e in service.customer_journeys(session, customer_id)]}  # fmt: skip
