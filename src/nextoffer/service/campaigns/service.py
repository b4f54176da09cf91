"""Outbound campaigns: one decision for every customer of a list or a segment, through the
decision path that journeys' outbound steps take (``decisions.decide_rows``: one read of
the page's states and CATE estimates, the engine per customer with the contact policies,
the holdout, uplift and exploration), written to the ledger a page at a time (``COPY`` on
PostgreSQL), and exported as a send list.

**Resumable, never twice.** Each customer's decision is stored under the idempotency key
``campaign:<name>:<customer>``. A page is read, decided and written in one transaction;
before deciding, the page's keys are looked up and the customers an earlier run decided
are skipped (their stored decisions go into the send list as they are). A run killed at
any point leaves whole pages behind it: running it again decides only the rest. Two runs
of one campaign at once cannot both decide a customer either: the database refuses the
second key (``Conflict``; the run that lost can be run again to resume). A decision's id
is made of its key (``decision_id``): it seeds an exploring channel, so a run on Spark
(``on_spark``) gives the same rows as this one.

A segment is a condition of the rule language over the stored customers (as an outbound
journey's segment is), evaluated page by page in the order of their ids.
"""

from __future__ import annotations

import datetime as dt
import gc
import multiprocessing
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...core.decision import Snapshot
from ...core.request import Request
from ...core.rules import CompiledCondition, ContextError, Environment, RuleError, build_context
from ...jobs.uplift import UpliftModel
from ..db import Database, tune_for_batch
from ..decisions import service as decisions
from ..errors import Conflict, InvalidInput
from ..ledger import service as ledger
from ..ledger.schemas import DecisionRow
from ..snapshots.cache import SnapshotCache
from ..uplift.estimates import ModelCache
from . import repository
from .schemas import MAX_API_CUSTOMERS, CampaignRun, Send

__all__ = [
    "PAGE",
    "Campaign",
    "check",
    "conflict",
    "decision_id",
    "decision_key",
    "members_pages",
    "page_of",
    "run",
    "run_bounded",
    "segment_members",
    "stored_customers",
    "summary",
    "undecided",
]

PAGE = 2000  # customers decided and written per transaction
# what a page's transaction did: decided now, decided before, every member's send
Page = tuple[int, int, list[Send]]


def decision_key(name: str, customer: str) -> str:
    """The idempotency key of ``customer``'s decision in campaign ``name``."""
    return f"campaign:{name}:{customer}"


_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "nextoffer:campaigns")


def decision_id(name: str, customer: str) -> str:
    """The id of ``customer``'s decision in campaign ``name``: made of its key (a UUID 5),
    so that it seeds an exploring channel alike on every run and engine (local or Spark)."""
    return str(uuid.uuid5(_IDS, decision_key(name, customer)))


@dataclass(frozen=True)
class Campaign:
    """A campaign to run: its ``name`` (what keys its decisions), the ``channel`` and
    ``placements`` (none: all of the channel's), and either a list of ``customers`` or a
    ``segment`` condition over the stored customers."""

    name: str
    channel: str
    placements: tuple[str, ...] = ()
    customers: Sequence[str] | None = None
    segment: str | None = None


def check(snapshot: Snapshot, campaign: Campaign) -> CompiledCondition | None:
    """The campaign checked against the live snapshot before anything is decided: every
    problem named by its field (``channel``, ``placements[1]``, ``segment``) in one
    ``InvalidInput``; the compiled segment (None for a list of customers)."""
    errors: list[dict[str, str]] = []
    channel = snapshot.channels.get(campaign.channel)
    if channel is None:
        known = ", ".join(sorted(snapshot.channels))
        errors.append({"field": "channel",
                       "message": f"unknown channel {campaign.channel!r} (channels: {known})"})  # fmt: skip
    else:
        known_placements = [p.id for p in channel.placements]
        for i, placement in enumerate(campaign.placements):
            if placement not in known_placements:
                errors.append({
                    "field": f"placements[{i}]",
                    "message": f"unknown placement {placement!r} on channel {channel.id!r} "
                    f"(placements: {', '.join(known_placements)})",
                })  # fmt: skip
        if len(set(campaign.placements)) != len(campaign.placements):
            errors.append({"field": "placements", "message": "names a placement twice"})
    if (campaign.customers is None) == (campaign.segment is None):
        errors.append({"field": "customers",
                       "message": "give either a list of customers or a segment, not both"
                       if campaign.segment is not None else
                       "give a list of customers or a segment"})  # fmt: skip
    condition = None
    if campaign.segment is not None:
        env = Environment(snapshot.spec.customer_schema, offer_names=False)
        try:
            condition = env.compile(campaign.segment)
        except RuleError as exc:
            errors += [{"field": "segment", "message": d.render()} for d in exc.diagnostics]
    if campaign.customers is not None:
        for i, customer in enumerate(campaign.customers):
            if not customer or len(customer) > 200:
                errors.append({"field": f"customers[{i}]",
                               "message": "a customer id is 1 to 200 characters"})  # fmt: skip
                break
    if errors:
        raise InvalidInput(errors)
    return condition


