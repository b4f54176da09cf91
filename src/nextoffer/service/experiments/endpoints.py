"""Experiment reports over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from ..http import SessionDep, allow
from ..keys.service import Principal
from ..uplift.schemas import LOOKBACK_DAYS, WINDOW_DAYS
from . import service

router = APIRouter(tags=["experiments"])
Reader = Annotated[Principal, Depends(allow("author", "approver"))]


@router.get("/v1/experiments")
def experiments(session: SessionDep, _: Reader) -> list[dict[str, Any]]:
    """Every experiment the ledger's decisions name, with their counts and time span."""
    return [dict(row) for row in service.list_experiments(session)]


@router.get("/v1/experiments/{experiment}/report")
def report(
    session: SessionDep,
    _: Reader,
    experiment: Annotated[str, Path(min_length=1, max_length=200)],
    window_days: Annotated[int, Query(ge=1, le=3650)] = WINDOW_DAYS,
    lookback_days: Annotated[int, Query(ge=1, le=3650)] = LOOKBACK_DAYS,
    min_per_arm: Annotated[int, Query(ge=1, le=1_000_000)] = 50,
) -> dict[str, Any]:
    """Treatment against control, overall and per offer: conversion per arm with Wilson 95%
    intervals, absolute and relative lift, the pooled two-proportion z-test (two-sided p),
    incremental revenue per customer and in total with Welch and bootstrap intervals, and
    an insufficient-data flag."""
    result = service.report(session, experiment, window_days=window_days,
                            lookback_days=lookback_days, min_per_arm=min_per_arm)  # fmt: skip
    return dict(result)
