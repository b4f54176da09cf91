"""The ledger as it grows: decisions, the attach-rate refresh and the dashboard's overview at
1 million and at 10 million decisions and events, on PostgreSQL with fsync on.

Run: ``.venv/bin/python bench/ledger_growth_bench.py [--sizes 1000000,10000000] [--quick]
[--customers 100000] [--seconds 15] [--concurrency 4] [--workers 2]``
(``--quick``: sizes 100,000 and 1,000,000, 8 s of decisions).

A real server (``nextoffer serve``, 2 workers) on a throwaway PostgreSQL whose durability
is the server's defaults (fsync, synchronous commit, full-page writes); the operator
settings a ledger of this size wants are set (``shared_buffers`` 1 GB, ``max_wal_size``
4 GB, ``checkpoint_timeout`` 15 min). The demo's catalog goes in through the API and its
rules through review.

The ledger is filled by ``COPY`` into ``decisions`` and ``events`` themselves (their
partitions, their key tables written by their triggers: nothing is disabled). Its rows are
shaped on real ones: 300 decisions made over HTTP for 100 demo customers (3 channels each)
are the templates, ``--customers`` customers (stored in ``customers``) each take one of
those 100 profiles and its decisions, and each customer's activity is skewed (log-normal
weights: the busiest 1% make about 12% of the decisions). A decision that showed offers
is followed by an impression of each (85%), an accept (10%), a decline (6%) and a
purchase (``convert`` with a value, 3%), minutes to a day later, each naming its decision;
the events are topped up with repeated impressions of recent showings to as many as the
decisions. The catalog stores the per-candidate trace of 10% of the decisions
(``--trace-sample``, its ``trace_sample_rate``; the default 1.0 makes a decision's row
about twice as large). The
ledger's history runs at a constant rate, 10 million decisions in 20 months: the first
size is the newest months (up to an hour ago), each larger size is earlier history loaded
before it (so a customer's recent history, which the decisions read, is the same at every
size, and the months the larger ledger adds are older ones). Every month has its partition.

At each size, after ``ANALYZE`` and a refresh that counts the loaded events (its time is
printed, per 100,000 events):

- **decisions** over HTTP (``POST /v1/decisions``) for stored customers with histories,
  chosen by their activity, in a closed loop of ``--concurrency`` clients (each sends its
  next request when answered) for ``--seconds`` after 2 s of warm-up: p50 and p99;
- **attach refresh**: 100,000 new events (new decisions' impressions, accepts, ...) are
  appended after the watermark, and ``attach.service.refresh`` (counting, the watermark,
  the snapshot it publishes) is timed;
- **overview**: ``GET /dashboard?window=24h`` (the page the dashboard opens) and
  ``window=30d``, signed in as an approver as a browser is: the first request (cold) and
  the p50 of the next five (warm);
- **disk**: ``pg_total_relation_size`` of the ledger's tables (every partition, its
  indexes and TOAST, and the key tables), per million rows (decisions + events).

Goals: decision latency at the largest size within 20% of the smallest's (p50 and p99);
refresh <= 1 s per 100,000 new events at every size; overview (24h, warm) <= 1 s. The
machine's load average is printed with the figures.

The default run took 41 minutes on 2 shared cores (34 of them loading, about 11,000 rows a
second) and needs about 30 GB of disk at its largest (the ledger's tables, about 1.25 GB
per million rows, and the write-ahead log); ``--quick`` takes about 10 minutes and 3 GB.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.dashboard.signin import signed_in
from tests.service.server import Server, load_catalog

from http_load import closed_loop
from nextoffer.core.learning.attach import nominating_rules
from nextoffer.scenarios import bank_snapshot
from nextoffer.scenarios.demo import bank_customers, demo_snapshot
from nextoffer.service.attach import service as attach
from nextoffer.service.db import Database, copy_insert
from nextoffer.service.ledger import repository as ledger
from nextoffer.service.tables import customers, decisions, events
from nextoffer.testing.postgres import ThrowawayPostgres, owner_url

PER_MONTH = 500_000  # decisions a month: 10 million in 20 months
CHANNELS = ("email", "in_app", "branch")
DECISION_COLUMNS = ["id", "customer_id", "session_id", "channel", "snapshot_version", "control",
                    "experiment", "shown", "request", "decision", "trace", "features",
                    "occurred_at"]  # fmt: skip
EVENT_COLUMNS = ["id", "idempotency_key", "type", "customer_id", "session_id", "decision_id",
                 "offer_id", "channel", "placement", "value", "payload", "occurred_at",
                 "client", "attributed", "decision_at", "rule_id"]  # fmt: skip
CHUNK = 25_000  # decisions a COPY (each with its events), one transaction each
PROFILES = 100
SETTINGS = {"shared_buffers": "1GB", "max_wal_size": "4GB", "checkpoint_timeout": "15min",
            "maintenance_work_mem": "256MB"}  # fmt: skip


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def tune(pg: ThrowawayPostgres) -> None:
    """The operator's settings for a large ledger (durability untouched), then a restart."""
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        for name, value in SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    pg.restart()


