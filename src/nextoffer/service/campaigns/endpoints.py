"""Campaigns over HTTP: ``POST /v1/campaigns`` decides every customer of a list or a
segment (at most ``MAX_API_CUSTOMERS``; larger ones: ``nextoffer campaign run``) and
answers with the send list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ..db import Database
from ..http import allow
from ..keys.service import Principal
from . import service
from .schemas import CampaignIn

router = APIRouter(tags=["campaigns"])
Runner = Annotated[Principal, Depends(allow("author", "approver"))]


@router.post("/v1/campaigns")
async def run_campaign(request: Request, who: Runner, body: CampaignIn) -> dict[str, Any]:
    """Decide every customer of ``customers`` (ids) or ``segment`` (a condition over the
    stored customers) on ``channel`` (``placements``: these, or all of the channel's),
    through the decision path, at the server's time. Each decision is keyed by the campaign's
    ``name`` and the customer: sent again, the same campaign decides only the customers not
    decided yet, and answers with every customer's send (control-group customers are marked
    and sent nothing)."""
    app = request.app
    db: Database = app.state.db
    campaign = service.Campaign(
        body.name, body.channel, tuple(body.placements), body.customers, body.segment
    )
    async with db.write_turn():
        result = await run_in_threadpool(
            service.run_bounded, db, app.state.snapshots, app.state.models, campaign,
            app.state.clock.now(),
        )  # fmt: skip
    return dict(result)
