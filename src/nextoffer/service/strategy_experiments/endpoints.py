"""Strategy experiments over HTTP: ``/v1/strategy-experiments`` (definitions under four
eyes, start, stop, promote, the report per arm).

Starting, stopping and promoting commit in a transaction of their own before they answer,
then compile the running experiments' arms on this worker (``ArmCache.refresh``, in a
thread): the decisions that follow the answer use them. Other workers pick them up within
their poll interval (the same as a publish)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from ..db import Database, log_failure
from ..errors import NotFound
from ..http import SessionDep, allow
from ..keys.service import Principal
from . import service
from .arms import ArmCache
from .schemas import ActIn, PromoteIn, ProposeIn, Status

router = APIRouter(tags=["strategy experiments"])
log = logging.getLogger("nextoffer.experiments")
ExperimentId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Proposer = Annotated[Principal, Depends(allow("author", "approver"))]
Approver = Annotated[Principal, Depends(allow("approver"))]
READERS = Depends(allow("author", "approver"))


async def _act(request: Request, job: Any, *args: Any) -> dict[str, Any]:
    """``job(session, *args)`` committed in its own transaction, then this worker's arms
    compiled again."""
    db: Database = request.app.state.db
    async with db.write_turn():
        done = await run_in_threadpool(db.run, job, *args)
    arms: ArmCache = request.app.state.arms
    try:
        await run_in_threadpool(arms.refresh, True)
    except NotFound:  # pragma: no cover - an experiment started on a published snapshot
        pass
    except Exception as exc:  # the background check retries within its poll interval
        log_failure("compiling the strategy experiments' arms failed (retrying)", exc)
    return dict(done)


@router.get("/v1/strategy-experiments", dependencies=[READERS])
def list_experiments(session: SessionDep, status: Status | None = None) -> list[dict[str, Any]]:
    """Every strategy experiment (or those of ``status``), newest first."""
    return [dict(e) for e in service.list_experiments(session, status)]


@router.post("/v1/strategy-experiments", status_code=201)
def propose(session: SessionDep, who: Proposer, body: ProposeIn) -> dict[str, Any]:
    """Propose an experiment: ``{id, channels, arms: [{name, share, strategy | snapshot}]}``,
    the shares summing to 1, each arm a strategy (``scoring`` with weights, ``exploration``)
    for the channels or a whole snapshot (a stored version, or ``live``: the champion).
    Checked against the live snapshot; every problem names its field. An approver who did
    not propose it starts it."""
    return dict(service.propose(session, who.id, body.definition, body.reason))


@router.get("/v1/strategy-experiments/{experiment_id}", dependencies=[READERS])
def get(session: SessionDep, experiment_id: ExperimentId) -> dict[str, Any]:
    return dict(service.get(session, experiment_id))


@router.post("/v1/strategy-experiments/{experiment_id}/start")
async def start(
    request: Request, who: Approver, experiment_id: ExperimentId, body: ActIn | None = None
) -> dict[str, Any]:
    """Start a proposed experiment (four eyes: not by the one who proposed it). At most one
    experiment runs on a channel."""
    reason = (body or ActIn()).reason
    return await _act(request, service.start, who.id, experiment_id, reason)


@router.post("/v1/strategy-experiments/{experiment_id}/stop")
async def stop(
    request: Request, who: Approver, experiment_id: ExperimentId, body: ActIn | None = None
) -> dict[str, Any]:
    """Stop a running experiment: its customers go back to the live snapshot."""
    reason = (body or ActIn()).reason
    return await _act(request, service.stop, who.id, experiment_id, reason)


@router.post("/v1/strategy-experiments/{experiment_id}/promote")
async def promote(
    request: Request, who: Approver, experiment_id: ExperimentId, body: PromoteIn
) -> dict[str, Any]:
    """Promote an arm (four eyes: not by the one who proposed the experiment; never
    automatic): its strategy, or its snapshot, is published as the new live snapshot (the
    champion: the live one stays), and the experiment ends."""
    return await _act(request, service.promote, who.id, experiment_id, body.arm, body.reason)


@router.get("/v1/strategy-experiments/{experiment_id}/report", dependencies=[READERS])
def report(
    session: SessionDep,
    experiment_id: ExperimentId,
    min_per_arm: Annotated[int, Query(ge=1, le=1_000_000)] = 50,
) -> dict[str, Any]:
    """Per arm: decisions, customers, acceptance and conversion with Wilson intervals,
    revenue per decision; each arm against the holdout's control group and each challenger
    against the champion (``core.stats.compare``); small arms flagged insufficient_data."""
    return dict(service.report(session, experiment_id, min_per_arm=min_per_arm))
