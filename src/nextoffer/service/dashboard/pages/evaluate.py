"""Evaluate: what a stored snapshot version, or a draft pasted or uploaded, would have earned
on the logged decisions (off-policy estimates side by side, with their intervals, the
support's diagnostics and the live strategy's observed value)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from .... import charts
from ....core.decision import Snapshot
from ...errors import InvalidInput, ServiceError
from ...evaluation import service as evaluation
from ...evaluation.schemas import DAYS, MAX_DAYS, Evaluation
from ...keys.service import Principal
from ..views import errors_of, page
from .common import Viewer, live, read

__all__ = ["router"]

router = APIRouter()
MAX_DRAFT = 2_000_000  # characters of a pasted or uploaded draft
TITLES = {"acceptance": "Acceptance rate (accepted per offer shown)",
          "revenue": "Revenue per decision (conversion value)"}  # fmt: skip


def _page(
    request: Request,
    who: Principal,
    form: dict[str, Any],
    result: Evaluation | None = None,
    errors: list[dict[str, str]] | None = None,
    status: int = 200,
) -> Response:
    with read(request) as session:
        versions = evaluation.versions(session)
    snapshot = live(request)
    channels = sorted(snapshot.channels) if snapshot is not None else []
    images: dict[str, str] = {}
    if result is not None:
        for name, metric in result["metrics"].items():
            if metric["estimates"]:
                images[name] = charts.svg_data_uri(charts.estimates_figure(
                    metric["estimates"], metric["observed"], TITLES[name],
                    f"{TITLES[name].lower()}, {result['confidence']:.0%} interval"))  # fmt: skip
    return page(request, "evaluate.html", "Evaluate", who, status, form=form, result=result,
                versions=versions, channels=channels, images=images, titles=TITLES,
                live_version=snapshot.version if snapshot is not None else None,
                errors=errors or [], max_days=MAX_DAYS)  # fmt: skip


@router.get("/evaluate")
def evaluate_page(request: Request, who: Viewer) -> Response:
    """The form: a stored version or a draft, the days, the channel."""
    return _page(request, who, {"snapshot": "", "draft": "", "days": str(DAYS), "channel": ""})


def _draft(text: str) -> object:
    """A pasted or uploaded draft: JSON, or YAML."""
    try:
        if text.lstrip().startswith("{"):
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput.one(
            "draft", f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidInput.one("draft", f"not YAML or JSON: {exc}") from None


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise InvalidInput.one("days", f"expected a whole number, got {text!r}") from None
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput.one("days", f"must be from 1 to {MAX_DAYS}, got {days}")
    return days


@router.post("/evaluate")
def evaluate(
    request: Request,
    who: Viewer,
    snapshot: Annotated[str, Form(max_length=200)] = "",
    draft: Annotated[str, Form(max_length=MAX_DRAFT)] = "",
    days: Annotated[str, Form(max_length=20)] = str(DAYS),
    channel: Annotated[str, Form(max_length=200)] = "",
    draft_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Evaluate the target chosen on the form and show the estimates."""
    form = {"snapshot": snapshot, "draft": draft, "days": days, "channel": channel}
    try:
        text = draft
        if draft_file is not None and draft_file.filename:
            raw = draft_file.file.read(MAX_DRAFT + 1)
            if len(raw) > MAX_DRAFT:
                raise InvalidInput.one("draft_file", f"larger than {MAX_DRAFT:,} bytes")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput.one("draft_file", "must be UTF-8 text") from None
            form["draft"] = text
        number = _days(days)
        with read(request) as session:
            kind: evaluation.TargetKind
            target: Snapshot
            if text.strip():  # a draft replaces the version chosen (the form says so)
                target, kind = evaluation.draft_target(session, _draft(text)), "draft"
            elif snapshot:
                target, kind = evaluation.stored_target(session, snapshot), "snapshot"
            else:
                target, kind = evaluation.live_target(session), "live"
            result = evaluation.evaluate(session, target, days=number, channel=channel or None,
                                         now=evaluation.ledger_now(session), target_kind=kind)  # fmt: skip
    except ServiceError as exc:
        return _page(request, who, form, errors=errors_of(exc), status=exc.status)
    return _page(request, who, form, result)