def _in_segment(
    condition: CompiledCondition, snapshot: Snapshot, row: Any, now: dt.datetime
) -> bool:
    request = Request.model_validate({
        "customer": {"id": row.id, "attributes": row.attributes, "holdings": row.holdings,
                     "segments": row.segments},
        "at": now,
    })  # fmt: skip
    try:
        return condition(build_context(request, snapshot.spec.customer_schema, now=now))
    except ContextError:  # a stored attribute the schema no longer types that way
        return False


def segment_members(
    db: Database,
    snapshot: Snapshot,
    condition: CompiledCondition,
    now: dt.datetime,
    *,
    page: int = PAGE,
) -> Iterator[tuple[list[str], int]]:
    """The stored customers in the segment, a page of stored customers at a time (each in a
    read transaction of its own): (the members among them, how many were read)."""
    after = ""
    while True:
        with _collector_paused():
            with db.read() as session:
                tune_for_batch(session)
                rows = repository.customers_after(session, after, page)
            if not rows:
                return
            after = rows[-1].id
            members = [r.id for r in rows if _in_segment(condition, snapshot, r, now)]
        yield members, len(rows)


def _listed(customers: Sequence[str], page: int) -> Iterator[tuple[list[str], int]]:
    unique = list(dict.fromkeys(customers))
    for start in range(0, len(unique), page):
        chunk = unique[start : start + page]
        yield chunk, len(chunk)


def _send(customer: str, decision_id: str, control: bool, decided: Mapping[str, Any]) -> Send:
    offers = {} if control else {
        p["placement"]: [o["offer"] for o in p["offers"]] for p in decided.get("placements", ())
    }  # fmt: skip
    return {"customer_id": customer, "decision_id": decision_id, "control": control,
            "send": any(offers.values()), "offers": offers}  # fmt: skip


