"""``nextoffer rules propose | list | show | review | approve | reject | history | diff |
restore | activate | deactivate | backtest | self-approval``: rule governance on the
configured database.

The same service code as the API. Who acts is the holder of ``--key`` (or the
``NEXTOFFER_API_KEY`` environment variable), so four eyes and roles hold here too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..service.errors import ServiceError, validated
from ..service.keys.service import Principal, Role, authenticate, require
from ..service.rules import service
from ..service.rules.schemas import ProposalIn, ReviewIn
from ..service.snapshots.cache import SnapshotCache
from . import views
from .output import fail, out, read_document
from .rules import rules_app
from .service import open_database

KeyOption = Annotated[
    str | None, typer.Option("--key", envvar="NEXTOFFER_API_KEY", help="Your API key.")
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON (for machines), not as text.")
]


@contextmanager
def acting(
    key: str | None, *roles: Role, read_only: bool = False
) -> Iterator[tuple[Any, Principal, Any]]:
    """The session of a command by the holder of ``key`` (one of ``roles``, or an admin),
    committed when it succeeds; a ``ServiceError`` ends it with its message and exit 1,
    nothing written. ``read_only``: a read transaction (it takes no write lock)."""
    db = open_database()
    try:
        with db.read() if read_only else db.transaction() as session:
            try:
                who = authenticate(session, key, dt.datetime.now(dt.UTC))
                require(who.role, roles)
                yield session, who, db
            except ServiceError as exc:
                fail(exc.message)
    finally:
        db.dispose()


def _print(data: Any, view: views.View, as_json: bool) -> None:
    """What a person reads (``view``), or with ``--json`` the data as JSON."""
    if as_json:
        views.print_json(data)
    else:
        view(data)


def _run(
    key: str | None,
    roles: tuple[Role, ...],
    action: Callable[[Any, Principal, Any], Any],
    view: views.View,
    as_json: bool,
) -> None:
    with acting(key, *roles) as (session, who, db):
        _print(action(session, who, db), view, as_json)


@rules_app.command("propose")
def propose(
    file: Annotated[
        Path, typer.Argument(help="The proposal (JSON/YAML): trigger, offers, priority, stats.")
    ],
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Propose a rule for review (the same trigger and offers again update its statistics)."""
    body = read_document(file, "proposal")
    _run(key, ("author",), lambda s, who, _: service.propose(s, who.id, validated(ProposalIn, body)),
         views.proposal, as_json)  # fmt: skip


@rules_app.command("list")
def list_(
    status: Annotated[
        str, typer.Option(help="open, approved, rejected, superseded or all.")
    ] = "open",
    key: KeyOption = None,
) -> None:
    """Proposals with their statistics, and the rules with their live revision."""
    with acting(key, "author", "approver") as (session, _, db):
        table = Table(title=f"proposals ({status})")
        for column in (
            "id",
            "rule",
            "trigger",
            "offers",
            "support",
            "confidence",
            "lift",
            "author",
        ):
            table.add_column(column, overflow="fold")
        for p in service.list_proposals(session, None if status == "all" else status):
            stats = p["stats"] or {}
            table.add_row(p["id"][:8], p["rule_id"], p["text"], ", ".join(p["offers"]),
                          *(f"{stats[k]:.3g}" if k in stats else "" for k in ("support", "confidence", "lift")),
                          p["author_label"])  # fmt: skip
        out.print(table)
        rules = Table(title="rules")
        for column in ("rule", "live", "latest", "trigger", "offers"):
            rules.add_column(column, overflow="fold")
        try:
            live = SnapshotCache(db).get()
        except ServiceError:  # nothing published yet, or it does not load
            live = None
        for r in service.list_rules(session, live):
            state = str(r["live_revision"] or "off")
            if r["needs_attention"]:  # published before the cost bound: it never fires
                state += " (disabled: needs attention)"
            rules.add_row(r["id"], state, str(r["latest_revision"]),
                          r["trigger"], ", ".join(r["offers"]))  # fmt: skip
        out.print(rules)


def _proposal_id(session: Any, prefix: str) -> str:
    matches: list[str] = [
        str(p["id"])
        for p in service.list_proposals(session, None)
        if str(p["id"]).startswith(prefix)
    ]
    if len(matches) != 1:
        fail(
            f"proposal: {'no' if not matches else 'more than one'} proposal starts with {prefix!r}"
        )
    return matches[0]


@rules_app.command("show")
def show(rule_or_proposal: str, key: KeyOption = None, as_json: JsonOption = False) -> None:
    """A rule's revisions and audit trail, or a proposal (by id or id prefix)."""
    with acting(key, "author", "approver") as (session, _, _db):
        try:
            _print(service.history(session, rule_or_proposal), views.history, as_json)
        except ServiceError:
            pid = _proposal_id(session, rule_or_proposal)
            _print(service.get_proposal(session, pid), views.proposal, as_json)