class Templates:
    """Real decisions, per demo profile: the rows the server wrote for 3 channels each."""

    def __init__(self, srv: Server, url: str) -> None:
        self.profiles = list(bank_customers(random.Random(5), PROFILES))[:PROFILES]
        with srv.client("client") as client:
            for p in self.profiles:
                body = {k: p[k] for k in ("attributes", "holdings", "segments")}
                assert client.put(f"/v1/customers/{p['id']}", json=body).status_code == 200
                for channel in CHANNELS:
                    r = client.post("/v1/decisions", json={"customer": {"id": p["id"]},
                                    "channel": channel, "session_id": "s-1"})  # fmt: skip
                    assert r.status_code == 200, r.text
        db = Database(url)
        with db.read() as session:
            rows = session.execute(
                sa.select(decisions).where(decisions.c.session_id == "s-1")
            ).mappings()
            self.rows: dict[str, list[dict[str, Any]]] = {}
            for row in rows:
                placements = {s["offer"]: p["placement"] for p in row["decision"]["placements"]
                              for s in p["offers"]}  # fmt: skip
                self.rows.setdefault(row["customer_id"], []).append({
                    "id": row["customer_id"], "channel": row["channel"],
                    "snapshot_version": row["snapshot_version"], "control": row["control"],
                    "experiment": row["experiment"], "shown": row["shown"],
                    "placements": placements, "rules": nominating_rules(row["decision"]),
                    "json": [json.dumps(row[c]) for c in ("shown", "request", "decision")],
                    "trace": None if row["trace"] is None else json.dumps(row["trace"]),
                    "features": None if row["features"] is None else json.dumps(row["features"]),
                })  # fmt: skip
        db.dispose()

    def of(self, customer: int) -> list[dict[str, Any]]:
        return self.rows[self.profiles[customer % PROFILES]["id"]]


def sample_traces(srv: Server, rate: float) -> None:
    """The catalog's settings again with ``trace_sample_rate`` (published by the approver):
    the share of decisions that store their per-candidate trace."""
    data = demo_snapshot()
    settings = {k: data[k] for k in ("customer_schema", "guardrails", "holdout", "attach")}
    settings |= {"uplift": bank_snapshot()["uplift"], "trace_sample_rate": rate}
    with srv.client("author") as author:
        r = author.put("/v1/catalog/settings/default", json=settings)
        assert r.status_code in (200, 201), r.text
    with srv.client("approver") as approver:
        r = approver.post("/v1/catalog/publish", json={"version": "demo-traces"})
        assert r.status_code == 201, r.text
    time.sleep(1.0)  # every worker polls for the new snapshot


def customer_id(i: int) -> str:
    return f"g-{i:06d}"


def store_customers(db: Database, templates: Templates, n: int) -> None:
    now = dt.datetime.now(dt.UTC)
    rows = []
    for i in range(n):
        p = templates.profiles[i % PROFILES]
        rows.append([customer_id(i), json.dumps(p["attributes"]), json.dumps(p["holdings"]),
                     json.dumps(p["segments"]), now])  # fmt: skip
    with db.transaction() as session:
        copy_insert(session, customers, ["id", "attributes", "holdings", "segments",
                                         "updated_at"], rows)  # fmt: skip


