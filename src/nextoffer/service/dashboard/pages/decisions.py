"""The decisions: the latest (of one customer, if asked, with the journeys they are in), and a
decision's trace (with its customer's journeys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from ...decisions import service as decisions
from .. import service
from ..views import page
from .common import Viewer, read

__all__ = ["router"]

router = APIRouter()


@router.get("/decisions")
def decision_list(request: Request, who: Viewer,
                  customer: Annotated[str, Query(max_length=200)] = "") -> Response:  # fmt: skip
    """The latest decisions, or the latest of ``customer`` and the journeys they entered."""
    customer = customer.strip()
    with read(request) as session:
        rows = service.decisions_of(session, customer or None)
        enrolled = service.customer_journeys(session, customer) if customer else []
    return page(request, "decisions.html", "Decisions", who, rows=rows, customer=customer,
                enrolled=enrolled, journeys_customer=customer)  # fmt: skip


@router.get("/decisions/{decision_id}")
def decision(request: Request, who: Viewer,
             decision_id: Annotated[str, Path(max_length=36)]) -> Response:  # fmt: skip
    """A decision: what was offered, and where each candidate left the funnel and why; the
    journeys its customer entered."""
    with read(request) as session:
        d = decisions.get(session, decision_id)
        customer = d["customer_id"]
        enrolled = service.customer_journeys(session, customer) if customer is not None else []
    return page(request, "decision.html", "Decision", who, d=d, funnel=service.funnel(d["trace"]),
                enrolled=enrolled, journeys_customer=customer)  # fmt: skip
