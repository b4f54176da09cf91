"""The shapes rule governance takes and gives.

Taken: a proposal, a review and an approver's edits (the API's request bodies, Pydantic
models; names are checked like the catalog's ids). The API, the CLI and the dashboard
validate into them before they call the service.

Given: proposals, rules, their revisions and audit trail, and what each action did. They
are JSON documents that the API, the CLI and the dashboard read as they are, so they are
typed dictionaries, built once by the service in the order the API answers with.

Stored: the rows the repository reads (named tuples, one field per column).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, NamedTuple, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Activated",
    "Approved",
    "Attention",
    "AuditRecord",
    "AuditRow",
    "Backtest",
    "Diff",
    "DryRun",
    "Edited",
    "Edits",
    "EvChange",
    "History",
    "LiveRule",
    "LoadedRule",
    "Proposal",
    "ProposalIn",
    "ProposalRow",
    "ProposalStatus",
    "Proposed",
    "Rejected",
    "Restored",
    "ReviewIn",
    "Revision",
    "RevisionContent",
    "RevisionRow",
    "RuleId",
    "RuleLive",
    "RuleRow",
    "RuleSummary",
    "SelfApproval",
    "Trigger",
    "TriggerDiagnostic",
    "Validation",
]

RuleId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]

Trigger = str | dict[str, Any]
"""A trigger as given: the rule language's text, or its JSON form."""

ProposalStatus = Literal["open", "approved", "rejected", "superseded"]


# --- taken ---------------------------------------------------------------------------------
# no docstrings on the models: pydantic would add them to the OpenAPI document


class ProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule_id: RuleId | None = None
    trigger: Trigger
    offers: Annotated[list[RuleId], Field(min_length=1, max_length=50)]
    priority: Annotated[int, Field(ge=0, le=100)] = 50
    description: Annotated[str, Field(max_length=2000)] = ""
    stats: dict[str, Any] | None = None


class Edits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger: Trigger | None = None
    offers: Annotated[list[RuleId], Field(min_length=1, max_length=50)] | None = None
    priority: Annotated[int, Field(ge=0, le=100)] | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(max_length=2000)] = ""
    edits: Edits | None = None


class LoadedRule(TypedDict):
    """A rule as a scenario's plain data gives it, loaded as live revision 1."""

    id: str
    trigger: Trigger
    offers: list[str]
    priority: NotRequired[int]
    description: NotRequired[str]


# --- stored --------------------------------------------------------------------------------


class ProposalRow(NamedTuple):
    """A stored proposal: its trigger's JSON form and canonical text, the fingerprint of its
    text and offers (or its own id, once it no longer holds it), and its mining statistics."""

    id: str
    fingerprint: str
    rule_id: str
    trigger: dict[str, Any]
    text: str
    offers: list[str]
    priority: int
    description: str
    author: str
    stats: dict[str, Any] | None
    status: ProposalStatus
    created_at: dt.datetime
    updated_at: dt.datetime


class RuleRow(NamedTuple):
    """A stored rule: its live revision (None: deactivated) and latest mining statistics."""

    id: str
    live_revision: int | None
    stats: dict[str, Any] | None
    created_at: dt.datetime


class RevisionRow(NamedTuple):
    """A stored (immutable) revision of a rule; ``source`` says where it came from (a
    proposal and who approved it, a restore, a load)."""

    rule_id: str
    revision: int
    trigger: dict[str, Any]
    text: str
    offers: list[str]
    priority: int
    description: str
    author: str
    reason: str
    source: dict[str, Any]
    created_at: dt.datetime


class AuditRow(NamedTuple):
    """A record of the append-only audit log: who did what to which subject."""

    seq: int
    action: str
    actor: str
    subject: str
    details: dict[str, Any]
    occurred_at: dt.datetime


class LiveRule(TypedDict):
    """The live revision of a rule as snapshot data."""

    id: str
    revision: int
    trigger: dict[str, Any]
    offers: list[str]
    priority: int
    description: str


# --- given ---------------------------------------------------------------------------------


class TriggerDiagnostic(TypedDict):
    """A problem of a trigger at its place: the path in its JSON form, the line and column
    (None: given as JSON), the character span, and the line with a caret under it."""

    message: str
    path: str
    line: int | None
    column: int | None
    start: int | None
    end: int | None
    rendered: str


class Validation(TypedDict):
    """A trigger (and offers) checked: its canonical text and JSON form when valid, else
    every diagnostic; ``errors`` names each unknown offer (``offers[i]``)."""

    valid: bool
    text: str | None
    json: dict[str, Any] | None
    diagnostics: list[TriggerDiagnostic]
    errors: list[dict[str, str]]