@rules_app.command("review")
def review(
    proposal: str, days: int = 30, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """A proposal with its backtest on the last DAYS of requests, to decide on it."""
    with acting(key, "author", "approver") as (session, _, db):
        pid = _proposal_id(session, proposal)
        _print({"proposal": service.get_proposal(session, pid),
                "backtest": service.backtest_draft(session, SnapshotCache(db).get(), proposal_id=pid, days=days)},
               views.review, as_json)  # fmt: skip


@rules_app.command("approve")
def approve(
    proposal: str,
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    edits: Annotated[
        Path | None,
        typer.Option(help="Edits to apply (JSON/YAML): trigger, offers, priority, description."),
    ] = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a proposal: its new revision goes live. Edits of the trigger, offers or
    priority make a new proposal of yours instead, which another approver approves."""
    body: dict[str, Any] = {"reason": reason}
    if edits is not None:
        body["edits"] = read_document(edits, "edits")
    _run(
        key,
        ("approver",),
        lambda s, who, _: service.approve(
            s, who.id, _proposal_id(s, proposal), validated(ReviewIn, body)
        ),
        views.rule_change,
        as_json,
    )


@rules_app.command("reject")
def reject(
    proposal: str,
    reason: Annotated[str, typer.Option(help="Why (required).")] = "",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject a proposal, with a reason."""
    _run(
        key,
        ("approver",),
        lambda s, who, _: service.reject(
            s, who.id, _proposal_id(s, proposal), validated(ReviewIn, {"reason": reason})
        ),
        views.rule_change,
        as_json,
    )


@rules_app.command("history")
def history(rule: str, key: KeyOption = None, as_json: JsonOption = False) -> None:
    """Every revision of a rule (author, time, reason) and every action on it."""
    _run(key, ("author", "approver"), lambda s, _who, _: service.history(s, rule), views.history,
         as_json)  # fmt: skip


@rules_app.command("diff")
def diff(rule: str, a: int, b: int, key: KeyOption = None) -> None:
    """A readable diff between two revisions of a rule."""
    with acting(key, "author", "approver") as (session, _, _db):
        out.print(service.diff(session, rule, a, b)["diff"], markup=False)


@rules_app.command("restore")
def restore(rule: str, revision: int, reason: str = "", key: KeyOption = None,
            as_json: JsonOption = False) -> None:  # fmt: skip
    """Restore an old revision: a new revision equal to it goes live."""
    _run(key, ("approver",), lambda s, who, _: service.restore(s, who.id, rule, revision, reason),
         views.rule_change, as_json)  # fmt: skip


@rules_app.command("activate")
def activate(rule: str, revision: Annotated[int | None, typer.Option(help="Default: the newest.")] = None,
             key: KeyOption = None, as_json: JsonOption = False) -> None:  # fmt: skip
    """Make a revision of a rule live."""
    _run(key, ("approver",), lambda s, who, _: service.activate(s, who.id, rule, revision, on=True),
         views.rule_change, as_json)  # fmt: skip


@rules_app.command("deactivate")
def deactivate(rule: str, key: KeyOption = None, as_json: JsonOption = False) -> None:
    """Take a rule out of live decisions (its revisions stay)."""
    _run(key, ("approver",), lambda s, who, _: service.activate(s, who.id, rule, None, on=False),
         views.rule_change, as_json)  # fmt: skip


@rules_app.command("backtest")
def backtest(
    proposal_or_rule: str,
    revision: Annotated[int | None, typer.Option(help="Backtest this revision of a rule.")] = None,
    days: int = 30,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay recent requests with a proposal (or a rule's revision) in place."""
    with acting(key, "author", "approver") as (session, _, db):
        live = SnapshotCache(db).get()
        if revision is not None:
            report = service.backtest_draft(
                session, live, rule_id=proposal_or_rule, revision=revision, days=days
            )
        else:
            pid = _proposal_id(session, proposal_or_rule)
            report = service.backtest_draft(session, live, proposal_id=pid, days=days)
        _print(report, views.backtest, as_json)


@rules_app.command("self-approval")
def self_approval(
    setting: Annotated[
        str | None, typer.Argument(help="allow or forbid; without it, show the setting.")
    ] = None,
    key: KeyOption = None,
) -> None:
    """Four eyes for the whole install: whether a proposal's author may approve it (``allow``
    for a one-person install; ``forbid``, the default). Stored in the database: changing it
    needs an admin key, and no one's environment relaxes it."""
    if setting not in (None, "allow", "forbid"):
        fail(f"setting: expected allow or forbid, got {setting!r}")
    with acting(key, "author", "approver") as (session, who, _db):
        if setting is not None:
            if who.role != "admin":
                fail("self-approval: changing it needs an admin key")
            service.set_self_approval(session, who.id, setting == "allow")
        allowed = service.self_approval(session)
        out.print(
            "self-approval: "
            + (
                "allowed (a proposal's author may approve it)"
                if allowed
                else "forbidden (four eyes)"
            ),
            markup=False,
        )
