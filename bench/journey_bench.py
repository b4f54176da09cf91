"""Journeys at scale on PostgreSQL: offer steps that decide, and due waits released.

Run: ``.venv/bin/python bench/journey_bench.py [--quick] [--customers N] [--releases N]
[--tick-limit L] [--page P] [--part 1|2]``

PostgreSQL runs with its defaults for durability (fsync, synchronous commit: a commit waits
for the write-ahead log to reach the disk), on the same 2 cores as the benchmark. Customers
and enrollments are bulk-loaded with COPY before each part; that setup is not timed. Each
part is measured against a goal of issue 19:

1. **Offer steps that make and record a decision** (goal: >= 2,000 a second, end to end).
   The bank's mortgage journey (its caps raised to ``--customers``, 10,000) enters that
   many eligible stored customers through ``Runner.enter_segment`` (``--page`` customers a
   transaction): each entry outside the journey's holdout decides and records the e-mail
   lead at once. A week later every lead unanswered (or blocked) is due at once, and ticks
   (``--tick-limit`` enrollments each: the server scheduler's 1,000) run the reminders.
2. **Due waits released without a decision** (goal: >= 20,000 transitions a second). A
   journey whose first step waits a day and then leaves (each release is two transitions:
   the move to the exit step, and the exit); ``--releases`` enrollments (100,000) fall due
   at the same moment, and one scheduler process (set up as the server's) ticks until none
   is left.
3. **All due at the same moment, all advanced within 10 s**: part 2's run, and the same
   input again with two scheduler processes ticking in parallel (``SKIP LOCKED`` shares the
   work), timed until the last enrollment is advanced; the rate of the two is part 2's goal
   met with several schedulers.

The reference in the same run is the in-process core alone over the same enrollments: the
customer's rule-language context, the step function (``advance``) and, for offer steps, the
decision engine (``decide``), with no database. Its results are checked to be the shell's
(every customer's status, step and phase). The ratio shell/core is what the database, the
locks and the shell's bookkeeping cost. Beside each wall time: the load average (the
machine is shared) and the CPU seconds of the runner or schedulers and of the database
server, which the machine's other load stretches less.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import itertools
import json
import multiprocessing
import os
import random
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nextoffer.core.decision import CustomerState, JourneyStep, Seen, Snapshot, decide
from nextoffer.core.journeys import (
    DecisionResult,
    Enrollment,
    Enter,
    Journey,
    Tick,
    advance,
)
from nextoffer.core.request import Request
from nextoffer.core.rules import Context, CustomerSchema, build_context
from nextoffer.scenarios import bank_snapshot, mortgage_journey
from nextoffer.service.background import TICK_LIMIT
from nextoffer.service.db import Database
from nextoffer.service.journeys import repository
from nextoffer.service.journeys import service as journeys
from nextoffer.service.journeys.runner import Moved, Runner
from nextoffer.service.migrate import upgrade
from nextoffer.service.snapshots.cache import SnapshotCache
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish
from nextoffer.service.tables import customers as customers_table
from nextoffer.service.tables import decisions, enrollments, journey_transitions
from nextoffer.testing.postgres import ThrowawayPostgres, owner_url

# the journeys' time: now (the contact policies count the ledger's contacts, stamped with the
# database's clock, back from it)
T0 = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
DAY = dt.timedelta(days=1)

RELEASE = {
    "id": "release",
    "name": "Wait a day, then leave",
    "entry": {"condition": "customer.balance >= 0", "segment": "customer.balance >= 0"},
    "start": "wait",
    "steps": [
        {"id": "wait", "type": "wait", "duration": "1d", "next": "done"},
        {"id": "done", "type": "exit", "reason": "waited"},
    ],
    "max_duration": "30d",
}


def load(pg: ThrowawayPostgres, prefix: str, definition: dict[str, Any]) -> Database:
    """A fresh database: the bank's catalog published, ``definition`` published under four
    eyes."""
    db = Database(pg.new_database(prefix))
    upgrade(db)
    with db.transaction() as session:
        load_spec(session, bank_snapshot())
        publish(session, "bank-1")
        proposal = journeys.propose(session, "ann", definition, "benchmark")
        journeys.approve(session, "bob", proposal["id"], "benchmark")
    return db


def as_json(value: Any) -> str:
    """A JSON column's value as text (an enrollment or a transition: its own JSON)."""
    return value.to_json().decode() if hasattr(value, "to_json") else json.dumps(value)