class Proposal(TypedDict):
    """A proposal: its rule, trigger (JSON form and canonical ``text``), offers, priority and
    description; its author (key id and label), mining statistics (None: written by hand),
    status, and when it was made and last changed (ISO 8601, UTC)."""

    id: str
    rule_id: str
    trigger: dict[str, Any]
    text: str
    offers: list[str]
    priority: int
    description: str
    author: str
    stats: dict[str, Any] | None
    status: ProposalStatus
    created_at: str
    updated_at: str
    author_label: str


class Proposed(Proposal):
    """A proposal made; ``updated`` when it was open already (re-mining: its statistics
    updated) rather than new."""

    updated: bool


class RuleLive(TypedDict):
    """A proposal of a rule live as proposed already: nothing to review."""

    rule_id: str
    updated: Literal[True]
    status: Literal["live"]


class SelfApproval(TypedDict):
    """Whether the install lets a proposal's author approve it."""

    self_approval: bool


class Approved(TypedDict):
    """A proposal approved: the rule's revision now live and the snapshot published with it
    (None before the first publish). ``statistics_only``: the proposal only brought new
    statistics for the live revision (nothing published)."""

    rule_id: str
    revision: int
    live: Literal[True]
    snapshot: str | None
    statistics_only: NotRequired[bool]


class Edited(TypedDict):
    """An approver's edit of what a rule does: their new proposal (``proposal``), which
    someone else approves; the one they edited is ``superseded``."""

    rule_id: str
    proposal: str
    superseded: str
    edits: list[str]
    live: Literal[False]
    status: Literal["open"]


class Rejected(TypedDict):
    """A proposal rejected."""

    proposal: str
    status: Literal["rejected"]


class Restored(TypedDict):
    """An old revision restored: the new revision equal to it, live in ``snapshot``."""

    rule_id: str
    revision: int
    restored_from: int
    snapshot: str | None


class Activated(TypedDict):
    """A rule activated (``live_revision``) or deactivated (None), published in ``snapshot``."""

    rule_id: str
    live_revision: int | None
    snapshot: str | None


class Attention(TypedDict):
    """Why the live snapshot holds a rule disabled (it never fires), and what to do."""

    state: Literal["disabled"]
    revision: int
    problems: list[str]
    action: str


class RuleSummary(TypedDict):
    """A rule: its live and latest revision, the trigger text, offers and priority of the
    live one (else the latest), its mining statistics, and whether it needs attention."""

    id: str
    live_revision: int | None
    latest_revision: int
    trigger: str
    offers: list[str]
    priority: int
    stats: dict[str, Any] | None
    needs_attention: Attention | None


class RevisionContent(TypedDict):
    """What a revision of a rule does, as a diff reads it (``trigger``: the canonical text)."""

    revision: int
    trigger: str
    offers: list[str]
    priority: int
    description: str


class Revision(RevisionContent):
    """A revision in a rule's history: its author, the ``reason`` noted by ``reason_by`` (for
    an approved proposal the approver), where it came from, when, and whether it is live.
    Who acted is a key id with the key's label beside it."""

    author: str
    author_label: str
    reason: str
    reason_by: str
    reason_by_label: str
    source: dict[str, Any]
    created_at: str
    live: bool
    approved_by_label: NotRequired[str]


class AuditRecord(TypedDict):
    """An action on a rule or one of its proposals, from the audit log."""

    action: str
    actor: str
    actor_label: str
    details: dict[str, Any]
    occurred_at: str


class History(TypedDict):
    """Every revision of a rule, oldest first, and every action on it."""

    rule_id: str
    live_revision: int | None
    revisions: list[Revision]
    audit: list[AuditRecord]


Diff = TypedDict("Diff", {"rule_id": str, "from": int, "to": int, "diff": str})
Diff.__doc__ = """A unified diff of two revisions of a rule (``from`` and ``to``)."""


class EvChange(TypedDict):
    """The change in expected value per request, with its bootstrap interval."""

    mean: float
    low: float
    high: float
    confidence: float


class Backtest(TypedDict):
    """A draft replayed over the last ``days`` of requests: how often it fires, the decisions
    it changes, the offers it adds and pushes out (by offer), and the change in expected
    value per request."""

    rule_id: str
    days: int
    requests: int
    skipped: int
    fires: int
    fire_rate: float
    changed: int
    added: dict[str, int]
    pushed_out: dict[str, int]
    ev_change_per_request: EvChange


DryRun = dict[str, Any]
"""A decision with its full trace, as ``core.decision.Decision.to_dict`` gives it."""
