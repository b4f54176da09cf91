"""The strategy experiments: the list (status, channels, arms), and an experiment's page:
its arms, the report per arm with a chart of conversion and of acceptance per arm (95%
intervals), each arm against the control group and the champion, and for approvers the
start, stop and promote buttons (four eyes: the service refuses the proposer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from .... import charts
from ...db import log_failure
from ...keys.service import Principal, require
from ...rules.service import self_approval
from ...strategy_experiments import service
from ...strategy_experiments.schemas import Status
from ..views import PREFIX, act, page
from .common import Id, Text, Viewer, read

__all__ = ["router"]

router = APIRouter()


@router.get("/strategies")
def strategy_list(request: Request, who: Viewer, status: Status | None = None) -> Response:
    """Every strategy experiment, newest first (or those of ``status``)."""
    with read(request) as session:
        rows = service.list_experiments(session, status)
    return page(request, "strategies.html", "Strategy experiments", who, rows=rows,
                shown=status)  # fmt: skip


def _page(request: Request, session: Session, who: Principal, experiment_id: str,
          min_per_arm: int = 50, status: int = 200, **context: Any) -> Response:  # fmt: skip
    x = service.get(session, experiment_id)
    report = service.report(session, experiment_id, min_per_arm=min_per_arm)
    rows = [*report["arms"], *([report["control"]] if report["control"] else [])]
    images: dict[str, str] = {}
    if any(r["customers"] for r in rows):
        images["conversion"] = charts.svg_data_uri(charts.strategy_arms_figure(
            rows, f"{experiment_id}: conversion per arm"))  # fmt: skip
        images["acceptance"] = charts.svg_data_uri(charts.strategy_arms_figure(
            rows, f"{experiment_id}: acceptance per arm", "acceptance"))  # fmt: skip
    proposer = x["proposer"] == who.id and not self_approval(session)
    return page(request, "strategy.html", f"Strategy experiment {experiment_id}", who, status,
                x=x, report=report, images=images, min_per_arm=min_per_arm,
                four_eyes=proposer, **context)  # fmt: skip


@router.get("/strategies/{experiment_id}")
def strategy(request: Request, who: Viewer, experiment_id: Id,
             min_per_arm: Annotated[int, Query(ge=1, le=1_000_000)] = 50) -> Response:  # fmt: skip
    with read(request) as session:
        return _page(request, session, who, experiment_id, min_per_arm)


def _act(request: Request, who: Principal, experiment_id: str, work: Any) -> Response:
    """An approver's change in its own transaction; then this worker's arms compiled again
    (the decisions that follow use them)."""
    response = act(request, work, lambda s, errors, status: _page(
        request, s, who, experiment_id, status=status, errors=errors))  # fmt: skip
    if response.status_code == 303:
        try:
            request.app.state.arms.refresh(True)
        except Exception as exc:  # the background check retries within its poll interval
            log_failure("compiling the strategy experiments' arms failed (retrying)", exc)
    return response


@router.post("/strategies/{experiment_id}/start")
def start(request: Request, who: Viewer, experiment_id: Id, reason: Text = "") -> Response:
    """Start a proposed experiment (an approver who did not propose it)."""

    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("approver",))
        service.start(session, who.id, experiment_id, reason)
        return f"{PREFIX}/strategies/{experiment_id}", f"started {experiment_id}"

    return _act(request, who, experiment_id, work)


@router.post("/strategies/{experiment_id}/stop")
def stop(request: Request, who: Viewer, experiment_id: Id, reason: Text = "") -> Response:
    """Stop a running experiment (an approver)."""

    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("approver",))
        service.stop(session, who.id, experiment_id, reason)
        return f"{PREFIX}/strategies/{experiment_id}", f"stopped {experiment_id}"

    return _act(request, who, experiment_id, work)


@router.post("/strategies/{experiment_id}/promote")
def promote(request: Request, who: Viewer, experiment_id: Id,
            arm: Annotated[str, Form(min_length=1, max_length=200)],
            reason: Annotated[str, Form(min_length=1, max_length=2000)]) -> Response:  # fmt: skip
    """Promote an arm (an approver who did not propose the experiment)."""

    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("approver",))
        done = service.promote(session, who.id, experiment_id, arm, reason)
        return (f"{PREFIX}/strategies/{experiment_id}",
                f"promoted {arm}: live in snapshot {done['promoted_version']}")  # fmt: skip

    return _act(request, who, experiment_id, work)
