"""Proposals, reviews, revisions and the audit log.

- A **proposal** is a draft rule (a trigger and the offers it nominates) with where it came
  from: mining statistics (support, confidence, lift, counts, example baskets) or its author.
  Proposing the same trigger and offers again (re-mining) updates the statistics of the open
  proposal instead of making a duplicate; new statistics for a rule already live with them
  are a proposal too (approving it changes the rule's statistics, not its revision).
- **Review**: an approver approves a proposal or rejects it with a reason. An approver who
  edits the trigger, offers or priority makes a new proposal of their own (the original is
  ``superseded``), which someone else approves; a description edit is approved as is.
  **Four eyes**: nobody approves what they proposed, unless an admin relaxes it for the
  install (``set_self_approval``, stored in the database: a client cannot relax it itself).
- **Revisions** are immutable (v1, v2, ...); exactly one is live, or none when the rule is
  deactivated. Restoring revision n creates a new revision equal to it. Approving,
  restoring, activating and deactivating publish a new snapshot: the live one with the new
  rules (pending catalog edits stay pending), which every worker serves within a second.
- Every action is written to the append-only ``audit`` table.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import re
import uuid
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy.orm import Session

from ...core.decision import (
    DecisionError,
    RuleRevisionSpec,
    Snapshot,
    SnapshotError,
    build_snapshot,
    decide,
)
from ...core.decision.backtest import backtest
from ...core.request import Request
from ...core.rules import CustomerSchema, Environment, RuleError
from ..customers.service import check_request
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..keys.service import labels
from ..ledger.service import utc
from ..snapshots import service as snapshots
from . import repository
from .schemas import (
    Activated,
    Approved,
    Attention,
    AuditRecord,
    Backtest,
    Diff,
    DryRun,
    Edited,
    History,
    LoadedRule,
    Proposal,
    ProposalIn,
    ProposalRow,
    Proposed,
    Rejected,
    Restored,
    ReviewIn,
    Revision,
    RevisionContent,
    RevisionRow,
    RuleLive,
    RuleSummary,
    SelfApproval,
    Trigger,
    TriggerDiagnostic,
    Validation,
)

__all__ = [
    "activate",
    "approve",
    "backtest_draft",
    "diff",
    "draft_snapshot",
    "dry_run",
    "get_proposal",
    "history",
    "list_proposals",
    "list_rules",
    "needs_attention",
    "propose",
    "reject",
    "restore",
    "revision_diff",
    "seed_rule",
    "self_approval",
    "set_self_approval",
    "validate",
]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _record(session: Session, action: str, actor: str, subject: str, **details: Any) -> None:
    repository.record(session, action, actor, subject, details)


class _Content(NamedTuple):
    """What a proposal or a revision makes a rule do: its trigger (JSON form and canonical
    text), offers, priority and description."""

    trigger: dict[str, Any]
    text: str
    offers: list[str]
    priority: int
    description: str

    @classmethod
    def of(cls, row: ProposalRow | RevisionRow) -> _Content:
        return cls(row.trigger, row.text, row.offers, row.priority, row.description)


def validate(session: Session, trigger: Trigger, offers: list[str] | None = None) -> Validation:
    """Check a trigger (and offers) as the rule language does, without raising: the canonical
    text when valid, else every diagnostic at its place (line, column, character span, and
    the line with a caret under the offending text). The rule editor validates as you type."""
    settings = snapshots.catalog_settings(session)
    schema = CustomerSchema.model_validate(settings.get("customer_schema", {}))
    env = Environment(schema, offer_names=False)
    diagnostics: list[TriggerDiagnostic] = []
    compiled = None
    try:
        compiled = env.compile(trigger)
    except RuleError as exc:
        for d in exc.diagnostics:
            diagnostics.append({"message": d.message, "path": d.path, "line": d.line, "column": d.column,
                                "start": d.span.start if d.span else None,
                                "end": d.span.end if d.span else None, "rendered": d.render()})  # fmt: skip
    offer_errors = []
    if offers is not None:
        known = {o["id"] for o in snapshots.catalog_offers(session)}
        offer_errors = [{"field": f"offers[{i}]", "message": f"unknown offer {o!r}"}
                        for i, o in enumerate(offers) if o not in known]  # fmt: skip
    return {
        "valid": compiled is not None and not offer_errors,
        "text": compiled.text if compiled is not None else None,
        "json": compiled.to_json() if compiled is not None else None,
        "diagnostics": diagnostics,
        "errors": offer_errors,
    }


def _checked(
    session: Session, trigger: Trigger, offers: list[str], where: str = ""
) -> tuple[dict[str, Any], str]:
    """The trigger's JSON form and canonical text, checked against the customer schema; and
    every offer known to the catalog. Errors name the field."""
    result = validate(session, trigger, offers)
    errors: list[dict[str, str]] = []
    for d in result["diagnostics"]:
        place = (
            f" (line {d['line']}, column {d['column']})"
            if d["line"] is not None
            else f" at {d['path']}"
        )
        errors.append({"field": f"{where}trigger", "message": d["message"] + place})
    errors += [{**e, "field": where + e["field"]} for e in result["errors"]]
    if errors:
        raise InvalidInput(errors)
    assert result["json"] is not None  # no diagnostics: it compiled
    assert result["text"] is not None
    return result["json"], result["text"]


def _fingerprint(text: str, offers: list[str]) -> str:
    return hashlib.sha256(json.dumps([text, sorted(offers)]).encode()).hexdigest()


def _slug(text: str, offers: list[str]) -> str:
    words = re.findall(r"[A-Za-z0-9]+", " ".join([*offers[:1], text]))[:6]
    return "-".join(w.lower() for w in words)[:60] + "-" + _fingerprint(text, offers)[:6]


def _proposal(row: ProposalRow, names: dict[str, str] | None = None) -> Proposal:
    return {
        "id": row.id, "rule_id": row.rule_id, "trigger": row.trigger, "text": row.text,
        "offers": row.offers, "priority": row.priority, "description": row.description,
        "author": row.author, "stats": row.stats, "status": row.status,
        "created_at": utc(row.created_at).isoformat(), "updated_at": utc(row.updated_at).isoformat(),
        "author_label": (names or {}).get(row.author, row.author),
    }  # fmt: skip


def self_approval(session: Session) -> bool:
    """Whether the install lets a proposal's author approve it (an admin's setting)."""
    return repository.install_setting(session, "self_approval") is True


def set_self_approval(session: Session, actor: str, allowed: bool) -> SelfApproval:
    """Relax four eyes for the install (a one-person install), or enforce it again; audited."""
    repository.set_install_setting(session, "self_approval", allowed, actor, _now())
    _record(session, "self-approval", actor, "install", allowed=allowed)
    return {"self_approval": allowed}


def _free(session: Session, fp: str) -> None:
    """Let a new proposal take a fingerprint an approved or superseded proposal holds (a
    rejected one keeps it: a rejected rule is not proposed again by re-mining)."""
    repository.free_fingerprint(session, fp)


def _insert_proposal(session: Session, actor: str, rule_id: str, content: _Content,
                     stats: dict[str, Any] | None, **audited: Any) -> str:  # fmt: skip
    """A new open proposal of ``content`` by ``actor``; audited as ``propose``."""
    fp = _fingerprint(content.text, content.offers)
    _free(session, fp)
    holder = repository.fingerprint_holder(session, fp)
    if holder is not None:
        holder_id, status = holder
        raise Conflict(f"proposal {holder_id} ({status}) has this trigger and offers already")
    proposal_id, now = str(uuid.uuid4()), _now()
    repository.insert_proposal(session, ProposalRow(
        id=proposal_id, fingerprint=fp, rule_id=rule_id, trigger=content.trigger, text=content.text,
        offers=content.offers, priority=content.priority, description=content.description,
        author=actor, stats=stats, status="open", created_at=now, updated_at=now))  # fmt: skip
    _record(session, "propose", actor, proposal_id, rule_id=rule_id, text=content.text,
            offers=content.offers, **audited)  # fmt: skip
    return proposal_id


def _live_revision(session: Session, rule_id: str) -> RevisionRow | None:
    """The live revision of ``rule_id`` (None when the rule is new or deactivated)."""
    return repository.live_revision(session, rule_id)


def _proposed(session: Session, proposal_id: str, *, updated: bool) -> Proposed:
    row = _proposal_row(session, proposal_id)
    return {**_proposal(row, labels(session, [row.author])), "updated": updated}


def propose(session: Session, actor: str, proposal: ProposalIn) -> Proposed | RuleLive:
    """Propose a rule (mined or written). The same trigger and offers again update the open
    proposal's statistics (``updated``); a rule live as proposed already is ``live``."""
    trigger, text = _checked(session, proposal.trigger, proposal.offers)
    fp = _fingerprint(text, proposal.offers)
    existing = repository.unapproved_with(session, fp)
    if existing is not None:  # re-mining an open proposal updates its statistics
        if existing.status == "open" and proposal.stats is not None:
            repository.set_proposal_stats(session, existing.id, proposal.stats, _now())
            _record(session, "restat", actor, existing.id, stats=proposal.stats)
        return _proposed(session, existing.id, updated=True)
    # re-mining the trigger of a live rule proposes its new statistics, for review
    for rule_id in repository.live_rules_with_text(session, text):
        current = _live_revision(session, rule_id)
        assert current is not None  # its live revision reads ``text``
        if sorted(current.offers) != sorted(proposal.offers):
            continue
        if proposal.stats is None:
            if (current.priority, current.description) == (proposal.priority, proposal.description):
                return {"rule_id": rule_id, "updated": True, "status": "live"}  # live as given
            continue  # a change of priority or description: a proposal like any other
        proposal_id = _insert_proposal(session, actor, rule_id, _Content.of(current),
                                       proposal.stats, statistics_only=True)  # fmt: skip
        return _proposed(session, proposal_id, updated=False)
    content = _Content(trigger, text, proposal.offers, proposal.priority, proposal.description)
    rule_id = proposal.rule_id or _slug(text, proposal.offers)
    proposal_id = _insert_proposal(session, actor, rule_id, content, proposal.stats)
    return _proposed(session, proposal_id, updated=False)