class Ledger:
    """Writes decisions and their events by COPY, a chunk at a time: the decisions and the
    events of a chunk go on two connections at once while the next chunk is made."""

    def __init__(self, db: Database, templates: Templates, n_customers: int) -> None:
        self.db, self.templates = db, templates
        rng = random.Random(21)
        weights = [rng.lognormvariate(0, 1.2) for _ in range(n_customers)]
        self.cum = list(_accumulate(weights))
        self.customers = list(range(n_customers))
        self.rng = random.Random(22)
        self.pool = concurrent.futures.ThreadPoolExecutor(2)
        self.client = "bench0000000000000000000000000000"[:32]
        self.waited = 0.0  # seconds the rows' maker waited for the COPYs

    def pick(self, k: int) -> list[int]:
        return self.rng.choices(self.customers, cum_weights=self.cum, k=k)

    def fill(self, n_decisions: int, n_events: int, start: dt.datetime, end: dt.datetime,
             label: str) -> float:  # fmt: skip
        """``n_decisions`` decisions evenly from ``start`` to ``end`` and ``n_events`` events
        of them; returns the seconds it took."""
        t0 = time.perf_counter()
        span = (end - start).total_seconds()
        latest = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        written_d = written_e = 0
        showings: list[tuple[Any, ...]] = []
        pending: list[concurrent.futures.Future[None]] = []
        last_print = t0
        rng = self.rng
        for first in range(0, n_decisions, CHUNK):
            count = min(CHUNK, n_decisions - first)
            d_rows: list[list[Any]] = []
            e_rows: list[list[Any]] = []
            for k, c in enumerate(self.pick(count)):
                at = start + dt.timedelta(seconds=span * (first + k + rng.random()) / n_decisions)
                options = self.templates.of(c)
                t = options[rng.randrange(len(options))]
                decision_id = str(uuid.uuid4())
                cid = customer_id(c)
                session_id = f"s-{c}-{int(at.timestamp()) // 1800}"
                shown, request, body = t["json"]
                d_rows.append([decision_id, cid, session_id, t["channel"], t["snapshot_version"],
                               t["control"], t["experiment"], shown,
                               request.replace(f'"{t["id"]}"', f'"{cid}"'), body, t["trace"],
                               t["features"], at])  # fmt: skip
                if t["control"] or not t["shown"] or written_e + len(e_rows) >= n_events:
                    continue
                channel = t["channel"]
                for offer in t["shown"]:
                    place = t["placements"].get(offer)
                    showing = (cid, session_id, decision_id, offer, channel, place, at,
                               t["rules"].get(offer, ""))  # fmt: skip
                    if rng.random() < 0.85:
                        e_rows.append(self.event("impression", showing, 60, None))
                        showings.append(showing)
                    if rng.random() < 0.10:
                        e_rows.append(self.event("accept", showing, 3600, None))
                    elif rng.random() < 0.06:
                        e_rows.append(self.event("decline", showing, 3600, None))
                    if rng.random() < 0.03:
                        e_rows.append(self.event("convert", showing, 86400, 100.0))
            # topped up with repeated impressions to this chunk's share of the events
            share = n_events * (first + count) // n_decisions
            while written_e + len(e_rows) < share and showings:
                showing = showings[rng.randrange(len(showings))]
                e_rows.append(self.event("impression", showing, 600, None))
            e_rows = e_rows[: n_events - written_e]
            for row in e_rows:
                row[11] = min(row[11], latest)
            waited = time.perf_counter()
            for f in pending:
                f.result()
            self.waited += time.perf_counter() - waited
            pending = [self.pool.submit(self.copy, decisions, DECISION_COLUMNS, d_rows),
                       self.pool.submit(self.copy, events, EVENT_COLUMNS, e_rows)]  # fmt: skip
            written_d += len(d_rows)
            written_e += len(e_rows)
            if len(showings) > 200_000:
                del showings[:100_000]
            if time.perf_counter() - last_print > 30:
                last_print = time.perf_counter()
                print(f"   {label}: {written_d:,} decisions, {written_e:,} events "
                      f"({last_print - t0:.0f} s, {self.waited:.0f} s of it waiting for the database; load {load()})", flush=True)  # fmt: skip
        for f in pending:
            f.result()
        return time.perf_counter() - t0

    def event(self, kind: str, showing: Any, after: float, value: float | None) -> list[Any]:
        cid, session_id, decision_id, offer, channel, place, at, rule = showing
        key = str(uuid.uuid4())
        when = at + dt.timedelta(seconds=self.rng.expovariate(1 / after))
        return [key, f"{self.client}:{key}", kind, cid, session_id, decision_id, offer, channel,
                place, value, "{}", when, self.client, True, at, rule]  # fmt: skip

    def copy(self, table: sa.Table, columns: list[str], rows: list[list[Any]]) -> None:
        if rows:
            with self.db.transaction() as session:
                copy_insert(session, table, columns, rows)


def _accumulate(values: list[float]) -> list[float]:
    out, total = [], 0.0
    for v in values:
        total += v
        out.append(total)
    return out


