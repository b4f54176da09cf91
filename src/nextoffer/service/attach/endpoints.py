"""Attach rates over HTTP: ``GET /v1/attach-rates`` and ``POST /v1/attach-rates/refresh``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from ..http import SessionDep, allow
from ..keys.service import Principal
from . import service

router = APIRouter(tags=["attach rates"])
Reader = Annotated[Principal, Depends(allow("author", "approver"))]


@router.get("/v1/attach-rates")
def attach_rates(
    request: Request,
    _: Reader,
    interval: Annotated[float, Query(gt=0, lt=1, description="Credible interval level.")] = 0.9,
) -> dict[str, Any]:
    """Every attach rate the engine uses (global, per category, offer, rule × offer and offer ×
    channel): counts, the raw rate, the shrunk estimate p, its parent, a credible interval
    and a maturity label (cold start, immature, maturing, mature)."""
    return dict(service.attach_rates(request.app.state.snapshots.get(), interval))


@router.post("/v1/attach-rates/refresh")
def refresh(session: SessionDep, who: Reader) -> dict[str, Any]:
    """Count the ledger's events since the last refresh now; when the counts changed,
    publish them in a new snapshot that is the live one with the new counts (pending
    catalog edits stay pending)."""
    return dict(service.refresh(session, actor=who.id))
