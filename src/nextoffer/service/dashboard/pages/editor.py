"""The rule editor: a new rule, or a new revision of one, is a proposal; its trigger is
checked live as it is typed (``/validate``). Its pages belong to the Rules section."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Form, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from ...errors import InvalidInput, validated
from ...keys.service import Principal, require
from ...rules import service as rules
from ...rules.schemas import ProposalIn
from ..views import PREFIX, act, page
from .common import Id, Text, Viewer, offers_of, priority_of, read

__all__ = ["router"]

router = APIRouter()


def _editor(request: Request, who: Principal, rule_id: str | None, draft: dict[str, Any],
            status: int = 200, errors: list[dict[str, str]] | None = None) -> Response:  # fmt: skip
    title = f"Change rule {rule_id}" if rule_id else "New rule"
    return page(request, "editor.html", title, who, status, rule_id=rule_id, draft=draft,
                errors=errors or [])  # fmt: skip


@router.get("/rules/new")
def new_rule(request: Request, who: Viewer) -> Response:
    """The editor, empty: a new rule."""
    return _editor(
        request, who, None, {"trigger": "", "offers": "", "priority": 50, "description": ""}
    )


@router.get("/rules/{rule_id}/edit")
def edit_rule(request: Request, who: Viewer, rule_id: Id) -> Response:
    """The editor holding the rule's live revision (or its latest, when none is live)."""
    with read(request) as session:
        h = rules.history(session, rule_id)
    rev = next(r for r in reversed(h["revisions"]) if r["live"] or h["live_revision"] is None)
    return _editor(request, who, rule_id, {"trigger": rev["trigger"], "offers": ", ".join(rev["offers"]),
                                           "priority": rev["priority"], "description": rev["description"]})  # fmt: skip


@router.post("/proposals")
def propose(request: Request, who: Viewer, trigger: Text, offers: Text,
            priority: Annotated[str, Form(max_length=20)] = "50", description: Text = "",
            rule_id: Annotated[str, Form(max_length=200)] = "") -> Response:  # fmt: skip
    """Propose the editor's rule (an author): another person approves it in the inbox."""
    draft = {"trigger": trigger, "offers": offers, "priority": priority, "description": description}

    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("author",))
        number = priority_of(priority)
        body = {"trigger": trigger, "offers": offers_of(offers), "priority": number,
                "description": description, **({"rule_id": rule_id} if rule_id else {})}  # fmt: skip
        done = rules.propose(session, who.id, validated(ProposalIn, body))
        if done["status"] == "live":
            return f"{PREFIX}/rules/{done['rule_id']}", "that rule is live already"
        return (f"{PREFIX}/proposals/{done['id']}",
                "proposed: an approver (another person) reviews it in the inbox")  # fmt: skip

    return act(request, work, lambda s, errors, status: _editor(
        request, who, rule_id or None, draft, status, errors))  # fmt: skip


@router.post("/validate")
def validate(request: Request, _: Viewer,
             body: Annotated[dict[str, Any], Body(max_length=50_000)]) -> JSONResponse:  # fmt: skip
    """The rule editor's live validation: the rule language's own diagnostics, placed."""
    trigger = body.get("trigger")
    if not isinstance(trigger, str):
        raise InvalidInput.one("trigger", "expected the trigger's text")
    offers = body.get("offers")
    listed = offers_of(offers) if isinstance(offers, str) else None
    with read(request) as session:
        return JSONResponse(rules.validate(session, trigger, listed))
