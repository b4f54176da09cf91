"""The journeys: the list (live version, customers in each, open proposals), and a
journey's page: its graph of steps with the customers at and through each, the funnel, the
exits by reason and the comparison with its holdout."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from .... import charts
from ...errors import NotFound
from ...journeys import service as journeys
from ...journeys.schemas import JourneyOut
from .. import graph
from ..views import page
from .common import Id, Viewer, read

__all__ = ["router"]

router = APIRouter()


@router.get("/journeys")
def journey_list(request: Request, who: Viewer) -> Response:
    """Every journey: its live version, the customers in it now, its open proposals."""
    with read(request) as session:
        rows = journeys.list_journeys(session)
    return page(request, "journeys.html", "Journeys", who, rows=rows)


def _drawn(j: JourneyOut, version: int | None) -> tuple[str, dict[str, Any] | None]:
    """Which definition the graph draws, and it: ``version`` if asked for, else the live
    one, else the newest version, else the newest proposal."""
    if version is not None:
        found = next((v for v in j["versions"] if v["version"] == version), None)
        if found is None:
            raise NotFound(f"journey {j['id']!r} has no version {version}")
        live = " (live)" if version == j["live_version"] else ""
        return f"version {version}{live}", found["definition"]
    if j["definition"] is not None:
        return f"version {j['live_version']} (live)", j["definition"]
    if j["versions"]:
        newest = j["versions"][-1]
        return f"version {newest['version']} (none is live)", newest["definition"]
    if j["proposals"]:
        return "the newest proposal (not published)", j["proposals"][-1]["definition"]
    return "", None


@router.get("/journeys/{journey_id}")
def journey(request: Request, who: Viewer, journey_id: Id,
            version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> Response:  # fmt: skip
    """A journey: the graph of its steps with the customers at each now and through it,
    the funnel, the exits by reason and the holdout comparison (the report's numbers, over
    every version), its versions and proposals."""
    with read(request) as session:
        j = journeys.get_journey(session, journey_id)
        report = journeys.report(session, journey_id) if j["versions"] else None
    drawn, definition = _drawn(j, version)
    steps = report["steps"] if report else []
    counts = {s["step"]: (s["waiting"], s["entered"]) for s in steps}
    images: dict[str, str] = {}
    if report and any(s["entered"] for s in steps):
        images["funnel"] = charts.svg_data_uri(charts.funnel_figure(
            steps, f"{journey_id}: customers through each step"))  # fmt: skip
    if report and report["exits"]:
        ranked = sorted(report["exits"].items(), key=lambda kv: (-kv[1], kv[0]))
        exits = {reason: float(n) for reason, n in ranked}
        images["exits"] = charts.svg_data_uri(charts.bars_figure(
            exits, f"{journey_id}: exits by reason", "customers"))  # fmt: skip
    comparison = report["comparison"] if report else None
    if comparison and comparison["treatment"]["customers"] and comparison["control"]["customers"]:
        images["comparison"] = charts.svg_data_uri(charts.arms_figure(
            comparison, f"{journey_id}: conversion, entrants against the holdout"))  # fmt: skip
    described = {s["id"]: graph.describe(s) for v in j["versions"]
                 for s in v["definition"].get("steps", ())}  # fmt: skip
    if definition is not None:
        described.update({s["id"]: graph.describe(s) for s in definition.get("steps", ())})
    conditions = [(c["reason"], graph.condition_text(c["condition"]))
                  for c in (definition or {}).get("exit_conditions", ())]  # fmt: skip
    entry = (definition or {}).get("entry") or {}
    return page(
        request, "journey.html", f"Journey {journey_id}", who, j=j, report=report,
        definition=definition, drawn=drawn, version=version,
        g=graph.layout(definition, counts) if definition else None, images=images,
        described=described, conditions=conditions,
        entry_condition=graph.condition_text(entry["condition"]) if "condition" in entry else "",
        segment=graph.condition_text(entry["segment"]) if entry.get("segment") else "",
        open_proposals=[p for p in j["proposals"] if p["status"] == "open"],
    )  # fmt: skip