def list_proposals(session: Session, status: str | None = "open") -> list[Proposal]:
    """Every proposal of ``status`` (None: all), oldest first."""
    rows = repository.list_proposals(session, status)
    names = labels(session, (r.author for r in rows))
    return [_proposal(r, names) for r in rows]


def _proposal_row(session: Session, proposal_id: str) -> ProposalRow:
    row = repository.proposal(session, proposal_id)
    if row is None:
        raise NotFound(f"no proposal {proposal_id!r}")
    return row


def get_proposal(session: Session, proposal_id: str) -> Proposal:
    """The proposal of ``proposal_id``."""
    row = _proposal_row(session, proposal_id)
    return _proposal(row, labels(session, [row.author]))


def _open_proposal(session: Session, proposal_id: str) -> ProposalRow:
    row = _proposal_row(session, proposal_id)
    if row.status != "open":
        raise Conflict(f"proposal {proposal_id} is {row.status} already")
    return row


def _next_revision(session: Session, rule_id: str) -> int:
    return repository.latest_revision(session, rule_id) + 1


def _add_revision(session: Session, rule_id: str, content: _Content, author: str,
                  reason: str, source: dict[str, Any]) -> int:  # fmt: skip
    if repository.rule(session, rule_id) is None:
        repository.insert_rule(session, rule_id, _now())
    number = _next_revision(session, rule_id)
    repository.insert_revision(session, RevisionRow(
        rule_id=rule_id, revision=number, trigger=content.trigger, text=content.text,
        offers=content.offers, priority=content.priority, description=content.description,
        author=author, reason=reason, source=source, created_at=_now()))  # fmt: skip
    return number


