"""Running journeys: entries, steps and the scheduler, each step exactly once.

Three drivers move enrollments, each inside one database transaction with everything the
step does (its transitions, its decisions, the enrollment's new state):

- **Events** (``on_events``, in the transaction of ``POST /v1/events`` that stores them):
  the customer's active enrollments see the event (a wait for a click ends, an exit
  condition ends the journey at once), and journeys whose entry listens to the event's type
  check their entry condition.
- **Decision requests** (``on_request`` before the decision, ``after_decision`` after it,
  in the decision's transaction): a journey waiting at an inbound offer step on the
  request's channel nominates its offers; journeys whose entry listens to the channel check
  their entry condition.
- **The scheduler** (``tick``, in the server's background process): releases due waits,
  retries and expiries, ends enrollments past their maximum duration, and makes outbound
  offer steps' decisions; ``enter_segment`` enters an outbound journey's segment.

**Exactly once.** A driver reads the enrollments it moves with a row lock (PostgreSQL:
``FOR UPDATE``; the scheduler ``FOR UPDATE SKIP LOCKED``, so several schedulers share the
due work and never wait for one another), and writes their transitions under the unique
``(journey, customer, n)`` and their decisions under the step attempt's key. Whatever
crashes, the transaction commits whole or not at all: a process killed mid-tick leaves the
enrollments due, and the next tick (of any process) runs them once.

Each enrollment's decision is an ordinary decision (same path, same contact policies and
holdout, same ledger), marked with its journey, version and step.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from ...core.decision import JourneyStep
from ...core.journeys import (
    Decide,
    DecisionResult,
    Enrollment,
    Enter,
    Event,
    Input,
    Journey,
    JourneyCounts,
    Tick,
    Transition,
    admit,
    advance,
    day_start,
)
from ...core.request import Request
from ...core.rules import Context, CustomerSchema, build_context
from ..db import Database, after_commit
from ..decisions import service as decisions
from ..errors import Conflict, NotFound
from ..operations.metrics import metrics
from ..snapshots.cache import SnapshotCache
from ..uplift.estimates import ModelCache
from . import repository
from .service import compiled

__all__ = ["Arrival", "JourneyBook", "Moved", "Runner"]

# rounds of decide → result → advance within one driver call: an offer step's decision may
# move an enrollment on to another offer step (skip on block), never more than the steps
MAX_ROUNDS = 64


class Arrival(NamedTuple):
    """An event as the journeys see it: whose, which type, about which offer, when."""

    customer: str
    type: str
    at: dt.datetime
    offer: str | None = None
    value: float | None = None
    event_id: str | None = None


class Moved(NamedTuple):
    """What a driver call did: transitions written, decisions made, entries, exits."""

    transitions: int
    decisions: int
    entered: int
    exited: int


class JourneyBook:
    """The journey versions this process runs, compiled once each (a version never
    changes), and each journey's live version (read again at most every ``poll`` seconds)."""

    def __init__(self, poll: float = 1.0) -> None:
        self.poll = poll
        self._lock = threading.Lock()
        self._versions: dict[tuple[str, int], Journey] = {}
        self._live: dict[str, int] = {}
        self._channels: frozenset[str] = frozenset()
        self._checked = -1e9
        self._active, self._active_checked = False, -1e9

    def live(self, session: Session, schema: CustomerSchema) -> dict[str, Journey]:
        """Each journey's live version (a journey without one takes no new entries)."""
        if time.monotonic() - self._checked >= self.poll:
            live = {r.id: r.live_version for r in repository.list_journeys(session)
                    if r.live_version is not None}  # fmt: skip
            journeys = {j: self.version(session, j, v, schema) for j, v in live.items()}
            channels = repository.inbound_channels(session)
            for journey in journeys.values():
                channels |= set(journey.spec.entry.channels)
            with self._lock:
                self._live, self._channels = live, frozenset(channels)
                self._checked = time.monotonic()
        return {j: self.version(session, j, v, schema) for j, v in self._live.items()}

    def channels(self) -> frozenset[str] | None:
        """The channels a decision request may meet a journey on (an inbound offer step of
        any version, an entry that listens to it), as last read; None when that was more than
        ``poll`` seconds ago (no read here: the event loop calls it)."""
        if time.monotonic() - self._checked >= self.poll:
            return None
        return self._channels

    def any_active(self, session: Session) -> bool:
        """Whether any customer is in a journey (checked again at most every ``poll`` s): a
        deactivated journey's enrollments still move."""
        if time.monotonic() - self._active_checked >= self.poll:
            self._active = repository.any_active(session)
            self._active_checked = time.monotonic()
        return self._active

    def version(
        self, session: Session, journey_id: str, number: int, schema: CustomerSchema
    ) -> Journey:
        key = (journey_id, number)
        journey = self._versions.get(key)
        if journey is None:
            row = repository.version(session, journey_id, number)
            assert row is not None, f"journey {journey_id} has no version {number}"
            journey = compiled(row, schema)
            with self._lock:
                self._versions[key] = journey
        return journey

    def forget(self) -> None:
        """Read the live versions again at the next call (after a publish in this process)."""
        self._checked = self._active_checked = -1e9


