"""Outbound campaigns on PostgreSQL: every stored customer of a segment decided and written.

Run: ``.venv/bin/python bench/campaign_bench.py [--quick] [--customers N] [--page P]
[--workers W] [--trace-sample-rate R]``

PostgreSQL runs with its defaults for durability (fsync, synchronous commit: a commit waits
for the write-ahead log to reach the disk), on the same 2 cores as the benchmark. The bank's
catalog is published and ``--customers`` (100,000) stored bank customers are bulk-loaded
with COPY (not timed). Then, timed:

1. **The in-process engine's ceiling**: the decision engine alone (``core.decision.decide``)
   over the same customers, each with their stored attributes, holdings and segments, an
   empty contact history, at the campaign's moment; no database. Only the engine's call is
   timed (its requests and states are built first).
2. **The campaign end to end** (goal, issue 21: >= 10,000 customers a second): ``campaigns.run``
   with a segment that takes every stored customer (``customer.tenureMonths >= 0``), as
   ``nextoffer campaign run --segment`` runs it: the stored customers read page by page and
   the segment evaluated, the page's keys looked up, their states and CATE estimates read,
   each customer decided through the decision path (contact policies, the holdout, uplift),
   and the page's decisions written with ``COPY`` and committed. Its answers are checked
   against the engine's (each customer's control flag and offers per placement).
3. **The same campaign run again** (a resumed run with nothing left to do): every customer's
   key is found and their decision read back into the send list; no decision is written.

The ratio campaign/engine is what the database, the decision rows and the shell cost.
Beside each wall time: the load average (the machine is shared) and the CPU seconds of the
benchmark process (with its worker processes) and of the database server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from journey_bench import copy, load_time, server_cpu, verdict
from nextoffer.core.decision import CustomerState, decide
from nextoffer.core.request import Request
from nextoffer.scenarios import bank_snapshot
from nextoffer.service.campaigns import service as campaigns
from nextoffer.service.db import Database
from nextoffer.service.migrate import upgrade
from nextoffer.service.snapshots.cache import SnapshotCache
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish
from nextoffer.service.tables import customers as customers_table
from nextoffer.service.tables import decisions
from nextoffer.service.uplift.estimates import ModelCache
from nextoffer.testing.postgres import ThrowawayPostgres, owner_url

# the campaign's moment: now (the contact policies count the ledger's contacts, stamped with
# the database's clock, back from it)
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
GOAL = 10_000
SEGMENT = "customer.tenureMonths >= 0"


def bank_customer(i: int) -> dict[str, Any]:
    """A stored bank customer: a mix of tiers, tenures, holdings and balances."""
    rng = random.Random(i)
    return {"id": f"b-{i:07d}",
            "attributes": {"tier": rng.choice(["basic", "basic", "premium", "gold"]),
                           "tenureMonths": rng.randrange(0, 240),
                           "hasCreditCard": rng.random() < 0.4,
                           "balance": float(rng.randrange(0, 120_000))},
            "holdings": sorted(rng.sample(["checking", "savings-account", "brokerage"],
                                          rng.randrange(1, 3))),
            "segments": ["VIP"] if rng.random() < 0.05 else [], "updated_at": NOW}  # fmt: skip


def engine_ceiling(
    db: Database, stored: list[dict[str, Any]]
) -> tuple[float, float, dict[str, Any]]:
    """The engine alone over the customers, with the campaign's settings (the snapshot's
    trace sampling, no placements named, seeded): customers a second, CPU seconds a
    customer, and each one's answer (control, offers per placement)."""
    snapshot = SnapshotCache(db).get()
    requests = [Request.model_validate({"customer": {"id": c["id"]}, "channel": "email",
                                        "at": NOW}) for c in stored]  # fmt: skip
    states = [CustomerState(id=c["id"], attributes=c["attributes"], holdings=tuple(c["holdings"]),
                            segments=tuple(c["segments"])) for c in stored]  # fmt: skip
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    made = [decide(snapshot, r, s, now=NOW, contacts_at=NOW, seed=r.customer.id if r.customer else None)
            for r, s in zip(requests, states, strict=True)]  # fmt: skip
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    answers = {
        c["id"]: (d.control, {} if d.control else
                  {p.placement: [o.offer for o in p.offers] for p in d.placements})
        for c, d in zip(stored, made, strict=True)
    }  # fmt: skip
    return len(stored) / elapsed, cpu / len(stored), answers