def _go_live(
    session: Session, actor: str, cause: str, rule_id: str, revision: int | None
) -> str | None:
    """Make ``revision`` of the rule live (None: deactivate it) and publish the live snapshot
    with the new rules: its catalog stays as it is (pending catalog edits stay pending, and
    cannot block a rule change). Before the first publish there is nothing to publish."""
    repository.set_live_revision(session, rule_id, revision)
    took_live = {"rule": rule_id, "revision": revision}
    return snapshots.publish_rules(session, actor=actor, cause=cause, took_live=took_live)


def approve(session: Session, actor: str, proposal_id: str, review: ReviewIn) -> Approved | Edited:
    """Approve a proposal: its new revision goes live. Edits of the trigger, offers or priority
    are not approved here: they make a new proposal by ``actor``, which someone else approves
    (the original is superseded). A description edit is approved with it."""
    row = _open_proposal(session, proposal_id)
    if row.author == actor and not self_approval(session):
        raise Forbidden("four eyes: a proposal cannot be approved by its own author")
    content = _Content.of(row)
    edits = review.edits.model_dump(exclude_none=True) if review.edits else {}
    if edits:
        offers = edits.get("offers", row.offers)
        trigger, text = _checked(session, edits.get("trigger", row.trigger), offers, "edits.")
        edited = _Content(trigger, text, offers, edits.get("priority", row.priority),
                          edits.get("description", row.description))  # fmt: skip
        field = {"trigger": "text"}  # an edited trigger is compared by its canonical text
        edits = {k: v for k, v in edits.items()
                 if getattr(edited, field.get(k, k)) != getattr(content, field.get(k, k))}  # fmt: skip
        content = edited
    if edits.keys() & {"trigger", "offers", "priority"}:
        return _supersede(session, actor, row, content, sorted(edits), review.reason)
    live = _live_revision(session, row.rule_id)
    if live is not None and _Content.of(live) == content:
        return _approve_statistics(session, actor, row, live, review.reason)
    source = {"proposal": proposal_id, "stats": row.stats, "approved_by": actor,
              **({"edited_by": actor, "edits": sorted(edits)} if edits else {})}  # fmt: skip
    number = _add_revision(session, row.rule_id, content, row.author, review.reason, source)
    repository.set_proposal_status(session, proposal_id, "approved", _now())
    if row.stats is not None:
        repository.set_rule_stats(session, row.rule_id, row.stats)
    version = _go_live(session, actor, "rule", row.rule_id, number)
    _record(session, "approve", actor, row.rule_id, proposal=proposal_id, revision=number,
            edited=sorted(edits), reason=review.reason, snapshot=version)  # fmt: skip
    return {"rule_id": row.rule_id, "revision": number, "live": True, "snapshot": version}