def counts(db: Database) -> tuple[int, int]:
    with db.read() as session:
        n_d = session.execute(sa.select(sa.func.count()).select_from(decisions)).scalar_one()
        n_e = session.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
    return int(n_d), int(n_e)


def ledger_bytes(url: str) -> int:
    """The ledger's tables on disk: every partition of decisions and events (heap, indexes,
    TOAST) and their key tables."""
    db = Database(url)
    try:
        with db.read() as session:
            total = session.execute(sa.text(
                "SELECT (SELECT sum(pg_total_relation_size(relid)) FROM "
                "pg_partition_tree('decisions')) + (SELECT sum(pg_total_relation_size(relid)) "
                "FROM pg_partition_tree('events')) + pg_total_relation_size('decisions_keys') "
                "+ pg_total_relation_size('events_keys')")).scalar_one()  # fmt: skip
    finally:
        db.dispose()
    return int(total)


def analyze(url: str) -> float:
    t0 = time.perf_counter()
    owner = owner_url(url).replace("postgresql+psycopg", "postgresql")  # ANALYZE: the owner's
    with psycopg.connect(owner, autocommit=True) as c:
        c.execute("ANALYZE decisions, events, decisions_keys, events_keys, customers")
    return time.perf_counter() - t0


def make_partitions(db: Database, first: dt.datetime, last: dt.datetime) -> None:
    with db.transaction() as session:
        ledger.create_partitions(session, first, last)


def decide(srv: Server, led: Ledger, seconds: float, concurrency: int) -> dict[str, Any]:
    rng = random.Random(23)
    picks = led.pick(200_000)
    bodies = iter(
        {"customer": {"id": customer_id(c)}, "session_id": "growth",
         "channel": CHANNELS[rng.randrange(3)]} for c in picks
    )  # fmt: skip
    return uvloop.run(closed_loop(srv, "/v1/decisions", bodies, seconds, concurrency))


def overview(srv: Server, window: str) -> tuple[float, float]:
    """(first request s, p50 of the next five s) of the overview page."""
    client, _ = signed_in(srv.url, srv.keys["approver"])
    times = []
    try:
        for _ in range(6):
            t0 = time.perf_counter()
            r = client.get("/dashboard", params={"window": window})
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text[:500]
    finally:
        client.close()
    return times[0], statistics.median(times[1:])


