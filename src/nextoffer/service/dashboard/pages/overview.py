"""The overview: decisions per second, acceptance, expected value served and the top rules'
firings over a window, drawn on the server."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from .... import charts
from .. import service
from ..views import page
from .common import Viewer, read

__all__ = ["router"]

router = APIRouter()


@router.get("")
def overview(request: Request, who: Viewer,
             window: Annotated[str, Query(pattern="^(1h|24h|7d|30d)$")] = "24h") -> Response:  # fmt: skip
    """The overview page over ``window`` (1h, 24h, 7d, 30d)."""
    with read(request) as session:
        o = service.overview(session, window)
    images = {}
    if o.decisions:
        s = o.series
        images["rate"] = charts.svg_data_uri(
            charts.series_figure(
                s.times,
                {"decisions/s": s.decisions_per_second},
                "Decisions per second",
                "per second",
            )
        )
        images["acceptance"] = charts.svg_data_uri(
            charts.series_figure(
                s.times,
                {"acceptance": [a * 100 for a in s.acceptance]},
                "Acceptance (accepts / impressions)",
                "%",
            )
        )
        images["ev"] = charts.svg_data_uri(
            charts.series_figure(
                s.times, {"EV served": s.ev_served}, "Expected value served", "EV per bucket"
            )
        )
        if s.rules:
            images["rules"] = charts.svg_data_uri(charts.series_figure(
                s.times, s.rules, "Top rules: firings per bucket", "firings"))  # fmt: skip
    return page(request, "overview.html", "Overview", who, o=o, images=images,
                windows=list(service.WINDOWS))  # fmt: skip