def _supersede(session: Session, actor: str, row: ProposalRow, content: _Content,
               edits: list[str], reason: str) -> Edited:  # fmt: skip
    """An approver's edit of what a rule does: a new proposal of theirs, for someone else."""
    repository.supersede_proposal(session, row.id, _now())
    new = _insert_proposal(session, actor, row.rule_id, content, row.stats, edited_from=row.id)
    _record(session, "edit", actor, row.id, proposal=new, edits=edits, reason=reason)
    return {"rule_id": row.rule_id, "proposal": new, "superseded": row.id, "edits": edits,
            "live": False, "status": "open"}  # fmt: skip


def _approve_statistics(session: Session, actor: str, row: ProposalRow, live: RevisionRow,
                        reason: str) -> Approved:  # fmt: skip
    """A proposal of new statistics for ``live``, a rule's live revision (re-mining): the
    rule's statistics change, its live revision does not (nothing to publish)."""
    repository.set_proposal_status(session, row.id, "approved", _now())
    if row.stats is not None:
        repository.set_rule_stats(session, row.rule_id, row.stats)
    _record(session, "approve", actor, row.rule_id, proposal=row.id, revision=live.revision,
            statistics_only=True, stats=row.stats, reason=reason)  # fmt: skip
    return {"rule_id": row.rule_id, "revision": live.revision, "live": True, "snapshot": None,
            "statistics_only": True}  # fmt: skip


def reject(session: Session, actor: str, proposal_id: str, review: ReviewIn) -> Rejected:
    """Reject a proposal, with a reason (required)."""
    if not review.reason.strip():
        raise InvalidInput.one("reason", "a rejection needs a reason")
    row = _open_proposal(session, proposal_id)
    repository.set_proposal_status(session, proposal_id, "rejected", _now())
    _record(session, "reject", actor, row.rule_id, proposal=proposal_id, reason=review.reason)
    return {"proposal": proposal_id, "status": "rejected"}


def _revision(session: Session, rule_id: str, number: int) -> RevisionRow:
    row = repository.revision(session, rule_id, number)
    if row is None:
        raise NotFound(f"rule {rule_id!r} has no revision {number}")
    return row


def restore(session: Session, actor: str, rule_id: str, number: int, reason: str = "") -> Restored:
    """A new revision equal to revision ``number``, live."""
    old = _revision(session, rule_id, number)
    new = _add_revision(session, rule_id, _Content.of(old), actor, reason or f"restore v{number}",
                        {"restored_from": number})  # fmt: skip
    version = _go_live(session, actor, "rule", rule_id, new)
    _record(
        session, "restore", actor, rule_id, restored_from=number, revision=new, snapshot=version
    )
    return {"rule_id": rule_id, "revision": new, "restored_from": number, "snapshot": version}