def run(
    db: Database,
    snapshot: Snapshot,
    live: Mapping[str, tuple[str, UpliftModel]] | None,
    campaign: Campaign,
    now: dt.datetime,
    *,
    page: int = PAGE,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> CampaignRun:
    """Decide every customer of ``campaign`` not decided in it yet, at ``now`` (the live
    clock), from ``snapshot`` and the ``live`` uplift models; a page per transaction.
    ``progress`` hears how many customers each page covered (read, for a segment).
    ``workers`` (PostgreSQL): pages decided by that many processes at once, each on its own
    connection (this process reads the pages and evaluates the segment meanwhile)."""
    pages = members_pages(db, snapshot, campaign, now, page)
    if workers > 1 and not db.is_sqlite:
        done = _in_processes(db, snapshot, live, campaign, now, pages, workers)
    else:
        done = ((_decide_page(db, snapshot, live, campaign, members, now), covered)
                for members, covered in pages)  # fmt: skip
    return summary(campaign, done, progress)


def members_pages(
    db: Database, snapshot: Snapshot, campaign: Campaign, now: dt.datetime, page: int
) -> Iterator[tuple[list[str], int]]:
    """The campaign's members (checked against ``snapshot``) a page at a time, each with
    how many customers it covered: its list's, or the stored customers' in its segment."""
    condition = check(snapshot, campaign)
    if condition is None:
        return _listed(campaign.customers or (), page)
    return segment_members(db, snapshot, condition, now, page=page)


def summary(
    campaign: Campaign,
    done: Iterable[tuple[Page, int]],
    progress: Callable[[int], None] | None = None,
) -> CampaignRun:
    """A run's answer from its pages as they are done (each with how many customers it
    covered, which ``progress`` hears)."""
    sends: list[Send] = []
    decided = already = 0
    for (made, before, page_sends), covered in done:
        decided, already = decided + made, already + before
        sends += page_sends
        if progress is not None:
            progress(covered)
    return {"name": campaign.name, "channel": campaign.channel, "customers": len(sends),
            "decided": decided, "already_decided": already,
            "control": sum(s["control"] for s in sends), "sends": sends}  # fmt: skip


def undecided(
    session: Session, campaign: Campaign, members: list[str]
) -> tuple[dict[str, Any], list[decisions.BatchAsk]]:
    """The decisions stored under the members' keys in ``campaign``, by key, and an ask for
    each member not decided in it yet (its decision id made of its key)."""
    keys = {c: decision_key(campaign.name, c) for c in members}
    done = {r.idempotency_key: r for r in ledger.decided_under(session, keys.values())}
    asks = [decisions.BatchAsk(c, campaign.channel, campaign.placements, keys[c],
                               decision_id=decision_id(campaign.name, c))
            for c in members if keys[c] not in done]  # fmt: skip
    return done, asks


def page_of(
    members: list[str],
    done: Mapping[str, Any],
    asks: Sequence[decisions.BatchAsk],
    written: Sequence[DecisionRow],
) -> Page:
    """A page's outcome: how many were decided now (``written``, one per ask), how many
    before (``done``); every member's send, in order."""
    by_customer = {r.customer_id: _send(r.customer_id, r.id, r.control, r.decision)
                   for r in done.values()}  # fmt: skip
    for ask, row in zip(asks, written, strict=True):
        by_customer[ask.customer] = _send(ask.customer, row["id"], row["control"], row["decision"])
    return len(written), len(done), [by_customer[c] for c in members]


def conflict(campaign: Campaign) -> Conflict:
    """What a page's write says when another run wrote some of its keys meanwhile."""
    return Conflict(
        f"another run of campaign {campaign.name!r} decided some of these customers at "
        "the same time; run it again to resume (nobody is decided twice)"
    )


def _decide_page(
    db: Database,
    snapshot: Snapshot,
    live: Mapping[str, tuple[str, UpliftModel]] | None,
    campaign: Campaign,
    members: list[str],
    now: dt.datetime,
) -> Page:
    """One page in one transaction: the members decided before skipped, the others decided
    and written. How many were decided now, how many before; every member's send, in
    order."""
    if not members:
        return 0, 0, []
    try:
        with _collector_paused(), db.transaction() as session:
            tune_for_batch(session)
            done, asks = undecided(session, campaign, members)
            rows = decisions.decide_rows(session, snapshot, live, asks, now)
            written: list[DecisionRow] = []
            for ask, row in zip(asks, rows, strict=True):
                if row is None:  # checked before: the snapshot decides this channel
                    raise InvalidInput.one("channel", f"cannot decide {ask.customer!r} on it")
                written.append(row)
            ledger.append_new_decisions(session, written)
    except sa.exc.IntegrityError:
        raise conflict(campaign) from None
    return page_of(members, done, asks, written)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The garbage collector paused for a page: its rows are freed by reference counting
    when the page is done, and the collections their allocations triggered walked them
    again and again (with each page alive: 22–25 µs of CPU a customer, a tenth of a
    one-process campaign's over 20,000 customers; 12–14 µs with the page paused, the rest
    after it). Process-wide: another thread's allocations meanwhile are not collected
    either (what a cycle holds waits for the next collection)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_Work = tuple[Snapshot, Mapping[str, tuple[str, UpliftModel]] | None, Campaign, dt.datetime]
# what a worker process decides with: set before the processes are forked (inherited, never
# pickled), with the parent's database (whose connections the children must not touch)
_inherited: tuple[Database, _Work] | None = None
_worker_db: Database | None = None


def _in_processes(
    db: Database,
    snapshot: Snapshot,
    live: Mapping[str, tuple[str, UpliftModel]] | None,
    campaign: Campaign,
    now: dt.datetime,
    pages: Iterator[tuple[list[str], int]],
    workers: int,
) -> Iterator[tuple[Page, int]]:
    """The pages decided by ``workers`` forked processes, each page in its own transaction
    on the process's own connection; the results in the pages' order."""
    global _inherited
    _inherited = (db, (snapshot, live, campaign, now))
    context = multiprocessing.get_context("fork")
    try:
        with context.Pool(workers, initializer=_start_worker) as pool:
            covered: list[int] = []

            def tasks() -> Iterator[list[str]]:
                for members, n in pages:
                    covered.append(n)
                    yield members

            for i, result in enumerate(pool.imap(_worker_page, tasks())):
                yield result, covered[i]
    finally:
        _inherited = None


def _start_worker() -> None:
    """In a forked worker: leave the parent's pooled connections to the parent (closed
    here, they would end the parent's sessions), and open a database of its own."""
    global _worker_db
    assert _inherited is not None
    parent = _inherited[0]
    parent.engine.dispose(close=False)
    parent.reader.dispose(close=False)
    _worker_db = Database(parent.url)


def _worker_page(members: list[str]) -> Page:
    assert _inherited is not None
    assert _worker_db is not None
    snapshot, live, campaign, now = _inherited[1]
    return _decide_page(_worker_db, snapshot, live, campaign, members, now)


def run_bounded(
    db: Database, cache: SnapshotCache, models: ModelCache, campaign: Campaign, now: dt.datetime
) -> CampaignRun:
    """``run`` for one HTTP request: the live snapshot and models, and a segment of at most
    ``MAX_API_CUSTOMERS`` members (refused before anything is decided if it has more)."""
    snapshot = cache.get()
    condition = check(snapshot, campaign)
    if condition is not None:
        members: list[str] = []
        for page, _ in segment_members(db, snapshot, condition, now):
            members += page
            if len(members) > MAX_API_CUSTOMERS:
                raise InvalidInput.one(
                    "segment",
                    f"has more than {MAX_API_CUSTOMERS} customers: run it with "
                    "`nextoffer campaign run --segment …` instead",
                )
        campaign = replace(campaign, customers=members, segment=None)
    return run(db, snapshot, models.live(), campaign, now)


def stored_customers(db: Database) -> int:
    """How many customers are stored (a segment's progress counts through them)."""
    with db.read() as session:
        return repository.count_customers(session)
