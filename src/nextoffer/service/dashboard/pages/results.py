"""The results: experiments, uplift (Qini curves, segments) and attach rates; and one
experiment's report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from .... import charts
from ...attach import service as attach
from ...experiments import service as experiments
from ...uplift import service as uplift
from ..views import page
from .common import Viewer, live, read

__all__ = ["router"]

router = APIRouter()


@router.get("/results")
def results(request: Request, who: Viewer) -> Response:
    """The experiments, the uplift models' evaluation and the live attach rates."""
    with read(request) as session:
        exps = experiments.list_experiments(session)
        report = uplift.report(session)
    images: dict[str, str] = {}
    for o in report["offers"]:
        if o["evaluation"].get("evaluated"):
            images[o["offer"]] = charts.svg_data_uri(charts.qini_figure(
                o["evaluation"]["curve"], f"Qini curve: {o['offer']} (held-out 30%)"))  # fmt: skip
    if report["offers"]:
        images["segments"] = charts.svg_data_uri(charts.segment_figure(
            {o["offer"]: o["segments"] for o in report["offers"]}, "Uplift segments per offer"))  # fmt: skip
    snapshot = live(request)
    rates = attach.attach_rates(snapshot)["rates"] if snapshot is not None else []
    shown = [
        {**r, "label": f"{r['level']}: {r['offer'] or r['category'] or 'all offers'}"}
        for r in rates
        if r["level"] in ("global", "category", "offer")
    ]
    if shown:
        images["attach"] = charts.svg_data_uri(charts.attach_figure(
            shown, "Attach rates (global, per category, per offer)"))  # fmt: skip
    return page(request, "results.html", "Results", who, experiments=exps, report=report,
                images=images, rates=rates, maturity=charts.MATURITY_COLOURS)  # fmt: skip


@router.get("/experiments/{experiment}")
def experiment(request: Request, who: Viewer,
               experiment: Annotated[str, Path(min_length=1, max_length=200)]) -> Response:  # fmt: skip
    """An experiment's report: lift in conversion, overall and per offer."""
    with read(request) as session:
        report = experiments.report(session, experiment)
    rows = [("all offers", report["overall"]), *report["offers"].items()]
    image = charts.svg_data_uri(charts.lift_figure(rows, f"{experiment}: lift in conversion"))
    return page(request, "experiment.html", f"Experiment {experiment}", who, r=report,
                rows=rows, image=image)  # fmt: skip