def activate(
    session: Session, actor: str, rule_id: str, number: int | None, *, on: bool
) -> Activated:
    """Make ``number`` (default: the newest revision) live, or deactivate the rule."""
    if repository.rule(session, rule_id) is None:
        raise NotFound(f"no rule {rule_id!r}")
    target = None
    if on:
        target = number or _next_revision(session, rule_id) - 1
        _revision(session, rule_id, target)
    version = _go_live(session, actor, "rule", rule_id, target)
    _record(
        session,
        "activate" if on else "deactivate",
        actor,
        rule_id,
        revision=target,
        snapshot=version,
    )
    return {"rule_id": rule_id, "live_revision": target, "snapshot": version}


def needs_attention(live: Snapshot | None, rule_id: str) -> Attention | None:
    """Why the live snapshot holds ``rule_id`` disabled (published before a check that now
    refuses its trigger: it never fires), or None."""
    disabled = live.disabled.get(rule_id) if live is not None else None
    if disabled is None:
        return None
    return {"state": "disabled", "revision": disabled.revision, "problems": list(disabled.problems),
            "action": "deactivate it, or approve a revision whose trigger is within the bound"}  # fmt: skip


def list_rules(session: Session, live: Snapshot | None = None) -> list[RuleSummary]:
    """Every rule; ``needs_attention`` says why one is disabled in ``live`` (or is null)."""
    out: list[RuleSummary] = []
    for r in repository.all_rules(session):
        latest = _next_revision(session, r.id) - 1
        row = _revision(session, r.id, r.live_revision or latest)
        out.append({"id": r.id, "live_revision": r.live_revision, "latest_revision": latest,
                    "trigger": row.text, "offers": row.offers, "priority": row.priority,
                    "stats": r.stats, "needs_attention": needs_attention(live, r.id)})  # fmt: skip
    return out


def history(session: Session, rule_id: str) -> History:
    """Every revision and every action on the rule. Who acted is a key id (``author``,
    ``actor``, ``approved_by``) with the label the key was created with beside it
    (``author_label``, ...); a revision's ``reason`` is the note of ``reason_by`` (for an
    approved proposal the approver, not the proposer)."""
    rule = repository.rule(session, rule_id)
    if rule is None:
        raise NotFound(f"no rule {rule_id!r}")
    rows = repository.revisions(session, rule_id)
    proposal_ids = repository.proposal_ids_of(session, rule_id)
    acts = repository.audit_of(session, [rule_id, *proposal_ids])
    names = labels(session, [*(r.author for r in rows), *(a.actor for a in acts),
                             *(r.source.get("approved_by", "") for r in rows)])  # fmt: skip
    revisions: list[Revision] = []
    for r in rows:
        note_by = r.source.get("approved_by") or r.author
        revision: Revision = {
            "revision": r.revision, "trigger": r.text, "offers": r.offers, "priority": r.priority,
            "description": r.description, "author": r.author, "author_label": names[r.author],
            "reason": r.reason, "reason_by": note_by, "reason_by_label": names[note_by],
            "source": r.source, "created_at": utc(r.created_at).isoformat(),
            "live": r.revision == rule.live_revision,
        }  # fmt: skip
        if r.source.get("approved_by"):
            revision["approved_by_label"] = names[r.source["approved_by"]]
        revisions.append(revision)
    actions: list[AuditRecord] = [
        {"action": a.action, "actor": a.actor, "actor_label": names[a.actor], "details": a.details,
         "occurred_at": utc(a.occurred_at).isoformat()}
        for a in acts
    ]  # fmt: skip
    return {
        "rule_id": rule_id,
        "live_revision": rule.live_revision,
        "revisions": revisions,
        "audit": actions,
    }


def revision_diff(rule_id: str, old: RevisionContent, new: RevisionContent) -> str:
    """A readable diff of two revisions as ``history`` lists them (trigger text, offers,
    priority, description)."""

    def lines(r: RevisionContent) -> list[str]:
        return [f"trigger: {r['trigger']}", f"offers: {', '.join(r['offers'])}",
                f"priority: {r['priority']}", f"description: {r['description']}"]  # fmt: skip

    return "\n".join(
        difflib.unified_diff(lines(old), lines(new), f"{rule_id} v{old['revision']}",
                             f"{rule_id} v{new['revision']}", lineterm="")
    )  # fmt: skip