@dataclass
class _Work:
    """One enrollment being moved in this transaction."""

    journey: Journey
    customer: str
    expected: int | None  # transitions stored before (None: no row yet)
    enrollment: Enrollment | None
    transitions: list[Transition] = field(default_factory=list)
    decisions: dict[int, str] = field(default_factory=dict)  # transition n → decision id
    asks: list[Decide] = field(default_factory=list)
    entered: bool = False


def _profile_request(customer: str, row: Row[Any] | None, at: dt.datetime) -> Request:
    ref: dict[str, Any] = {"id": customer}
    if row is not None:
        ref.update(attributes=row.attributes, holdings=row.holdings, segments=row.segments)
    return Request.model_validate({"customer": ref, "at": at})


class Runner:
    """The journeys' drivers, for one process: ``db`` for the scheduler's own transactions,
    the live snapshot (``cache``) and models (``models``) for the decisions, ``clock`` for
    the scheduler's time."""

    def __init__(
        self,
        db: Database,
        cache: SnapshotCache,
        models: ModelCache | None = None,
        *,
        book: JourneyBook | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.db, self.cache, self.models = db, cache, models
        self.book = book or JourneyBook()
        self.clock = clock

    def _schema(self) -> CustomerSchema | None:
        """The live snapshot's customer schema; None before the first publish (no journey
        can be proposed before then: the drivers have nothing to do)."""
        try:
            return self.cache.get().spec.customer_schema
        except NotFound:
            return None

    # -- the drivers ------------------------------------------------------------------

    def applies(self, request: Request) -> bool | None:
        """Whether journeys may touch this decision request (a customer, on a channel some
        journey meets them on); None when not known without a read."""
        if request.customer is None or request.channel is None:
            return False
        channels = self.book.channels()
        return None if channels is None else request.channel in channels

    def on_events(self, session: Session, arrivals: Sequence[Arrival]) -> Moved:
        """Move the enrollments the events are about, and enter the customers whose event
        opens a journey (in the transaction that stores the events)."""
        arrivals = [a for a in arrivals if a.customer]
        if not arrivals:
            return Moved(0, 0, 0, 0)
        schema = self._schema()
        if schema is None:
            return Moved(0, 0, 0, 0)
        live = self.book.live(session, schema)
        if not live and not self.book.any_active(session):
            return Moved(0, 0, 0, 0)
        customers = sorted({a.customer for a in arrivals})
        run = _Run(self, session, schema)
        run.load(customers, lock=True)
        opening = {a.customer for a in arrivals
                   if any(j.checks_event(a.type) for j in live.values())}  # fmt: skip
        run.prefetch({c for (_, c) in run.works} | opening)
        for a in sorted(arrivals, key=lambda a: a.at):
            event = Event(a.type, a.at, a.offer, a.value)
            for work in run.of_customer(a.customer):
                run.feed(work, event)
            for journey in live.values():
                if journey.checks_event(a.type):
                    run.try_enter(journey, a.customer, a.at)
        return run.finish()

    def on_request(
        self, session: Session, customer: str, channel: str, at: dt.datetime
    ) -> tuple[JourneyStep, ...]:
        """Before a decision request on ``channel``: enter the customer into the journeys
        that listen to the channel (if they qualify), and the journey offer steps waiting
        for them on it, which nominate their offers."""
        schema = self._schema()
        if schema is None:
            return ()
        live = self.book.live(session, schema)
        listening = [j for j in live.values() if j.checks_channel(channel)]
        if listening:
            repository.lock_customers(session, [customer])
        rows = repository.enrollments_of_customer(session, [customer])
        if listening:
            run = _Run(self, session, schema)
            run.load([customer], lock=False, rows=rows)
            for journey in listening:
                run.try_enter(journey, customer, at)
            run.finish()
            rows = repository.enrollments_of_customer(session, [customer])
        steps = []
        for row in rows:
            if row.status != "active" or row.state.get("phase") != "nominated":
                continue
            journey = self.book.version(session, row.journey_id, row.version, schema)
            offering = journey.offerings.get(row.step)
            if offering is not None and offering.channel == channel:
                steps.append(JourneyStep(journey.id, journey.version, row.step,
                                         tuple(offering.offers)))  # fmt: skip
        return tuple(steps)

    def after_decision(
        self,
        session: Session,
        customer: str,
        steps: Sequence[JourneyStep],
        decision_id: str,
        shown: Sequence[str],
        blocked: Iterable[str],
        at: dt.datetime,
    ) -> Moved:
        """After a decision that journey steps nominated offers for: each step whose offer
        was shown moves on; one whose offers the contact policies blocked follows its
        ``on_blocked``; one whose offers were only outranked keeps waiting."""
        if not steps:
            return Moved(0, 0, 0, 0)
        schema = self._schema()
        if schema is None:
            return Moved(0, 0, 0, 0)
        run = _Run(self, session, schema)
        run.load([customer], lock=True)
        blocked = set(blocked)
        for step in steps:
            work = run.works.get((step.journey, customer))
            if work is None or work.enrollment is None or work.enrollment.step != step.step:
                continue
            mine = tuple(o for o in shown if o in step.offers)
            if mine:
                run.feed(work, DecisionResult(step.step, at, shown=mine, decision_id=decision_id))
            elif blocked & set(step.offers):
                run.feed(work, DecisionResult(step.step, at, blocked="policies",
                                              decision_id=decision_id))  # fmt: skip
        return run.finish()

    def tick(self, limit: int = 1000, now: dt.datetime | None = None) -> Moved:
        """Release what is due at ``now`` (default: the clock), at most ``limit`` enrollments,
        in one transaction of their own."""
        now = now or self.clock()
        if self.db.is_sqlite:  # a read first: no write lock while nothing is due
            with self.db.read() as session:
                if not repository.any_due(session, now):
                    return Moved(0, 0, 0, 0)
        # (PostgreSQL locks nothing until it writes: the transaction's first read is the
        # check, one round trip and one transaction less a tick, 2 ms of a 100 ms tick)
        with self.db.transaction() as session:
            rows = repository.due(session, now, limit)
            held = repository.try_lock_customers(session, {r.customer_id for r in rows})
            rows = [r for r in rows if r.customer_id in held]
            if not rows:
                return Moved(0, 0, 0, 0)
            schema = self._schema()
            if schema is None:
                return Moved(0, 0, 0, 0)
            run = _Run(self, session, schema)
            run.load_rows(rows)
            tick = Tick(now)
            run.feed_all([(work, tick) for work in run.works.values()])
            return run.finish()

    def outbound(self) -> list[str]:
        """The live journeys with an outbound segment (their entries: ``enter_segment``)."""
        with self.db.read() as session:
            schema = self._schema()
            if schema is None:
                return []
            live = self.book.live(session, schema)
        return sorted(j for j, journey in live.items() if journey.spec.entry.segment is not None)

    def enter_segment(
        self, journey_id: str, *, now: dt.datetime | None = None, page: int = 1000,
        progress: Callable[[int], None] | None = None,
    ) -> Moved:  # fmt: skip
        """Enter every stored customer in the live journey's outbound segment (who also
        meets its entry condition and may enter), a page of customers per transaction."""
        now = now or self.clock()
        total = Moved(0, 0, 0, 0)
        after = ""
        while True:
            with self.db.transaction() as session:
                schema = self._schema()
                if schema is None:
                    return total
                journey = self.book.live(session, schema).get(journey_id)
                if journey is None:
                    return total
                customers = repository.segment_customers(session, after, page)
                if not customers:
                    return total
                after = customers[-1].id
                run = _Run(self, session, schema)
                run.load([c.id for c in customers], lock=True, journeys=[journey_id])
                run.profiles.update({c.id: c for c in customers})
                entries: list[tuple[_Work, Input]] = []
                for c in customers:
                    ctx = run.context(c.id, now)
                    if journey.in_segment(ctx):
                        run.try_enter(journey, c.id, now, checked=True, later=entries)
                run.feed_all(entries)
                moved = run.finish()
            total = Moved(*(a + b for a, b in zip(total, moved, strict=True)))
            if progress is not None:
                progress(len(customers))


class _Run:
    """One driver call's enrollments, moved in its session and written by ``finish``."""

    def __init__(self, runner: Runner, session: Session, schema: CustomerSchema) -> None:
        self.runner, self.session, self.schema = runner, session, schema
        self.works: dict[tuple[str, str], _Work] = {}
        self.profiles: dict[str, Row[Any] | None] = {}
        self.contexts: dict[tuple[str, dt.datetime], Context] = {}
        self.counts: dict[str, list[int]] = {}
        self.decided = 0

    # -- reading ------------------------------------------------------------------------

    def load(
        self,
        customers: Sequence[str],
        *,
        lock: bool,
        rows: Sequence[Row[Any]] | None = None,
        journeys: Sequence[str] | None = None,
    ) -> None:
        """The customers' enrollments (``lock``: the customers locked first, for this
        transaction: every driver that writes a customer's enrollments takes their lock)."""
        if lock:
            repository.lock_customers(self.session, customers)
        if rows is None:
            rows = repository.enrollments_of_customer(self.session, customers)
        self.load_rows([r for r in rows if journeys is None or r.journey_id in journeys])

    def load_rows(self, rows: Sequence[Row[Any]]) -> None:
        versions: dict[tuple[str, int], Journey] = {}
        readers: set[str] = set()
        for row in rows:
            key = (row.journey_id, row.version)
            journey = versions.get(key)
            if journey is None:
                journey = versions[key] = self.runner.book.version(self.session, *key, self.schema)
            state = row.state  # JSON text from ``repository.due``, plain JSON otherwise
            enrollment = (Enrollment.from_json(state) if isinstance(state, str)
                          else Enrollment.from_dict(state))  # fmt: skip
            self.works[(row.journey_id, row.customer_id)] = _Work(
                journey, row.customer_id, row.transitions, enrollment
            )
            if journey.reads_context:
                readers.add(row.customer_id)
        # the stored customers only where the journey reads them (its conditions): reading
        # a thousand and building their contexts took 22 ms of a tick
        self.prefetch(readers)

    def prefetch(self, customers: Iterable[str]) -> None:
        """The stored customers (for conditions) among ``customers``, in one read."""
        missing = sorted(set(customers) - set(self.profiles))
        if missing:
            self.profiles.update(dict.fromkeys(missing))
            self.profiles.update(repository.customer_profiles(self.session, missing))

    def of_customer(self, customer: str) -> list[_Work]:
        return [w for (_, c), w in self.works.items() if c == customer]

    def context(self, customer: str, at: dt.datetime) -> Context:
        key = (customer, at)
        ctx = self.contexts.get(key)
        if ctx is None:
            if customer not in self.profiles:
                self.prefetch([customer])
            request = _profile_request(customer, self.profiles.get(customer), at)
            ctx = self.contexts[key] = build_context(request, self.schema, now=at)
        return ctx

    # -- moving -------------------------------------------------------------------------

    def feed(self, work: _Work, arrival: Input) -> None:
        """``arrival`` into one enrollment (``feed_all`` of one)."""
        self.feed_all([(work, arrival)])

    def feed_all(self, pending: Sequence[tuple[_Work, Input]]) -> None:
        """Each arrival into its enrollment (one per enrollment); the outbound offer steps
        they reach decided together (one read, one write), and their results fed back, round
        after round, until every enrollment rests."""
        for _ in range(MAX_ROUNDS):
            asks: list[tuple[_Work, Decide]] = []
            for work, arrival in pending:
                ctx = (self.context(work.customer, arrival.at)
                       if work.journey.reads_context else {})  # fmt: skip
                progress = advance(work.journey, work.enrollment, arrival, context=ctx)
                work.enrollment = progress.enrollment
                work.transitions += progress.transitions
                outbound = [d for d in progress.decisions if d.mode == "outbound"]
                if outbound:
                    asks.append((work, outbound[-1]))
            if not asks:
                return
            pending = self.decide(asks)
        raise AssertionError(f"journeys: {MAX_ROUNDS} rounds of decisions in one call")

    def decide(self, asks: Sequence[tuple[_Work, Decide]]) -> list[tuple[_Work, Input]]:
        """Outbound offer steps' decisions, made now through the decision path, in one batch
        per moment; each step's result."""
        out: list[tuple[_Work, Input]] = []
        by_moment: dict[dt.datetime, list[tuple[_Work, Decide]]] = {}
        for work, ask in asks:
            by_moment.setdefault(ask.at, []).append((work, ask))
        for at, group in by_moment.items():
            made = decisions.decide_steps(
                self.session, self.runner.cache, self.runner.models,
                [decisions.StepAsk(a.customer, a.channel, a.placements,
                                   JourneyStep(a.journey, a.version, a.step, a.offers, only=True),
                                   a.key) for _, a in group],
                at,
            )  # fmt: skip
            self.decided += len(group)
            for (work, ask), result in zip(group, made, strict=True):
                out.append((work, self.result(work, ask, result)))
        return out

    def result(
        self, work: _Work, ask: Decide, made: decisions.StepDecided | None
    ) -> DecisionResult:
        if made is None:  # the step cannot be decided any more (its channel is gone)
            return DecisionResult(ask.step, ask.at, attempt=ask.attempt)
        shown = tuple(made["shown"])
        if work.enrollment is not None:
            work.decisions[work.enrollment.seq + 1] = made["id"]
        blocked: Literal["policies"] | None = "policies" if not shown and made["blocked"] else None
        return DecisionResult(ask.step, ask.at, shown=shown, blocked=blocked,
                              decision_id=made["id"], attempt=ask.attempt)  # fmt: skip

    def try_enter(
        self, journey: Journey, customer: str, at: dt.datetime, *, checked: bool = False,
        later: list[tuple[_Work, Input]] | None = None,
    ) -> None:  # fmt: skip
        """Enter ``customer`` if they qualify (``checked``: the caller checked) and may
        (re-entry, caps); fed now, or appended to ``later`` to be fed with others."""
        key = (journey.id, customer)
        work = self.works.get(key)
        previous = work.enrollment if work is not None else None
        if previous is not None and previous.active:
            return
        if not checked and not journey.qualifies(self.context(customer, at)):
            return
        counts = self.counts.get(journey.id)
        if counts is None:
            entered, active = repository.counts(self.session, journey.id, day_start(at))
            counts = self.counts[journey.id] = [entered, active]
        if not admit(journey, previous, at, JourneyCounts(*counts)).allowed:
            return
        if work is None:
            work = self.works[key] = _Work(journey, customer, None, None)
        else:
            work.journey = journey
        counts[0] += 1
        counts[1] += 1
        work.entered = True
        entry = Enter(customer, at, journey.in_holdout(customer))
        if later is None:
            self.feed(work, entry)
        else:
            later.append((work, entry))

    # -- writing ------------------------------------------------------------------------

    def finish(self) -> Moved:
        """Write every moved enrollment's transitions and state; the counts."""
        rows: list[dict[str, Any]] = []
        new: list[dict[str, Any]] = []
        moved: list[tuple[dict[str, Any], int]] = []
        entered = exited = 0
        now = dt.datetime.now(dt.UTC)
        for work in self.works.values():
            if not work.transitions or work.enrollment is None:
                continue
            e = work.enrollment
            for t in work.transitions:
                rows.append(repository.transition_values(t, work.decisions.get(t.seq)))
                entered += t.kind == "enter"
                exited += t.kind == "exit"
            values = repository.enrollment_values(e, now)
            if work.expected is None:
                new.append(values)
            else:
                moved.append((values, work.expected))
        if not repository.write_enrollments(self.session, new, moved):
            # every driver takes the customer's lock first: a defect, not a race to retry
            raise Conflict("a journey enrollment moved in another transaction at the same "
                           "time; try again")  # fmt: skip
        repository.insert_transitions(self.session, rows)
        kinds = [row["kind"] for row in rows]
        after_commit(self.session, lambda: metrics().journeyed(kinds))
        return Moved(len(rows), self.decided, entered, exited)
