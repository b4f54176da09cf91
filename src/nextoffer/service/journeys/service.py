"""Journey definitions under four eyes: proposals, reviews, versions, restore; and reading
journeys, enrollments and their reports.

- A **proposal** is a definition (JSON or YAML, as ``JourneySpec`` reads it) by its author,
  checked as it would run: its step graph, its conditions against the live snapshot's
  customer schema, its offers and channels against the live catalog; every problem is named
  (``steps[2].next``), nothing is stored until it compiles.
- **Review**: an approver publishes it (it becomes the journey's next **version**, and live)
  or rejects it with a reason. Nobody publishes what they proposed unless an admin relaxed
  four eyes for the install (the same setting as rules').
- **Versions** are immutable ledger rows (v1, v2, ...). Customers already in the journey
  stay on the version they entered with; new entries take the live version. Restoring
  version n publishes a new version equal to it. Every action goes to the audit log.

Running journeys (entries, steps, the scheduler) is ``runner.py``'s; ``simulate`` runs one
customer through a version with the pure step function and the engine, writing nothing.
"""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from ...core.decision import CustomerState, JourneyStep, Seen, Snapshot, decide
from ...core.journeys import (
    DecisionResult,
    Enrollment,
    Enter,
    Input,
    Journey,
    JourneyError,
    Tick,
    Transition,
    advance,
    compile_journey,
)
from ...core.journeys import Event as JourneyEvent
from ...core.request import Request
from ...core.rules import ContextError, CustomerSchema, build_context
from ...core.stats import compare
from ..errors import Forbidden, InvalidInput, NotFound
from ..ledger.service import utc
from ..rules.service import self_approval
from ..snapshots import service as snapshots
from . import repository
from .schemas import (
    EnrollmentOut,
    JourneyOut,
    JourneyProposal,
    JourneySummary,
    Published,
    Report,
    Simulated,
    SimulateIn,
    StepReport,
    TransitionOut,
    VersionOut,
)

