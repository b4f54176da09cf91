"""The proposals inbox and a proposal's page: approve (with edits), reject, backtest."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from ...errors import InvalidInput, ServiceError, validated
from ...keys.service import Principal, require
from ...rules import service as rules
from ...rules.schemas import ReviewIn
from .. import service
from ..views import PREFIX, act, errors_of, page
from .common import Text, Viewer, live, offers_of, priority_of, read

__all__ = ["router"]

router = APIRouter()
ProposalId = Annotated[str, Path(max_length=36)]


def _float(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        return math.nan
    return number


@router.get("/proposals")
def proposals(
    request: Request,
    who: Viewer,
    status: Annotated[str, Query(pattern="^(open|approved|rejected|superseded|all)$")] = "open",
    sort: Annotated[str, Query(pattern="^(lift|confidence|support|expected_value|significance|created)$")] = "lift",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    min_lift: Annotated[str | None, Query(max_length=40)] = None,
    min_confidence: Annotated[str | None, Query(max_length=40)] = None,
    min_support: Annotated[str | None, Query(max_length=40)] = None,
    max_q: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:  # fmt: skip
    """The inbox: proposals filtered by status, thresholds and text, sorted."""
    given = {"min_lift": min_lift, "min_confidence": min_confidence, "min_support": min_support,
             "max_q": max_q}  # fmt: skip
    numbers = {k: _float(v) for k, v in given.items()}
    errors = [{"field": k, "message": f"expected a number, got {given[k]!r}"}
              for k, v in numbers.items() if v is not None and math.isnan(v)]  # fmt: skip
    if errors:
        raise InvalidInput(errors)
    f = service.InboxFilter(status=status, sort=sort, descending=order == "desc", text=q, **numbers)
    with read(request) as session:
        rows = service.inbox(session, live(request), f)
    return page(request, "proposals.html", "Proposals", who, rows=rows, f=f, given=given,
                sorts=service.SORTS)  # fmt: skip


def _proposal_page(request: Request, session: Session, who: Principal, proposal_id: str,
                   status: int = 200, **context: Any) -> Response:  # fmt: skip
    proposal = rules.get_proposal(session, proposal_id)
    row: service.ValuedProposal = {
        **proposal,
        "expected_value": service.proposal_value(proposal, live(request)),
    }
    draft = context.pop("draft", None) or {
        "trigger": row["text"], "offers": ", ".join(row["offers"]),
        "priority": row["priority"], "description": row["description"]}  # fmt: skip
    four_eyes = row["author"] == who.id and not rules.self_approval(session)
    return page(request, "proposal.html", f"Proposal for {row['rule_id']}", who, status,
                p=row, draft=draft, four_eyes=four_eyes, **context)  # fmt: skip


@router.get("/proposals/{proposal_id}")
def proposal(request: Request, who: Viewer, proposal_id: ProposalId) -> Response:
    """A proposal's page: its rule, its statistics, and the approve and reject forms."""
    with read(request) as session:
        return _proposal_page(request, session, who, proposal_id)


@router.post("/proposals/{proposal_id}/approve")
def approve(request: Request, who: Viewer, proposal_id: ProposalId,
            trigger: Text, offers: Text, priority: Annotated[str, Form(max_length=20)],
            description: Text = "", reason: Text = "") -> Response:  # fmt: skip
    """Approve a proposal (an approver), with the form's edits; an edit of what the rule
    does becomes a new proposal for another approver."""
    draft = {"trigger": trigger, "offers": offers, "priority": priority, "description": description}

    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("approver",))
        row = rules.get_proposal(session, proposal_id)
        edits: dict[str, Any] = {}
        if trigger.strip() != row["text"]:
            edits["trigger"] = trigger.strip()
        if offers_of(offers) != row["offers"]:
            edits["offers"] = offers_of(offers)
        number = priority_of(priority)
        if number != row["priority"]:
            edits["priority"] = number
        if description != row["description"]:
            edits["description"] = description
        body = {"reason": reason, **({"edits": edits} if edits else {})}
        done = rules.approve(session, who.id, proposal_id, validated(ReviewIn, body))
        if not done["live"]:  # an edit of what the rule does: a new proposal, for someone else
            return (f"{PREFIX}/proposals/{done['proposal']}",
                    f"your edits to {', '.join(done['edits'])} are a new proposal: another approver approves it")  # fmt: skip
        if done.get("statistics_only"):
            return (
                f"{PREFIX}/rules/{done['rule_id']}",
                f"approved new statistics for {done['rule_id']}",
            )
        edited = " with edits to " + ", ".join(sorted(edits)) if edits else ""
        return (f"{PREFIX}/rules/{done['rule_id']}",
                f"approved{edited}: {done['rule_id']} v{done['revision']} is live (snapshot {done['snapshot']})")  # fmt: skip

    return act(request, work, lambda s, errors, status: _proposal_page(
        request, s, who, proposal_id, status, errors=errors, draft=draft, reason=reason))  # fmt: skip


@router.post("/proposals/{proposal_id}/reject")
def reject(request: Request, who: Viewer, proposal_id: ProposalId,
           reason: Text = "") -> Response:  # fmt: skip
    """Reject a proposal (an approver), with a reason."""

    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("approver",))
        rules.reject(session, who.id, proposal_id, validated(ReviewIn, {"reason": reason}))
        return f"{PREFIX}/proposals", f"rejected the proposal: {reason}"

    return act(request, work, lambda s, errors, status: _proposal_page(
        request, s, who, proposal_id, status, errors=errors, reject_reason=reason))  # fmt: skip


@router.post("/proposals/{proposal_id}/backtest")
def backtest_proposal(request: Request, who: Viewer, proposal_id: ProposalId,
                      days: Annotated[int, Form(ge=1, le=3650)] = 30) -> Response:  # fmt: skip
    """The proposal's page with what the proposed rule would have done over ``days``."""
    with read(request) as session:
        try:
            result = rules.backtest_draft(session, request.app.state.snapshots.get(),
                                          proposal_id=proposal_id, days=days)  # fmt: skip
        except ServiceError as exc:
            return _proposal_page(request, session, who, proposal_id, exc.status,
                                  errors=errors_of(exc))  # fmt: skip
        return _proposal_page(request, session, who, proposal_id, backtest=result)
