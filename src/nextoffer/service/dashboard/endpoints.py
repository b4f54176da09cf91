"""The dashboard's pages, under ``/dashboard``: server-rendered HTML forms over the same
services the API calls (so every check, including four-eyes, is the API's), with charts
drawn on the server and one small script for the rule editor's live validation."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Form, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session

from ... import charts
from ...core.decision import Snapshot
from ..attach import service as attach
from ..catalog import service as catalog
from ..decisions import service as decisions
from ..errors import Forbidden, InvalidInput, NotFound, ServiceError, Unauthorized
from ..experiments import service as experiments
from ..http import principal
from ..keys.service import Principal, require
from ..limits import Refused, check_json
from ..rules import service as rules
from ..snapshots import service as snapshots
from ..uplift import service as uplift
from . import service, sessions
from .views import (
    COOKIE,
    DASHBOARD_ROLES,
    HERE,
    PREFIX,
    SIGN_IN_COOKIE,
    SecurityHeaders,
    SignInRequired,
    act,
    errors_of,
    guard,
    now,
    page,
    set_cookie,
    sign_in_redirect,
    viewer,
)

__all__ = ["install", "router"]

# every unsafe request passes the guard (this site's page, the session's CSRF token)
router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(guard)])
Viewer = Annotated[Principal, Depends(viewer)]
Id = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Text = Annotated[str, Form(max_length=20_000)]


def _read(request: Request) -> Any:
    return request.app.state.db.read()


def _live(request: Request) -> Snapshot | None:
    try:
        snapshot: Snapshot = request.app.state.snapshots.get()
    except NotFound:
        return None
    return snapshot


def _priority(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput.one("priority", f"expected a whole number, got {text!r}") from None


def _offers(text: str) -> list[str]:
    return [o for o in text.replace(",", " ").split() if o]


# -- sign-in ------------------------------------------------------------------------------


@router.get("/sign-in")
def sign_in_form(request: Request, next: str = PREFIX) -> Response:
    # the sign-in form's CSRF secret, in a cookie of its own (there is no session yet)
    secret = request.cookies.get(SIGN_IN_COOKIE) or sessions.new_token()
    response = page(request, "sign_in.html", "Sign in", None, next=_safe_next(next),
                    csrf=sessions.csrf_token(secret))  # fmt: skip
    set_cookie(request, response, SIGN_IN_COOKIE, secret)
    return response


def _safe_next(target: str) -> str:
    # only a path inside the dashboard: never an open redirect to another site
    return target if target.startswith(PREFIX) and not target.startswith("//") else PREFIX


@router.post("/sign-in")
def sign_in(request: Request, key: Annotated[str, Form(max_length=500)] = "",
            next: Annotated[str, Form(max_length=2000)] = PREFIX) -> Response:  # fmt: skip
    key = key.strip()
    try:
        who = principal(request.app.state.db, key)
        require(who.role, DASHBOARD_ROLES)
    except (Unauthorized, Forbidden) as exc:
        errors = [{"field": "key", "message": exc.message}]
        return page(request, "sign_in.html", "Sign in", None, exc.status, errors=errors,
                    next=_safe_next(next))  # fmt: skip
    hours = request.app.state.settings.dashboard_session_hours
    with request.app.state.db.transaction() as session:
        token = sessions.start(session, who, hours, now())
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(request, response, COOKIE, token)  # a new session id: never one given before
    response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
def sign_out(request: Request) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        with request.app.state.db.transaction() as session:
            sessions.end(session, token)
    response = RedirectResponse(f"{PREFIX}/sign-in?done=signed+out", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


# -- overview -----------------------------------------------------------------------------


@router.get("")
def overview(request: Request, who: Viewer,
             window: Annotated[str, Query(pattern="^(1h|24h|7d|30d)$")] = "24h") -> Response:  # fmt: skip
    with _read(request) as session:
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


# -- proposals ----------------------------------------------------------------------------


def _float(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        return math.nan
    return number


@router.get("/proposals")
def proposals(
    request: Request,
    who: Viewer,
    status: Annotated[str, Query(pattern="^(open|approved|rejected|superseded|all)$")] = "open",
    sort: Annotated[str, Query(pattern="^(lift|confidence|support|expected_value|significance|created)$")] = "lift",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    min_lift: Annotated[str | None, Query(max_length=40)] = None,
    min_confidence: Annotated[str | None, Query(max_length=40)] = None,
    min_support: Annotated[str | None, Query(max_length=40)] = None,
    max_q: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:  # fmt: skip
    given = {"min_lift": min_lift, "min_confidence": min_confidence, "min_support": min_support,
             "max_q": max_q}  # fmt: skip
    numbers = {k: _float(v) for k, v in given.items()}
    errors = [{"field": k, "message": f"expected a number, got {given[k]!r}"}
              for k, v in numbers.items() if v is not None and math.isnan(v)]  # fmt: skip
    if errors:
        raise InvalidInput(errors)
    f = service.InboxFilter(status=status, sort=sort, descending=order == "desc", text=q, **numbers)
    with _read(request) as session:
        rows = service.inbox(session, _live(request), f)
    return page(request, "proposals.html", "Proposals", who, rows=rows, f=f, given=given,
                sorts=service.SORTS)  # fmt: skip


def _proposal_page(request: Request, session: Session, who: Principal, proposal_id: str,
                   status: int = 200, **context: Any) -> Response:  # fmt: skip
    row = rules.get_proposal(session, proposal_id)
    row["expected_value"] = service.proposal_value(row, _live(request))
    draft = context.pop("draft", None) or {
        "trigger": row["text"], "offers": ", ".join(row["offers"]),
        "priority": row["priority"], "description": row["description"]}  # fmt: skip
    four_eyes = row["author"] == who.id and not rules.self_approval(session)
    return page(request, "proposal.html", f"Proposal for {row['rule_id']}", who, status,
                p=row, draft=draft, four_eyes=four_eyes, **context)  # fmt: skip


@router.get("/proposals/{proposal_id}")
def proposal(request: Request, who: Viewer,
             proposal_id: Annotated[str, Path(max_length=36)]) -> Response:  # fmt: skip
    with _read(request) as session:
        return _proposal_page(request, session, who, proposal_id)


@router.post("/proposals/{proposal_id}/approve")
def approve(request: Request, who: Viewer, proposal_id: Annotated[str, Path(max_length=36)],
            trigger: Text, offers: Text, priority: Annotated[str, Form(max_length=20)],
            description: Text = "", reason: Text = "") -> Response:  # fmt: skip
    draft = {"trigger": trigger, "offers": offers, "priority": priority, "description": description}

    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("approver",))
        row = rules.get_proposal(session, proposal_id)
        edits: dict[str, Any] = {}
        if trigger.strip() != row["text"]:
            edits["trigger"] = trigger.strip()
        if _offers(offers) != row["offers"]:
            edits["offers"] = _offers(offers)
        number = _priority(priority)
        if number != row["priority"]:
            edits["priority"] = number
        if description != row["description"]:
            edits["description"] = description
        body = {"reason": reason, **({"edits": edits} if edits else {})}
        done = rules.approve(session, who.id, proposal_id, body)
        if not done["live"]:  # an edit of what the rule does: a new proposal, for someone else
            return (f"{PREFIX}/proposals/{done['proposal']}",
                    f"your edits to {', '.join(done['edits'])} are a new proposal: another approver approves it")  # fmt: skip
        if done.get("statistics_only"):
            return (
                f"{PREFIX}/rules/{done['rule_id']}",
                f"approved new statistics for {done['rule_id']}",
            )
        edited = " with edits to " + ", ".join(sorted(edits)) if edits else ""
        return (f"{PREFIX}/rules/{done['rule_id']}",
                f"approved{edited}: {done['rule_id']} v{done['revision']} is live (snapshot {done['snapshot']})")  # fmt: skip

    return act(request, work, lambda s, errors, status: _proposal_page(
        request, s, who, proposal_id, status, errors=errors, draft=draft, reason=reason))  # fmt: skip


@router.post("/proposals/{proposal_id}/reject")
def reject(request: Request, who: Viewer, proposal_id: Annotated[str, Path(max_length=36)],
           reason: Text = "") -> Response:  # fmt: skip
    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("approver",))
        rules.reject(session, who.id, proposal_id, {"reason": reason})
        return f"{PREFIX}/proposals", f"rejected the proposal: {reason}"

    return act(request, work, lambda s, errors, status: _proposal_page(
        request, s, who, proposal_id, status, errors=errors, reject_reason=reason))  # fmt: skip


@router.post("/proposals/{proposal_id}/backtest")
def backtest_proposal(request: Request, who: Viewer,
                      proposal_id: Annotated[str, Path(max_length=36)],
                      days: Annotated[int, Form(ge=1, le=3650)] = 30) -> Response:  # fmt: skip
    with _read(request) as session:
        try:
            result = rules.backtest_draft(session, request.app.state.snapshots.get(),
                                          proposal_id=proposal_id, days=days)  # fmt: skip
        except ServiceError as exc:
            return _proposal_page(request, session, who, proposal_id, exc.status,
                                  errors=errors_of(exc))  # fmt: skip
        return _proposal_page(request, session, who, proposal_id, backtest=result)


# -- the rule editor (a proposal: a new rule, or a new revision of one) --------------------


def _editor(request: Request, who: Principal, rule_id: str | None, draft: dict[str, Any],
            status: int = 200, errors: list[dict[str, str]] | None = None) -> Response:  # fmt: skip
    title = f"Change rule {rule_id}" if rule_id else "New rule"
    return page(request, "editor.html", title, who, status, rule_id=rule_id, draft=draft,
                errors=errors or [])  # fmt: skip


@router.get("/rules/new")
def new_rule(request: Request, who: Viewer) -> Response:
    return _editor(
        request, who, None, {"trigger": "", "offers": "", "priority": 50, "description": ""}
    )


@router.get("/rules/{rule_id}/edit")
def edit_rule(request: Request, who: Viewer, rule_id: Id) -> Response:
    with _read(request) as session:
        h = rules.history(session, rule_id)
    rev = next(r for r in reversed(h["revisions"]) if r["live"] or h["live_revision"] is None)
    return _editor(request, who, rule_id, {"trigger": rev["trigger"], "offers": ", ".join(rev["offers"]),
                                           "priority": rev["priority"], "description": rev["description"]})  # fmt: skip


@router.post("/proposals")
def propose(request: Request, who: Viewer, trigger: Text, offers: Text,
            priority: Annotated[str, Form(max_length=20)] = "50", description: Text = "",
            rule_id: Annotated[str, Form(max_length=200)] = "") -> Response:  # fmt: skip
    draft = {"trigger": trigger, "offers": offers, "priority": priority, "description": description}

    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("author",))
        number = _priority(priority)
        body = {"trigger": trigger, "offers": _offers(offers), "priority": number,
                "description": description, **({"rule_id": rule_id} if rule_id else {})}  # fmt: skip
        done = rules.propose(session, who.id, body)
        if done.get("status") == "live":
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
    listed = _offers(offers) if isinstance(offers, str) else None
    with _read(request) as session:
        return JSONResponse(rules.validate(session, trigger, listed))


# -- rules --------------------------------------------------------------------------------


@router.get("/rules")
def rule_list(request: Request, who: Viewer) -> Response:
    with _read(request) as session:
        rows = rules.list_rules(session, _live(request))
    return page(request, "rules.html", "Rules", who, rows=rows)


def _rule_page(request: Request, session: Session, who: Principal, rule_id: str,
               status: int = 200, **context: Any) -> Response:  # fmt: skip
    h = rules.history(session, rule_id)
    diffs = {after["revision"]: rules.revision_diff(rule_id, before, after)
             for before, after in zip(h["revisions"], h["revisions"][1:], strict=False)}  # fmt: skip
    return page(request, "rule.html", f"Rule {rule_id}", who, status, h=h, diffs=diffs,
                revisions=list(reversed(h["revisions"])),
                attention=rules.needs_attention(_live(request), rule_id), **context)  # fmt: skip


@router.get("/rules/{rule_id}")
def rule(request: Request, who: Viewer, rule_id: Id) -> Response:
    with _read(request) as session:
        return _rule_page(request, session, who, rule_id)


def _rule_action(request: Request, who: Principal, rule_id: str, verb: str,
                 change: Any) -> Response:  # fmt: skip
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
    return _rule_action(request, who, rule_id, f"restored v{revision}",
                        lambda s: rules.restore(s, who.id, rule_id, revision, reason))  # fmt: skip


@router.post("/rules/{rule_id}/activate")
def activate(request: Request, who: Viewer, rule_id: Id,
             revision: Annotated[int | None, Form(ge=1, le=1_000_000)] = None) -> Response:  # fmt: skip
    return _rule_action(request, who, rule_id, "activated",
                        lambda s: rules.activate(s, who.id, rule_id, revision, on=True))  # fmt: skip


@router.post("/rules/{rule_id}/deactivate")
def deactivate(request: Request, who: Viewer, rule_id: Id) -> Response:
    return _rule_action(request, who, rule_id, "deactivated",
                        lambda s: rules.activate(s, who.id, rule_id, None, on=False))  # fmt: skip


@router.post("/rules/{rule_id}/revisions/{revision}/backtest")
def backtest_revision(request: Request, who: Viewer, rule_id: Id,
                      revision: Annotated[int, Path(ge=1, le=1_000_000)],
                      days: Annotated[int, Form(ge=1, le=3650)] = 30) -> Response:  # fmt: skip
    with _read(request) as session:
        try:
            result = rules.backtest_draft(session, request.app.state.snapshots.get(),
                                          rule_id=rule_id, revision=revision, days=days)  # fmt: skip
        except ServiceError as exc:
            return _rule_page(request, session, who, rule_id, exc.status, errors=errors_of(exc))
        return _rule_page(request, session, who, rule_id, backtest={**result, "revision": revision})


# -- catalog ------------------------------------------------------------------------------


@router.get("/catalog")
def catalog_page(request: Request, who: Viewer) -> Response:
    with _read(request) as session:
        items = {kind: catalog.list_items(session, kind) for kind in catalog.KINDS}
        state = service.catalog_status(session)
    return page(request, "catalog.html", "Catalog", who, items=items, state=state)


def _item_page(request: Request, who: Principal, kind: str, item_id: str | None, body: str,
               status: int = 200, errors: list[dict[str, str]] | None = None) -> Response:  # fmt: skip
    title = f"{kind} {item_id}" if item_id else f"New {kind}"
    return page(request, "item.html", title, who, status, kind=kind, item_id=item_id, body=body,
                errors=errors or [])  # fmt: skip


Kind = Annotated[str, Path(pattern="^(product|offer|channel|policy|settings)$")]


@router.get("/catalog/{kind}/new")
def new_item(request: Request, who: Viewer, kind: Kind) -> Response:
    return _item_page(request, who, kind, None, "{\n}")


@router.get("/catalog/{kind}/{item_id}")
def item(request: Request, who: Viewer, kind: Kind, item_id: Id) -> Response:
    with _read(request) as session:
        body = catalog.get_item(session, kind, item_id)
    return _item_page(request, who, kind, item_id, json.dumps(body, indent=2, ensure_ascii=False))


@router.post("/catalog/publish")
def publish(request: Request, who: Viewer) -> Response:
    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("approver",))
        done = snapshots.publish(session, actor=who.id)
        return f"{PREFIX}/catalog", f"published snapshot {done['version']}: live within a second"

    def again(session: Session, errors: list[dict[str, str]], status: int) -> Response:
        items = {kind: catalog.list_items(session, kind) for kind in catalog.KINDS}
        return page(request, "catalog.html", "Catalog", who, status, items=items,
                    state=service.catalog_status(session), errors=errors)  # fmt: skip

    return act(request, work, again)


@router.post("/catalog/{kind}")
def save_item(request: Request, who: Viewer, kind: Kind,
              item_id: Annotated[str, Form(max_length=200)], body: Annotated[str, Form(max_length=500_000)],
              new: Annotated[bool, Form()] = False) -> Response:  # fmt: skip
    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("author",))
        if kind == "settings" and item_id != "default":
            raise InvalidInput.one("id", "the settings item is called 'default'")
        if not item_id:
            raise InvalidInput.one("id", "give the item an id")
        limits = request.app.state.settings  # the API's limits hold for the editor's JSON too
        try:
            check_json(body.encode("utf-8", "surrogatepass"), limits.max_json_depth,
                       limits.max_list_items)  # fmt: skip
            data = json.loads(body)
        except Refused as exc:
            raise InvalidInput.one(exc.field, exc.message) from None
        except json.JSONDecodeError as exc:
            raise InvalidInput.one(
                "body", f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        if new and catalog.get_item(session, kind, item_id, missing_ok=True) is not None:
            raise InvalidInput.one("id", f"a {kind} {item_id!r} exists already")
        _, created = catalog.put_item(session, kind, item_id, data)
        verb = "created" if created else "saved"
        return (f"{PREFIX}/catalog/{kind}/{item_id}",
                f"{verb} {kind} {item_id}; publish the catalog to put it live")  # fmt: skip

    return act(request, work, lambda s, errors, status: _item_page(
        request, who, kind, None if new else item_id, body, status, errors))  # fmt: skip


@router.post("/catalog/{kind}/{item_id}/delete")
def delete_item(request: Request, who: Viewer, kind: Kind, item_id: Id) -> Response:
    def work(session: Session) -> tuple[str, str]:
        require(who.role, ("author",))
        catalog.delete_item(session, kind, item_id)
        return f"{PREFIX}/catalog", f"deleted {kind} {item_id}; publish the catalog to put it live"

    def again(session: Session, errors: list[dict[str, str]], status: int) -> Response:
        body = catalog.get_item(session, kind, item_id, missing_ok=True)
        return _item_page(request, who, kind, item_id, json.dumps(body, indent=2), status, errors)

    return act(request, work, again)


# -- decisions ----------------------------------------------------------------------------


@router.get("/decisions")
def decision_list(request: Request, who: Viewer,
                  customer: Annotated[str, Query(max_length=200)] = "") -> Response:  # fmt: skip
    with _read(request) as session:
        rows = service.decisions_of(session, customer.strip() or None)
    return page(request, "decisions.html", "Decisions", who, rows=rows, customer=customer.strip())


@router.get("/decisions/{decision_id}")
def decision(request: Request, who: Viewer,
             decision_id: Annotated[str, Path(max_length=36)]) -> Response:  # fmt: skip
    with _read(request) as session:
        d = decisions.get(session, decision_id)
    return page(request, "decision.html", "Decision", who, d=d, funnel=service.funnel(d["trace"]))


# -- results ------------------------------------------------------------------------------


@router.get("/results")
def results(request: Request, who: Viewer) -> Response:
    with _read(request) as session:
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
    snapshot = _live(request)
    rates = attach.rates(snapshot)["rates"] if snapshot is not None else []
    shown = [r for r in rates if r["level"] in ("global", "category", "offer")]
    for r in shown:
        r["label"] = f"{r['level']}: {r['offer'] or r['category'] or 'all offers'}"
    if shown:
        images["attach"] = charts.svg_data_uri(charts.attach_figure(
            shown, "Attach rates (global, per category, per offer)"))  # fmt: skip
    return page(request, "results.html", "Results", who, experiments=exps, report=report,
                images=images, rates=rates, maturity=charts.MATURITY_COLOURS)  # fmt: skip


@router.get("/experiments/{experiment}")
def experiment(request: Request, who: Viewer,
               experiment: Annotated[str, Path(min_length=1, max_length=200)]) -> Response:  # fmt: skip
    with _read(request) as session:
        report = experiments.report(session, experiment)
    rows = [("all offers", report["overall"]), *report["offers"].items()]
    image = charts.svg_data_uri(charts.lift_figure(rows, f"{experiment}: lift in conversion"))
    return page(request, "experiment.html", f"Experiment {experiment}", who, r=report,
                rows=rows, image=image)  # fmt: skip


# -- wiring -------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Serve the dashboard from ``app`` (its pages, its static files, its error pages)."""
    app.include_router(router)
    app.add_middleware(SecurityHeaders)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        return sign_in_redirect(request)

    @app.get("/", include_in_schema=False)
    def _home() -> Response:
        return RedirectResponse(PREFIX, status_code=307)