def own_cpu() -> float:
    """CPU seconds of this process and of its worker processes (once they have ended)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run_campaign(db: Database, page: int, workers: int) -> tuple[float, float, float, Any]:
    """The campaign timed: wall seconds, the process's and the server's CPU seconds."""
    snapshot = SnapshotCache(db).get()
    campaign = campaigns.Campaign("bench", "email", segment=SEGMENT)
    gc.collect()
    gc.freeze()  # as `nextoffer campaign run` does once the snapshot is loaded
    cpu0, server0 = own_cpu(), server_cpu(db)
    start = time.perf_counter()
    live = ModelCache(db).live()  # the live uplift models, as the command passes them
    result = campaigns.run(db, snapshot, live, campaign, NOW, page=page, workers=workers)
    elapsed = time.perf_counter() - start
    return elapsed, own_cpu() - cpu0, server_cpu(db) - server0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5,000 customers")
    parser.add_argument("--customers", type=int, default=100_000, help="stored bank customers")
    parser.add_argument("--page", type=int, default=campaigns.PAGE,
                        help="customers decided and written per transaction")  # fmt: skip
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes deciding pages at once (default: one per core)")  # fmt: skip
    parser.add_argument("--trace-sample-rate", type=float, default=None,
                        help="the snapshot's trace_sample_rate (default: the bank's, 1.0: "
                        "every decision's trace detailed); the engine's ceiling too")  # fmt: skip
    args = parser.parse_args()
    n = 5000 if args.quick else args.customers
    print(f"campaign benchmark: PostgreSQL with fsync on and synchronous commit, "
          f"{os.cpu_count()} cores, {n:,} stored bank customers, pages of {args.page:,}, {args.workers} worker processes, trace_sample_rate "
          f"{1.0 if args.trace_sample_rate is None else args.trace_sample_rate:g}; "
          f"{load_time()}")  # fmt: skip
    with ThrowawayPostgres(database="bench", durable=True) as pg:
        db = Database(pg.new_database("campaign"))
        upgrade(db)
        spec = bank_snapshot()
        if args.trace_sample_rate is not None:
            spec["trace_sample_rate"] = args.trace_sample_rate
        with db.transaction() as session:
            load_spec(session, spec)
            publish(session, "bank-1")
        stored = [bank_customer(i) for i in range(n)]
        copy(db, customers_table, stored)
        owner = Database(owner_url(db.url))  # ANALYZE is the owner's
        with owner.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE customers")
        owner.dispose()
        ceiling, engine_cpu, answers = engine_ceiling(db, stored)
        print(f"1. the engine alone (core.decision.decide, no database): {ceiling:,.0f} "
              f"customers/s on one core ({engine_cpu * 1e6:.0f} µs of CPU a customer); "
              f"{load_time()}")  # fmt: skip
        elapsed, cpu, server, result = run_campaign(db, args.page, args.workers)
        rate = n / elapsed
        same = sum(
            answers[s["customer_id"]] == (s["control"], s["offers"]) for s in result["sends"]
        )
        with db.read() as session:
            written = session.execute(
                sa.select(sa.func.count()).select_from(decisions)
            ).scalar_one()
        print(f"2. the campaign end to end: {n:,} customers in {elapsed:.2f} s = {rate:,.0f} "
              f"customers/s ({rate / ceiling:.0%} of the engine's ceiling); {written:,} "
              f"decisions written, {result['control']:,} in the control group; "
              f"{same:,}/{n:,} answers as the engine's; CPU: benchmark {cpu:.1f} s, "
              f"PostgreSQL {server:.1f} s; {load_time()}")  # fmt: skip
        cores = os.cpu_count() or 1
        per = (cpu + server) / n
        print(f"   CPU a customer: {cpu / n * 1e6:.0f} µs the campaign's processes (the engine "
              f"{engine_cpu * 1e6:.0f} of it), {server / n * 1e6:.0f} µs PostgreSQL: at most "
              f"{cores / per:,.0f} customers/s on {cores} idle cores")  # fmt: skip
        print(f"   goal >= {GOAL:,} customers/s: {verdict(rate >= GOAL)}")
        again, cpu, server, rerun = run_campaign(db, args.page, args.workers)
        print(f"3. run again (resumed, nothing left): {again:.2f} s, {rerun['decided']} decided, "
              f"{rerun['already_decided']:,} found decided; CPU: benchmark {cpu:.1f} s, "
              f"PostgreSQL {server:.1f} s; {load_time()}")  # fmt: skip
        db.dispose()


if __name__ == "__main__":
    main()