__all__ = [
    "approve",
    "catalog_of",
    "compiled",
    "customer_journeys",
    "enrollments",
    "get_journey",
    "list_journeys",
    "list_proposals",
    "propose",
    "reject",
    "report",
    "restore",
    "simulate",
    "transition_out",
]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def catalog_of(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a definition is compiled against: the live snapshot's customer schema, offer ids
    and channels (with their placements)."""
    spec = spec or {}
    return {
        "customer_schema": CustomerSchema.model_validate(spec.get("customer_schema") or {}),
        "offers": [o["id"] for o in spec.get("offers", ())],
        "channels": {c["id"]: [p["id"] for p in c.get("placements", ())]
                     for c in spec.get("channels", ())},
    }  # fmt: skip


def _compile(session: Session, definition: Any, version: int = 1) -> Journey:
    """The definition compiled against the live catalog, or a 422 naming every problem."""
    if not isinstance(definition, Mapping):
        raise InvalidInput.one("definition", "expected a journey definition (a JSON object)")
    live = snapshots.live_spec(session)
    if live is None:
        raise InvalidInput.one("definition", "nothing is published yet: publish a catalog first")
    try:
        return compile_journey(definition, version=version, **catalog_of(live))
    except JourneyError as exc:
        raise InvalidInput.from_diagnostics(exc.diagnostics) from None


def compiled(row: Row[Any], schema: CustomerSchema) -> Journey:
    """A stored version, compiled (it compiled when it was published; the catalog is not
    checked again: a journey keeps running when an offer leaves, and the decision path
    names the offer it no longer has)."""
    return compile_journey(row.definition, version=row.version, customer_schema=schema)


def _proposal(row: Row[Any]) -> JourneyProposal:
    return {"id": row.id, "journey_id": row.journey_id, "author": row.author,
            "reason": row.reason, "status": row.status, "reviewer": row.reviewer,
            "review_reason": row.review_reason, "created_at": utc(row.created_at).isoformat(),
            "definition": row.definition}  # fmt: skip


def propose(session: Session, actor: str, definition: object, reason: str = "") -> JourneyProposal:
    """A new proposal of ``definition`` by ``actor``, if it compiles against the live
    catalog; audited."""
    journey = _compile(session, definition)
    clean = journey.spec.model_dump(mode="json", exclude_unset=True)
    clean["id"] = journey.id
    now, proposal_id = _now(), str(uuid.uuid4())
    values = {"id": proposal_id, "journey_id": journey.id, "definition": clean,
              "author": actor, "reason": reason, "status": "open", "reviewer": None,
              "review_reason": None, "created_at": now, "updated_at": now}  # fmt: skip
    repository.insert_proposal(session, values)
    repository.record(session, "journey-propose", actor, proposal_id, {"journey": journey.id})
    row = repository.proposal(session, proposal_id)
    assert row is not None
    return _proposal(row)


def list_proposals(session: Session, status: str | None = "open") -> list[JourneyProposal]:
    return [_proposal(r) for r in repository.list_proposals(session, status)]


def _open(session: Session, proposal_id: str) -> Row[Any]:
    row = repository.proposal(session, proposal_id)
    if row is None:
        raise NotFound(f"no journey proposal {proposal_id!r}")
    if row.status != "open":
        raise InvalidInput.one("proposal", f"proposal {proposal_id} is {row.status}, not open")
    return row


def _publish(
    session: Session, actor: str, journey_id: str, definition: dict[str, Any], author: str,
    reason: str, source: dict[str, Any],
) -> int:  # fmt: skip
    if repository.journey(session, journey_id) is None:
        repository.insert_journey(session, journey_id, _now())
    number = repository.insert_version(
        session,
        {"journey_id": journey_id, "definition": definition, "author": author,
         "reason": reason, "source": source, "created_at": _now()},
    )  # fmt: skip
    repository.set_live_version(session, journey_id, number)
    return number


def approve(session: Session, actor: str, proposal_id: str, reason: str = "") -> Published:
    """Publish an open proposal: it becomes the journey's next version, live for new
    entries. Four eyes: not by its author (unless the install relaxed it)."""
    row = _open(session, proposal_id)
    if row.author == actor and not self_approval(session):
        raise Forbidden("four eyes: a journey proposal cannot be published by its own author")
    _compile(session, row.definition)  # the catalog may have changed since it was proposed
    number = _publish(session, actor, row.journey_id, row.definition, row.author, reason,
                      {"proposal": proposal_id, "approved_by": actor})  # fmt: skip
    repository.set_proposal_status(session, proposal_id, "approved", actor, reason, _now())
    repository.record(session, "journey-publish", actor, row.journey_id,
                      {"proposal": proposal_id, "version": number, "reason": reason})  # fmt: skip
    return {"journey_id": row.journey_id, "version": number, "live": True,
            "proposal": proposal_id, "restored_from": None}  # fmt: skip


def reject(session: Session, actor: str, proposal_id: str, reason: str) -> JourneyProposal:
    """Reject an open proposal with a reason; audited."""
    if not reason.strip():
        raise InvalidInput.one("reason", "a rejection needs a reason")
    row = _open(session, proposal_id)
    repository.set_proposal_status(session, proposal_id, "rejected", actor, reason, _now())
    repository.record(session, "journey-reject", actor, row.journey_id,
                      {"proposal": proposal_id, "reason": reason})  # fmt: skip
    rejected = repository.proposal(session, proposal_id)
    assert rejected is not None
    return _proposal(rejected)


def restore(
    session: Session, actor: str, journey_id: str, number: int, reason: str = ""
) -> Published:
    """Publish a new version equal to version ``number`` (it compiled when published; it
    must still compile against the live catalog)."""
    old = repository.version(session, journey_id, number)
    if old is None:
        raise NotFound(f"journey {journey_id!r} has no version {number}")
    _compile(session, old.definition)
    new = _publish(session, actor, journey_id, old.definition, actor,
                   reason or f"restore v{number}", {"restored_from": number})  # fmt: skip
    repository.record(session, "journey-restore", actor, journey_id,
                      {"restored_from": number, "version": new})  # fmt: skip
    return {"journey_id": journey_id, "version": new, "live": True, "proposal": None,
            "restored_from": number}  # fmt: skip


def _version(row: Row[Any]) -> VersionOut:
    return {"version": row.version, "author": row.author, "reason": row.reason,
            "source": row.source, "created_at": utc(row.created_at).isoformat(),
            "definition": row.definition}  # fmt: skip


def list_journeys(session: Session) -> list[JourneySummary]:
    """Every journey with its live version, and every journey that only has proposals."""
    opened = Counter(p.journey_id for p in repository.list_proposals(session, "open"))
    out: list[JourneySummary] = []
    seen: set[str] = set()
    for j in repository.list_journeys(session):
        versions = repository.versions(session, j.id)
        live = next((v for v in versions if v.version == j.live_version), None)
        _, active = repository.counts(session, j.id, _now())
        out.append({"id": j.id, "name": (live or versions[-1]).definition.get("name", ""),
                    "live_version": j.live_version, "versions": len(versions),
                    "active": active, "open_proposals": opened[j.id]})  # fmt: skip
        seen.add(j.id)
    for journey_id in sorted(set(opened) - seen):
        out.append({"id": journey_id, "name": "", "live_version": None, "versions": 0,
                    "active": 0, "open_proposals": opened[journey_id]})  # fmt: skip
    return out


def get_journey(session: Session, journey_id: str) -> JourneyOut:
    row = repository.journey(session, journey_id)
    proposals = [_proposal(p) for p in repository.list_proposals(session, None)
                 if p.journey_id == journey_id]  # fmt: skip
    if row is None and not proposals:
        raise NotFound(f"no journey {journey_id!r}")
    versions = [_version(v) for v in repository.versions(session, journey_id)]
    live = row.live_version if row is not None else None
    definition = next((v["definition"] for v in versions if v["version"] == live), None)
    return {"id": journey_id, "live_version": live, "definition": definition,
            "versions": versions, "proposals": proposals}  # fmt: skip


def transition_out(row: Row[Any]) -> TransitionOut:
    return {"n": row.n, "at": utc(row.at).isoformat(), "kind": row.kind,
            "from_step": row.from_step, "to_step": row.to_step, "reason": row.reason,
            "decision_id": row.decision_id}  # fmt: skip


def enrollments(session: Session, journey_id: str) -> dict[str, Enrollment]:
    """Every customer's enrollment in the journey, as the step function sees it."""
    return {r.customer_id: Enrollment.from_dict(r.state)
            for r in repository.enrollments_of_journey(session, journey_id)}  # fmt: skip


def customer_journeys(session: Session, customer_id: str) -> list[EnrollmentOut]:
    """Where the customer is in each journey they entered, and the path so far (their
    latest entry's)."""
    out: list[EnrollmentOut] = []
    for e in repository.enrollments_of_customer(session, [customer_id]):
        state = e.state
        path = list(repository.transitions_of(session, e.journey_id, customer_id))
        entries = [i for i, t in enumerate(path) if t.kind == "enter"]
        latest = path[entries[-1] :] if entries else path
        out.append({"journey_id": e.journey_id, "version": e.version, "status": e.status,
                    "step": e.step, "holdout": bool(state.get("holdout")),
                    "entered_at": state.get("entered_at", ""),
                    "due_at": utc(e.due_at).isoformat() if e.due_at is not None else None,
                    "exit_reason": state.get("exit_reason"),
                    "path": [transition_out(t) for t in latest]})  # fmt: skip
    return sorted(out, key=lambda e: e["journey_id"])


def report(session: Session, journey_id: str) -> Report:
    """Per step: entered, waiting, advanced, exited by reason, median time in step; exits
    by reason; and the holdout comparison (``runner.comparison``)."""
    journey = get_journey(session, journey_id)
    if journey["live_version"] is None and not journey["versions"]:
        raise NotFound(f"journey {journey_id!r} has no published version")
    rows = repository.report_rows(session, journey_id)
    steps_of: dict[str, str] = {}
    for v in journey["versions"]:
        for s in v["definition"].get("steps", ()):
            steps_of.setdefault(s["id"], s["type"])
    entered: Counter[str] = Counter()
    advanced: Counter[str] = Counter()
    exited: defaultdict[str, Counter[str]] = defaultdict(Counter)
    hours: defaultdict[str, list[float]] = defaultdict(list)
    arrived: dict[tuple[str, str], dt.datetime] = {}
    people = {"entered": set(), "holdout": set()}  # type: dict[str, set[str]]
    exits: Counter[str] = Counter()
    for r in rows:
        at = utc(r.at)
        if r.kind == "enter":
            (people["holdout"] if r.record.get("holdout") else people["entered"]).add(r.customer_id)
        if r.to_step is not None and r.to_step != r.from_step:
            entered[r.to_step] += 1
            arrived[(r.customer_id, r.to_step)] = at
        if r.from_step is not None and r.to_step != r.from_step:
            start = arrived.pop((r.customer_id, r.from_step), None)
            if start is not None:
                hours[r.from_step].append((at - start).total_seconds() / 3600)
            if r.kind == "exit":
                exited[r.from_step][r.reason or ""] += 1
            else:
                advanced[r.from_step] += 1
        if r.kind == "exit":
            exits[r.reason or ""] += 1
    waiting = Counter(step for (_, step) in arrived)
    steps: list[StepReport] = [
        {"step": s, "type": t, "entered": entered[s], "waiting": waiting[s],
         "advanced": advanced[s], "exited": dict(exited[s]),
         "median_hours": statistics.median(hours[s]) if hours[s] else None}
        for s, t in steps_of.items()
    ]  # fmt: skip
    return {"journey_id": journey_id, "entered": len(people["entered"]),
            "holdout": len(people["holdout"]), "active": len(arrived), "exits": dict(exits),
            "steps": steps,
            "comparison": _comparison(session, journey, people["entered"], people["holdout"])}  # fmt: skip


def _comparison(
    session: Session, journey: JourneyOut, treated: set[str], control: set[str]
) -> dict[str, Any]:
    """The journey's entrants against its holdout: conversions on the journey's goal (a
    ``convert`` event on one of its ``goal`` offers, by default its offer steps' offers,
    since its first version), with the
    experiment statistics of the product (Wilson and Newcombe intervals, the z-test, Welch
    and bootstrap intervals on revenue per customer)."""
    offers: set[str] = set()
    for v in journey["versions"]:  # each version's goal, or its offer steps' offers
        definition = v["definition"]
        offers |= set(definition.get("goal") or (
            o for s in definition.get("steps", ()) if s["type"] == "offer" for o in s["offers"]
        ))  # fmt: skip
    first = min((utc(dt.datetime.fromisoformat(v["created_at"])) for v in journey["versions"]),
                default=_now())  # fmt: skip
    converted = repository.converted_customers(session, treated | control, offers, first)
    arms = {}
    for name, group in (("treated", sorted(treated)), ("control", sorted(control))):
        arms[name] = ([1.0 if c in converted else 0.0 for c in group],
                      [converted.get(c, 0.0) for c in group])  # fmt: skip
    result = compare(*arms["treated"], *arms["control"])
    return {"offers": sorted(offers), **result.to_dict()}


def _moment(field: str, text: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput.one(
            field, f"expected a time such as 2026-03-08T14:30:00Z, got {text!r}"
        ) from None
    if at.tzinfo is None:
        raise InvalidInput.one(field, "needs a time zone offset, such as 2026-03-08T14:30:00Z")
    if not _EARLIEST.year <= at.year <= _LATEST.year:
        raise InvalidInput.one(
            field, f"must be between the years {_EARLIEST.year} and {_LATEST.year}"
        )
    return at.astimezone(dt.UTC)


# a simulation's times: far enough from the calendar's ends that entry plus a journey's
# maximum duration (and a time zone offset) can never overflow a datetime
_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(9000, 12, 31, tzinfo=dt.UTC)


def simulate(session: Session, snapshot: Snapshot, journey_id: str, body: SimulateIn) -> Simulated:
    """One customer through the journey's live version (or ``body.version``): they enter
    at ``body.at`` (if they qualify; a holdout customer enters the holdout), then each event
    happens at its time (``type: "request"`` with a ``channel``: the customer asks on that
    channel, where an inbound step waits), the clock ticking in between, until
    ``body.until`` (default: the journey's maximum duration after entry). Offer steps are
    decided by the engine on the live snapshot, with the simulated decisions as the
    customer's only contacts. Nothing is written."""
    row = repository.journey(session, journey_id)
    number = body.version or (row.live_version if row is not None else None)
    stored = repository.version(session, journey_id, number) if number is not None else None
    if stored is None:
        raise NotFound(f"journey {journey_id!r} has no version {number or '(none is live)'}")
    journey = compiled(stored, snapshot.spec.customer_schema)
    start = _moment("at", body.at)
    try:
        request = Request.model_validate({"customer": body.customer, "at": start})
    except ValidationError as exc:
        raise InvalidInput([{**e, "field": _in_customer(e["field"])}
                            for e in InvalidInput.from_validation(exc).errors]) from None  # fmt: skip
    assert request.customer is not None
    customer = request.customer.id
    try:
        context = build_context(request, snapshot.spec.customer_schema, now=start)
    except ContextError as exc:
        raise InvalidInput.one(_in_customer(exc.field or ""), exc.message) from None
    end = _moment("until", body.until) if body.until else start + journey.max_duration
    events = sorted(((_moment(f"events[{i}].at", e.at), i, e) for i, e in enumerate(body.events)),
                    key=lambda x: (x[0], x[1]))  # fmt: skip
    run = _Simulation(snapshot, journey, customer, request, context)
    if journey.qualifies(context):
        run.feed(Enter(customer, start, journey.in_holdout(customer)))
    for at, _, e in events:
        if at > end:
            break
        run.tick(at)
        if e.type == "request":
            run.request(e.channel or "", at)
        else:
            run.feed(JourneyEvent(e.type, at, e.offer, e.value))
    run.tick(end)
    e_ = run.enrollment
    return {"journey_id": journey_id, "version": journey.version,
            "holdout": bool(e_ and e_.holdout), "path": run.path, "decisions": run.decisions,
            "status": e_.status if e_ else "not_entered",
            "exit_reason": e_.exit_reason if e_ else None}  # fmt: skip


def _in_customer(field: str) -> str:
    """A field of the request made of ``body.customer`` (``customer.id``,
    ``customer.attributes.tenureMonths``), named where the body has it."""
    if field == "customer" or field.startswith("customer."):
        return field
    return "customer" if field in ("", "body") else f"customer.{field}"


class _Simulation:
    """One customer's simulated enrollment: the step function fed, offer steps decided."""

    def __init__(self, snapshot: Snapshot, journey: Journey, customer: str, request: Request,
                 context: dict[str, Any]) -> None:  # fmt: skip
        self.snapshot, self.journey, self.customer = snapshot, journey, customer
        self.base, self.context = request, context
        self.enrollment: Enrollment | None = None
        self.path: list[TransitionOut] = []
        self.decisions: list[dict[str, Any]] = []
        self.contacts: list[Seen] = []

    def feed(self, arrival: Input) -> None:
        for _ in range(64):
            if self.enrollment is None and not isinstance(arrival, Enter):
                return
            progress = advance(self.journey, self.enrollment, arrival, context=self.context)
            self.enrollment = progress.enrollment
            self.path += [_simulated(t) for t in progress.transitions]
            outbound = [d for d in progress.decisions if d.mode == "outbound"]
            if not outbound:
                return
            ask = outbound[-1]
            step = JourneyStep(ask.journey, ask.version, ask.step, ask.offers, only=True)
            arrival = self.decide(ask.channel, ask.placements, step, ask.at)
        raise InvalidInput.one("events", "the journey made 64 decisions at one time")

    def tick(self, at: dt.datetime) -> None:
        """The clock runs to ``at``: a tick at each moment the enrollment falls due on the
        way (a wait's end, a retry, an expiry, the maximum duration), as the scheduler
        would send it, then one at ``at``."""
        for _ in range(10_000):
            e = self.enrollment
            if e is None or not e.active or e.due_at is None or e.due_at > at:
                break
            self.feed(Tick(e.due_at))
            if self.enrollment is e:  # nothing changed at its due time: do not tick it again
                break
        else:
            raise InvalidInput.one("events", "the journey fell due 10,000 times in a row")
        self.feed(Tick(at))

    def request(self, channel: str, at: dt.datetime) -> None:
        """The customer asks on ``channel``: an inbound step waiting there nominates."""
        e = self.enrollment
        if e is None or e.status != "active" or e.phase != "nominated" or e.step is None:
            return
        offering = self.journey.offerings.get(e.step)
        if offering is None or offering.channel != channel:
            return
        step = JourneyStep(self.journey.id, self.journey.version, e.step, tuple(offering.offers))
        result = self.decide(channel, (), step, at)
        if result.shown or result.blocked:
            self.feed(result)

    def decide(self, channel: str, placements: tuple[str, ...], step: JourneyStep,
               at: dt.datetime) -> DecisionResult:  # fmt: skip
        body = {**self.base.model_dump(mode="json", exclude_none=True), "channel": channel,
                "at": at, "placements": [{"key": p} for p in placements]}  # fmt: skip
        state = CustomerState.from_seen(self.contacts, id=self.customer)
        decision = decide(self.snapshot, Request.model_validate(body), state, detail=True,
                          journeys=[step])  # fmt: skip
        shown = tuple(o for o in decision.offers() if o in step.offers)
        self.decisions.append({"step": step.step, "at": at.isoformat(), "channel": channel,
                               "offers": decision.offers(), "control": decision.control})  # fmt: skip
        for o in decision.offers():
            self.contacts.append(Seen(o, channel, "shown", None, at.timestamp()))
        held = any(st == "policies" and o in step.offers for o, st, _ in decision.trace.drops)
        return DecisionResult(
            step.step, at, shown=shown, blocked="policies" if held and not shown else None
        )


def _simulated(t: Transition) -> TransitionOut:
    return {"n": t.seq, "at": t.at.isoformat(), "kind": t.kind, "from_step": t.from_step,
            "to_step": t.to_step, "reason": t.reason or None, "decision_id": None}  # fmt: skip