def diff(session: Session, rule_id: str, a: int, b: int) -> Diff:
    """A readable diff of two revisions (trigger text, offers, priority, description)."""

    def content(row: RevisionRow) -> RevisionContent:
        return {"revision": row.revision, "trigger": row.text, "offers": row.offers,
                "priority": row.priority, "description": row.description}  # fmt: skip

    old, new = _revision(session, rule_id, a), _revision(session, rule_id, b)
    return {"rule_id": rule_id, "from": a, "to": b,
            "diff": revision_diff(rule_id, content(old), content(new))}  # fmt: skip


def seed_rule(session: Session, actor: str, spec: LoadedRule) -> None:
    """Load a rule as it stands (a scenario being loaded): revision 1, live, audited."""
    trigger, text = _checked(session, spec["trigger"], list(spec["offers"]))
    content = _Content(trigger, text, list(spec["offers"]), spec.get("priority", 50),
                       spec.get("description", ""))  # fmt: skip
    number = _add_revision(session, spec["id"], content, actor, "loaded", {"loaded": True})
    repository.set_live_revision(session, spec["id"], number)
    _record(session, "load", actor, spec["id"], revision=number)


def _draft(
    session: Session, proposal_id: str | None, rule_id: str | None, revision: int | None
) -> RuleRevisionSpec:
    """A proposal's or a revision's content as a snapshot rule."""
    row: ProposalRow | RevisionRow
    if proposal_id is not None:
        row = _proposal_row(session, proposal_id)
        rule_id = row.rule_id
    else:
        assert rule_id is not None
        assert revision is not None
        row = _revision(session, rule_id, revision)
    return RuleRevisionSpec.model_validate(
        {"id": rule_id, "trigger": row.trigger, "offers": row.offers, "priority": row.priority,
         "description": row.description})  # fmt: skip


def _with_draft(live: Snapshot, draft: RuleRevisionSpec) -> Snapshot:
    rules_ = [r for r in live.spec.rules if r.id != draft.id]
    spec = live.spec.model_copy(update={"rules": (*rules_, draft)})
    try:  # the live rules are published (one the cost bound refuses stays disabled); the draft is not
        return build_snapshot(spec, published={(r.id, r.revision) for r in rules_})
    except SnapshotError as exc:
        raise InvalidInput.from_diagnostics(exc.diagnostics) from None


def backtest_draft(
    session: Session,
    live: Snapshot,
    *,
    proposal_id: str | None = None,
    rule_id: str | None = None,
    revision: int | None = None,
    days: int = 30,
    limit: int = 5000,
) -> Backtest:
    """Replay the last ``days`` of decision requests from the ledger with the draft in place."""
    draft = _draft(session, proposal_id, rule_id, revision)
    candidate = _with_draft(live, draft)
    since = _now() - dt.timedelta(days=days)
    rows = repository.decision_requests(session, since, limit)
    requests, unreadable = [], 0
    for request, occurred_at in rows:
        at = (
            occurred_at.replace(tzinfo=dt.UTC) if occurred_at.tzinfo is None else occurred_at
        ).isoformat()
        try:  # a request logged before a stricter schema no longer validates: skipped
            requests.append(Request.model_validate({**request, "at": request.get("at") or at}))
        except ValidationError:
            unreadable += 1
    report = backtest(live, candidate, draft.id, requests)
    return {"rule_id": draft.id, "days": days, "requests": report.requests, "skipped": report.skipped + unreadable,
            "fires": report.fires, "fire_rate": report.fire_rate, "changed": report.changed,
            "added": report.added, "pushed_out": report.pushed_out,
            "ev_change_per_request": {"mean": report.ev_change_mean, "low": report.ev_change_low,
                                      "high": report.ev_change_high, "confidence": report.confidence}}  # fmt: skip


def draft_snapshot(session: Session, live: Snapshot, proposal_id: str) -> Snapshot:
    """The live snapshot with the proposal's draft in place (for a dry run; not stored)."""
    return _with_draft(live, _draft(session, proposal_id, None, None))


def dry_run(candidate: Snapshot, request: Request) -> DryRun:
    """One decision on ``candidate`` (``draft_snapshot``), with its full trace; nothing
    recorded."""
    check_request(candidate.spec.customer_schema, request)
    try:
        decision = decide(candidate, request, now=_now(), detail=True)
    except DecisionError as exc:
        raise InvalidInput.one(exc.field, exc.message) from None
    return decision.to_dict()