def copy(db: Database, table: sa.Table, rows: Iterable[dict[str, Any]]) -> None:
    """Bulk-load ``rows`` (dicts of the table's columns) with COPY, in one transaction."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    columns = list(first)
    json_columns = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with (
        psycopg.connect(db.url.replace("postgresql+psycopg", "postgresql")) as conn,
        conn.cursor() as cur,
        cur.copy(statement) as cp,
    ):
        for row in itertools.chain([first], rows):
            cp.write_row([as_json(row[c]) if c in json_columns else row[c] for c in columns])


def bank_customer(i: int) -> dict[str, Any]:
    """A stored customer whom the mortgage journey's segment and entry condition take."""
    rng = random.Random(i)
    return {"id": f"m-{i:07d}",
            "attributes": {"tier": rng.choice(["premium", "gold"]),
                           "tenureMonths": rng.randrange(24, 240),
                           "hasCreditCard": rng.random() < 0.4,
                           "balance": float(rng.randrange(10_000, 200_000))},
            "holdings": sorted(rng.sample(["checking", "savings-account", "brokerage"],
                                          rng.randrange(1, 3))),
            "segments": [], "updated_at": T0}  # fmt: skip


def release_customer(i: int) -> dict[str, Any]:
    return {"id": f"r-{i:07d}", "attributes": {"tier": "basic", "tenureMonths": 12,
            "hasCreditCard": False, "balance": float(i % 5000)},
            "holdings": ["checking"], "segments": [], "updated_at": T0}  # fmt: skip


def context(customer: dict[str, Any], schema: CustomerSchema, at: dt.datetime) -> Context:
    """The customer's rule-language context, as the runner builds it from the stored row."""
    request = Request.model_validate({"customer": {
        "id": customer["id"], "attributes": customer["attributes"],
        "holdings": customer["holdings"], "segments": customer["segments"]}, "at": at})  # fmt: skip
    return build_context(request, schema, now=at)


def load_time() -> str:
    return "load " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _stat(pid: int | str) -> list[str]:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return f.read().rsplit(")", 1)[1].split()  # state, ppid, …; utime, stime at 11, 12


def server_cpu(db: Database) -> float:
    """CPU seconds the database server has used so far: its postmaster (with the backends
    it has reaped) and its live processes, from /proc. With the scheduler's own CPU time,
    a measure of the work that the machine's other load does not stretch."""
    with db.engine.connect() as connection:
        backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    postmaster = int(_stat(backend)[1])
    ticks = sum(int(x) for x in _stat(postmaster)[11:15])  # utime, stime, cutime, cstime
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = _stat(entry)
            except OSError:  # gone meanwhile
                continue
            if int(fields[1]) == postmaster:
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


# -- the in-process core --------------------------------------------------------------------


class Core:
    """The journeys' core alone over the same customers: context, ``advance``, ``decide``
    for outbound offer steps (as the shell asks it: the step's offers only, the full trace),
    the customers' contacts kept in memory."""

    def __init__(self, snapshot: Snapshot, journey: Journey, schema: CustomerSchema) -> None:
        self.snapshot, self.journey, self.schema = snapshot, journey, schema
        self.states: dict[str, Enrollment] = {}
        self.contacts: dict[str, list[Seen]] = {}
        self.decisions = 0

    def enter(self, customers: Sequence[dict[str, Any]], at: dt.datetime) -> None:
        j = self.journey
        for c in customers:
            ctx = context(c, self.schema, at)
            if not j.in_segment(ctx):
                continue
            progress = advance(j, None, Enter(c["id"], at, j.in_holdout(c["id"])), context=ctx)
            self.follow(c, progress.enrollment, progress.decisions, ctx)

    def tick(self, customers: Sequence[dict[str, Any]], at: dt.datetime) -> None:
        for c in customers:
            e = self.states.get(c["id"])
            if e is None or e.due_at is None or e.due_at > at:
                continue
            # (as the runner: the customer only for a journey whose conditions read them)
            ctx = context(c, self.schema, at) if self.journey.reads_context else {}
            progress = advance(self.journey, e, Tick(at), context=ctx)
            self.follow(c, progress.enrollment, progress.decisions, ctx)

    def follow(self, c: dict[str, Any], e: Enrollment | None, asks: Sequence[Any],
               ctx: Context) -> None:  # fmt: skip
        asks = [a for a in asks if a.mode == "outbound"]
        while asks and e is not None:
            ask = asks[-1]
            request = Request.model_validate({"customer": {"id": c["id"]}, "channel": ask.channel,
                                              "at": ask.at, "placements": [{"key": p}
                                              for p in ask.placements]})  # fmt: skip
            state = CustomerState.from_seen(
                self.contacts.get(c["id"], []), id=c["id"], attributes=c["attributes"],
                holdings=tuple(c["holdings"]), segments=tuple(c["segments"]),
            )  # fmt: skip
            step = JourneyStep(ask.journey, ask.version, ask.step, ask.offers, only=True)
            made = decide(self.snapshot, request, state, now=ask.at, contacts_at=ask.at,
                          journeys=(step,), detail=True)  # fmt: skip
            self.decisions += 1
            t = ask.at.timestamp()
            self.contacts.setdefault(c["id"], []).extend(
                Seen(o, made.channel, "shown", None, t) for o in made.offers()
            )
            blocked = any(st == "policies" and o in ask.offers for o, st, _ in made.trace.drops)
            result = DecisionResult(ask.step, ask.at, shown=tuple(made.offers()),
                                    blocked="policies" if not made.offers() and blocked else None,
                                    decision_id=str(uuid.uuid4()), attempt=ask.attempt)  # fmt: skip
            progress = advance(self.journey, e, result, context=ctx)
            e = progress.enrollment
            asks = [a for a in progress.decisions if a.mode == "outbound"]
        if e is not None:
            self.states[c["id"]] = e