def refresh(db: Database) -> float:
    t0 = time.perf_counter()
    db.run(attach.refresh)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000",
                        help="ledger sizes: decisions (and as many events)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="sizes 100000,1000000; 8 s loops")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=15.0, help="decisions: seconds measured")
    parser.add_argument("--concurrency", type=int, default=4, help="decisions: closed-loop clients")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trace-sample", type=float, default=0.1,
                        help="the catalog's trace_sample_rate (decisions storing their trace)")  # fmt: skip
    parser.add_argument("--new", type=int, default=100_000, help="new events per timed refresh")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in ("100000,1000000" if args.quick else args.sizes).split(","))
    seconds = 8.0 if args.quick else args.seconds
    started = time.perf_counter()
    print(f"ledger growth: sizes {', '.join(f'{s:,}' for s in sizes)} decisions (and as many "
          f"events), {args.customers:,} customers, trace_sample_rate {args.trace_sample}; "
          f"load average {load()}", flush=True)  # fmt: skip
    results: list[dict[str, Any]] = []
    with ThrowawayPostgres(database="bench", durable=True) as pg:
        tune(pg)
        url = pg.new_database("growth")
        srv = Server(url, workers=args.workers, new_session=True).start()
        db = Database(url)
        try:
            load_catalog(srv)
            sample_traces(srv, args.trace_sample)
            templates = Templates(srv, url)
            store_customers(db, templates, args.customers)
            led = Ledger(db, templates, args.customers)
            now = dt.datetime.now(dt.UTC)
            newest = now - dt.timedelta(hours=1)
            per_second = PER_MONTH / (30.4375 * 86400)
            earliest = newest - dt.timedelta(seconds=sizes[-1] / per_second)
            make_partitions(db, earliest, now + dt.timedelta(days=32))
            loaded = 0
            load_seconds = 0.0
            for size in sizes:
                n = size - loaded
                end = newest - dt.timedelta(seconds=loaded / per_second)
                begin = newest - dt.timedelta(seconds=size / per_second)
                print(f"-- {size:,}: loading {n:,} decisions and {n:,} events from "
                      f"{begin:%Y-%m-%d} to {end:%Y-%m-%d %H:%M}", flush=True)  # fmt: skip
                took = led.fill(n, n, begin, end, f"{size:,}")
                load_seconds += took
                loaded = size
                took_analyze = analyze(url)
                catch_up = refresh(db)
                n_d, n_e = counts(db)
                print(f"   loaded in {took:.0f} s ({(n_d + n_e) / took:,.0f} rows/s), ANALYZE "
                      f"{took_analyze:.0f} s, refresh of the loaded events {catch_up:.1f} s "
                      f"({catch_up * 100_000 / n:.2f} s per 100,000); load {load()}", flush=True)  # fmt: skip
                led.fill(args.new, args.new, now - dt.timedelta(minutes=50),
                         now - dt.timedelta(minutes=2), "new")  # fmt: skip
                fresh = refresh(db)
                per_new = fresh * 100_000 / args.new
                print(f"   refresh of {args.new:,} new events: {fresh:.2f} s", flush=True)
                d = decide(srv, led, seconds, args.concurrency)
                print(f"   decisions: p50 {d['p50']:.1f} ms, p99 {d['p99']:.1f} ms over {d['n']:,} "
                      f"({d['rate']:.0f}/s, errors {d['errors']}); load {load()}", flush=True)  # fmt: skip
                o24 = overview(srv, "24h")
                o30 = overview(srv, "30d")
                print(f"   overview 24h: first {o24[0]:.2f} s, then p50 {o24[1]:.2f} s; 30d: first "
                      f"{o30[0]:.2f} s, then p50 {o30[1]:.2f} s", flush=True)  # fmt: skip
                n_d, n_e = counts(db)
                size_bytes = ledger_bytes(url)
                results.append({"size": size, "decisions": n_d, "events": n_e, "load_s": took,
                                "refresh": per_new, "p50": d["p50"], "p99": d["p99"],
                                "o24": o24, "o30": o30, "bytes": size_bytes,
                                "load": load()})  # fmt: skip
        finally:
            db.dispose()
            srv.stop()
    report(results, load_seconds, time.perf_counter() - started)


def report(results: list[dict[str, Any]], load_seconds: float, total: float) -> None:
    print()
    print(f"{'decisions':>11} {'events':>11} {'p50 ms':>7} {'p99 ms':>7} {'refresh s':>10} "
          f"{'24h first':>9} {'24h p50':>8} {'30d first':>9} {'30d p50':>8} {'GB':>6} "
          f"{'MB/M rows':>9}  load")  # fmt: skip
    for r in results:
        rows = r["decisions"] + r["events"]
        print(f"{r['decisions']:>11,} {r['events']:>11,} {r['p50']:>7.1f} {r['p99']:>7.1f} "
              f"{r['refresh']:>10.2f} {r['o24'][0]:>9.2f} {r['o24'][1]:>8.2f} {r['o30'][0]:>9.2f} "
              f"{r['o30'][1]:>8.2f} {r['bytes'] / 1e9:>6.2f} {r['bytes'] / 1e6 / (rows / 1e6):>9.0f}"
              f"  {r['load']}")  # fmt: skip
    print("(refresh: seconds per 100,000 new events; overview: seconds; MB/M rows: the ledger's "
          "tables per million decisions + events)")  # fmt: skip
    small, large = results[0], results[-1]
    r50, r99 = large["p50"] / small["p50"], large["p99"] / small["p99"]
    ok = r50 <= 1.2 and r99 <= 1.2
    print(f"decision latency {large['size']:,} / {small['size']:,}: p50 x{r50:.2f}, p99 x{r99:.2f}"
          f"  goal within 20%: {'MET' if ok else 'NOT MET'}")  # fmt: skip
    worst = max(r["refresh"] for r in results)
    print(f"refresh per 100,000 new events, worst {worst:.2f} s  goal <= 1 s: "
          f"{'MET' if worst <= 1 else 'NOT MET'}")  # fmt: skip
    worst = max(r["o24"][1] for r in results)
    print(f"overview (24h, warm p50) worst {worst:.2f} s  goal <= 1 s: "
          f"{'MET' if worst <= 1 else 'NOT MET'}"
          f"  (30d warm worst {max(r['o30'][1] for r in results):.2f} s)")  # fmt: skip
    print(f"loading took {load_seconds:.0f} s; the whole run {total:.0f} s; load {load()}")


if __name__ == "__main__":
    main()
