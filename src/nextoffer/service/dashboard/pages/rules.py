"""The rules: the list, a rule's history with its diffs, and restoring, activating,
deactivating and backtesting its revisions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from ...errors import ServiceError
from ...keys.service import Principal, require
from ...rules import service as rules
from ..views import PREFIX, act, errors_of, page
from .common import Id, Text, Viewer, live, read

__all__ = ["router"]

router = APIRouter()


@router.get("/rules")
def rule_list(request: Request, who: Viewer) -> Response:
    """Every rule, with its live revision and what needs attention."""
    with read(request) as session:
        rows = rules.list_rules(session, live(request))
    return page(request, "rules.html", "Rules", who, rows=rows)


def _rule_page(request: Request, session: Session, who: Principal, rule_id: str,
               status: int = 200, **context: Any) -> Response:  # fmt: skip
    h = rules.history(session, rule_id)
    diffs = {after["revision"]: rules.revision_diff(rule_id, before, after)
             for before, after in zip(h["revisions"], h["revisions"][1:], strict=False)}  # fmt: skip
    return page(request, "rule.html", f"Rule {rule_id}", who, status, h=h, diffs=diffs,
                revisions=list(reversed(h["revisions"])),
                attention=rules.needs_attention(live(request), rule_id), **context)  # fmt: skip


@router.get("/rules/{rule_id}")
def rule(request: Request, who: Viewer, rule_id: Id) -> Response:
    """A rule's page: its revisions, newest first, each with its diff."""
    with read(request) as session:
        return _rule_page(request, session, who, rule_id)


def _rule_action(request: Request, who: Principal, rule_id: str, verb: str,
                 change: Callable[[Session], Mapping[str, object]]) -> Response:  # fmt: skip
    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("approver",))
        done = change(session)
        live = done.get("revision", done.get("live_revision"))
        now = f"v{live} is live" if live else "no revision is live"
        return f"{PREFIX}/rules/{rule_id}", f"{verb}: {now} (snapshot {done['snapshot']})"

    return act(request, work, lambda s, errors, status: _rule_page(
        request, s, who, rule_id, status, errors=errors))  # fmt: skip


@router.post("/rules/{rule_id}/restore")
def restore(request: Request, who: Viewer, rule_id: Id,
            revision: Annotated[int, Form(ge=1, le=1_000_000)],
            reason: Text = "") -> Response:  # fmt: skip
    """Make an earlier revision live again (an approver)."""
    return _rule_action(request, who, rule_id, f"restored v{revision}",
                        lambda s: rules.restore(s, who.id, rule_id, revision, reason))  # fmt: skip


@router.post("/rules/{rule_id}/activate")
def activate(request: Request, who: Viewer, rule_id: Id,
             revision: Annotated[int | None, Form(ge=1, le=1_000_000)] = None) -> Response:  # fmt: skip
    """Put the rule (a revision of it) live (an approver)."""
    return _rule_action(request, who, rule_id, "activated",
                        lambda s: rules.activate(s, who.id, rule_id, revision, on=True))  # fmt: skip


@router.post("/rules/{rule_id}/deactivate")
def deactivate(request: Request, who: Viewer, rule_id: Id) -> Response:
    """Take the rule out of service (an approver)."""
    return _rule_action(request, who, rule_id, "deactivated",
                        lambda s: rules.activate(s, who.id, rule_id, None, on=False))  # fmt: skip


@router.post("/rules/{rule_id}/revisions/{revision}/backtest")
def backtest_revision(request: Request, who: Viewer, rule_id: Id,
                      revision: Annotated[int, Path(ge=1, le=1_000_000)],
                      days: Annotated[int, Form(ge=1, le=3650)] = 30) -> Response:  # fmt: skip
    """The rule's page with what ``revision`` would have done over ``days``."""
    with read(request) as session:
        try:
            result = rules.backtest_draft(session, request.app.state.snapshots.get(),
                                          rule_id=rule_id, revision=revision, days=days)  # fmt: skip
        except ServiceError as exc:
            return _rule_page(request, session, who, rule_id, exc.status, errors=errors_of(exc))
        return _rule_page(request, session, who, rule_id, backtest={**result, "revision": revision})