def stored_states(db: Database, journey_id: str) -> dict[str, tuple[str, str | None, str]]:
    with db.read() as session:
        rows = session.execute(
            sa.select(enrollments.c.customer_id, enrollments.c.status, enrollments.c.step,
                      enrollments.c.state).where(enrollments.c.journey_id == journey_id)
        )  # fmt: skip
        return {r.customer_id: (r.status, r.step, r.state["phase"]) for r in rows}


def same(db: Database, core: Core, journey_id: str) -> str:
    stored = stored_states(db, journey_id)
    mine = {c: (e.status, e.step, e.phase) for c, e in core.states.items()}
    differ = sum(1 for c in set(stored) | set(mine) if stored.get(c) != mine.get(c))
    return "same as the core's" if differ == 0 else f"DIFFERENT from the core's for {differ}"


def tick_until_done(runner: Runner, at: dt.datetime, limit: int) -> tuple[Moved, int]:
    total, ticks = Moved(0, 0, 0, 0), 0
    while True:
        moved = runner.tick(limit=limit, now=at)
        if moved.transitions == 0:
            return total, ticks
        ticks += 1
        total = Moved(*(a + b for a, b in zip(total, moved, strict=True)))


# -- part 1: offer steps that decide ----------------------------------------------------------


def offer_steps(pg: ThrowawayPostgres, n: int, page: int, limit: int) -> None:
    definition = mortgage_journey()
    definition["caps"] = {"entries_per_day": n, "in_journey": n}
    db = load(pg, "offers", definition)
    customers = [bank_customer(i) for i in range(n)]
    copy(db, customers_table, customers)
    runner = Runner(db, SnapshotCache(db), None, clock=lambda: T0)
    snapshot = runner.cache.get()
    schema = snapshot.spec.customer_schema
    with db.read() as session:
        journey = runner.book.live(session, schema)["mortgage"]
    gc.freeze()  # the setup's objects out of the collector's way, as the scheduler's process
    # freezes what it holds after its first pass
    print(f"1. offer steps that decide and record (the mortgage journey, {n} eligible stored "
          f"customers, {page} a transaction; ticks of {limit})")  # fmt: skip

    t, cpu, server = time.perf_counter(), time.process_time(), server_cpu(db)
    entered = runner.enter_segment("mortgage", now=T0, page=page)
    shell = time.perf_counter() - t
    cpu, server = time.process_time() - cpu, server_cpu(db) - server
    core = Core(snapshot, journey, schema)
    t = time.perf_counter()
    core.enter(customers, T0)
    inproc = time.perf_counter() - t
    rate, ref = entered.decisions / shell, core.decisions / inproc
    print(f"   entries: {entered.entered} entered, {entered.decisions} leads decided and "
          f"recorded, {entered.transitions} transitions in {shell:.2f} s: {rate:,.0f} "
          f"decisions/s ({load_time()}; CPU: runner {cpu:.2f} s, database {server:.2f} s)")  # fmt: skip
    print(f"      in-process core on the same customers: {core.decisions} decisions in "
          f"{inproc:.2f} s: {ref:,.0f}/s; shell/core {rate / ref:.2f}; states "
          f"{same(db, core, 'mortgage')}")  # fmt: skip
    print(f"      goal >= 2,000 decisions/s: {verdict(rate >= 2000)}")

    at = T0 + 8 * DAY
    t, cpu, server = time.perf_counter(), time.process_time(), server_cpu(db)
    reminded, ticks = tick_until_done(runner, at, limit)
    shell = time.perf_counter() - t
    cpu, server = time.process_time() - cpu, server_cpu(db) - server
    t = time.perf_counter()
    before = core.decisions
    core.tick(customers, at)
    inproc = time.perf_counter() - t
    rate, ref = reminded.decisions / shell, (core.decisions - before) / inproc
    print(f"   reminders, all due at once: {reminded.decisions} decided and recorded, "
          f"{reminded.transitions} transitions, {ticks} ticks in {shell:.2f} s: {rate:,.0f} "
          f"decisions/s ({load_time()}; CPU: runner {cpu:.2f} s, database {server:.2f} s)")  # fmt: skip
    print(f"      in-process core: {core.decisions - before} decisions in {inproc:.2f} s: "
          f"{ref:,.0f}/s; shell/core {rate / ref:.2f}; states {same(db, core, 'mortgage')}")  # fmt: skip
    print(f"      goal >= 2,000 decisions/s: {verdict(rate >= 2000)}")
    with db.read() as session:
        recorded = session.execute(sa.select(sa.func.count()).select_from(decisions)).scalar()
    assert recorded == entered.decisions + reminded.decisions, (recorded, entered, reminded)
    db.dispose()


# -- parts 2 and 3: due waits released --------------------------------------------------------


def releases(pg: ThrowawayPostgres, n: int) -> tuple[Database, Core, list[dict[str, Any]]]:
    """A database with ``n`` customers in the release journey, all due at ``T0 + 1 day``
    (entered by the core and bulk-loaded: the rows the runner would have written)."""
    db = load(pg, "releases", RELEASE)
    customers = [release_customer(i) for i in range(n)]
    copy(db, customers_table, customers)
    cache = SnapshotCache(db)
    schema = cache.get().spec.customer_schema
    runner = Runner(db, cache, None)
    with db.read() as session:
        journey = runner.book.live(session, schema)["release"]
    core = Core(cache.get(), journey, schema)
    rows = []
    for c in customers:
        entry = advance(journey, None, Enter(c["id"], T0), context=context(c, schema, T0))
        assert entry.enrollment is not None
        core.states[c["id"]] = entry.enrollment
        rows += [repository.transition_values(t) for t in entry.transitions]
    copy(db, enrollments, (repository.enrollment_values(e, T0) for e in core.states.values()))
    copy(db, journey_transitions, rows)
    with psycopg.connect(  # the owner's: the application role may not analyze the tables
        owner_url(db.url).replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as conn:
        conn.execute("VACUUM ANALYZE")  # as autovacuum would have, after a day
    return db, core, customers


def scheduler(url: str, at: str, limit: int, ready: Any, start: Any, out: Any) -> None:
    """One scheduler process: ticks at ``at`` until nothing is left for it."""
    db = Database(url)
    now = dt.datetime.fromisoformat(at)
    runner = Runner(db, SnapshotCache(db), None, clock=lambda: now)
    schema = runner.cache.get().spec.customer_schema
    with db.read() as session:
        runner.book.live(session, schema)
        runner.book.version(session, "release", 1, schema)
    gc.freeze()  # as the server's scheduler process does after its first pass
    ready.release()
    start.wait()
    t, cpu = time.perf_counter(), time.process_time()
    moved, ticks = tick_until_done(runner, now, limit)
    out.put((moved.transitions, ticks, time.perf_counter() - t, time.process_time() - cpu))
    db.dispose()


def in_processes(url: str, at: dt.datetime, limit: int, k: int) -> tuple[float, list[Any]]:
    """``k`` scheduler processes, started together; the time until the last is done."""
    mp = multiprocessing.get_context("spawn")
    ready, start, out = mp.Semaphore(0), mp.Event(), mp.Queue()
    procs = [mp.Process(target=scheduler, args=(url, at.isoformat(), limit, ready, start, out))
             for _ in range(k)]  # fmt: skip
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    t = time.perf_counter()
    start.set()
    results = [out.get() for _ in procs]
    elapsed = time.perf_counter() - t
    for p in procs:
        p.join()
    return elapsed, results


def due_left(db: Database, at: dt.datetime) -> int:
    with db.read() as session:
        return int(session.execute(sa.select(sa.func.count()).select_from(enrollments)
                   .where(enrollments.c.due_at <= at)).scalar_one())  # fmt: skip


def release_waits(pg: ThrowawayPostgres, n: int, limit: int) -> None:
    at = T0 + DAY
    print(f"2. due waits released without a decision (a wait of 1 day, then an exit: two "
          f"transitions each; {n} enrollments due at the same moment, ticks of {limit})")  # fmt: skip
    for k in (1, 2):
        t = time.perf_counter()
        db, core, customers = releases(pg, n)
        setup = time.perf_counter() - t
        server = server_cpu(db)
        db.dispose()
        elapsed, results = in_processes(db.url, at, limit, k)
        loadavg = load_time()
        db = Database(db.url)
        cpu = (f"CPU: scheduler{'s' if k > 1 else ''} {sum(r[3] for r in results):.2f} s, "
               f"database {server_cpu(db) - server:.2f} s")  # fmt: skip
        left = due_left(db, at)
        t = time.perf_counter()
        core.tick(customers, at)
        inproc = time.perf_counter() - t
        check = same(db, core, "release")
        db.dispose()
        transitions = sum(r[0] for r in results)
        split = ", ".join(f"{r[0]} transitions in {r[1]} ticks" for r in results)
        if k == 1:
            rate, ref = transitions / elapsed, 2 * n / inproc
            print(f"   (setup: {n} customers and enrollments bulk-loaded in {setup:.1f} s)")
            print(f"   one scheduler process: {transitions} transitions, {results[0][1]} ticks in "
                  f"{elapsed:.2f} s: {rate:,.0f} transitions/s ({loadavg}; {cpu}); {left} left due")  # fmt: skip
            print(f"      in-process core on the same enrollments: {inproc:.2f} s: {ref:,.0f} "
                  f"transitions/s; shell/core {rate / ref:.2f}; states {check}")  # fmt: skip
            print(f"      goal >= 20,000 transitions/s: {verdict(rate >= 20_000)}")
            print(f"3. {n} enrollments due at the same moment, all advanced (goal: within 10 s; "
                  f"the in-process core alone: {inproc:.2f} s)")  # fmt: skip
            print(f"   one scheduler process (part 2's run): {elapsed:.2f} s; {left} left due: "
                  f"{verdict(elapsed <= 10 and left == 0)}")  # fmt: skip
        else:
            rate = transitions / elapsed
            print(f"   {k} scheduler processes in parallel: {elapsed:.2f} s, {rate:,.0f} transitions/s "
                  f"({split}; {loadavg}; {cpu}); {left} left due; states {check}: "
                  f"{verdict(elapsed <= 10 and left == 0)} (part 2's goal "
                  f"{verdict(rate >= 20_000)} this way)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes")
    parser.add_argument("--customers", type=int, default=10_000,
                        help="part 1: eligible customers entering the mortgage journey")  # fmt: skip
    parser.add_argument("--releases", type=int, default=100_000,
                        help="parts 2 and 3: enrollments due at the same moment")  # fmt: skip
    parser.add_argument("--tick-limit", type=int, default=TICK_LIMIT,
                        help="enrollments per tick (the server scheduler's)")  # fmt: skip
    parser.add_argument("--page", type=int, default=1000,
                        help="part 1: customers entered per transaction")  # fmt: skip
    parser.add_argument("--part", type=int, choices=(1, 2), action="append",
                        help="run only part 1, or parts 2 and 3 (repeatable)")  # fmt: skip
    args = parser.parse_args()
    customers, n = (500, 5000) if args.quick else (args.customers, args.releases)
    parts = set(args.part or (1, 2))
    print(f"journeys benchmark: PostgreSQL with fsync on and synchronous commit, {os.cpu_count()} "
          f"cores, {load_time()}")  # fmt: skip
    with ThrowawayPostgres(database="bench", durable=True) as pg:
        if 1 in parts:
            offer_steps(pg, customers, args.page, args.tick_limit)
        if 2 in parts:
            release_waits(pg, n, args.tick_limit)


if __name__ == "__main__":
    main()
