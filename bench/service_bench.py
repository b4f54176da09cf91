"""The service under load, on this machine: a real server, PostgreSQL, HTTP.

Run: ``.venv/bin/python bench/service_bench.py [--quick] [--workers N] [--seconds S]
[--rate R] [--connections N] [--concurrency C] [--new-share F] [--second-rate R]
[--bootstrap B] [--decisions-only] [--strategy-experiment]``

PostgreSQL runs with its defaults for durability (fsync, synchronous commit): a commit
waits for the write-ahead log to reach the disk, as in production.

1. Decisions over HTTP (``POST /v1/decisions``, each written to the ledger, with the
   customer's state read from it), 500 customers. Open loop: requests start on a fixed
   schedule (1,000 a second) and latency counts from the scheduled start, so a server that
   falls behind cannot hide it. Goal: >= 1,000 decisions/s with p99 <= 25 ms: all of a
   schedule of 1,000 a second answered, 99% within 25 ms of their start. Then a closed
   loop (each client sends again when answered) shows the ceiling. The load generator runs
   on the same 2 cores; its CPU time is reported.
   Then **new customers with uplift models live**: an e-mail campaign to 500 more customers
   (outcomes drawn from the demo simulator's truth) trains an X-learner per offer from the
   ledger (``POST /v1/uplift/train``, ``--bootstrap`` replicas: 10, as the demo's), and the
   open loop runs again with ``--new-share`` (20%) of its decisions for customers never
   seen before (a fresh id, attributes in the request), at ``--rate`` and at
   ``--second-rate`` (1,500 a second), against the same goal. A new customer gets the offer's average τ in the request; the
   server's background process (a process of its own at the lowest CPU priority, following
   the ledger) scores them afterwards (the share scored by the end is reported).
2. Batched event ingestion (``POST /v1/events``, 1,000 events a batch). Goal: >= 10,000/s.
3. Concurrent retries: 10,000 events, each sent twice by different clients at once;
   at the end exactly 10,000 rows, none lost, none duplicated.
4. SIGKILL: the server is killed mid-load; every event it acknowledged is there after a
   restart.

With ``--strategy-experiment``, a strategy experiment runs on the bank's channels while
the decisions are made (the decisions per arm are printed): what it costs the same loops.

With ``--chain``, only the cost of the tamper-evident ledger: two servers on the same
PostgreSQL, one without the sealer (``NEXTOFFER_SEAL_SECONDS=0``) and one with it (every
second, signing a checkpoint every 10,000 rows or 60 s), take turns at the closed loop of
decisions (``--rounds`` each, alternating, so that the machine's load hits both alike);
the ratio of their throughputs, the load average, and whether the sealer kept up (rows
sealed of rows written at the end). Goal: the drop is at most 10%.

There is no competing library for a whole service; the goals are absolute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.service.server import Server, load_catalog

from http_load import (
    Connection,
    closed_loop,
    connect,
    cpu_seconds,
    generator_gc_off,
    summary,
)
from nextoffer.scenarios.demo import WORKED_EXAMPLE, bank_customers, true_effect
from nextoffer.service.chain.service import generate_key
from nextoffer.service.db import Database
from nextoffer.service.tables import cate_estimates, decisions, events
from nextoffer.testing.postgres import ThrowawayPostgres


def server_cpu(srv: Server) -> float:
    """CPU seconds used so far by the server's processes (its process group: ``serve`` and
    its workers, its background process included), from /proc."""
    assert srv.process is not None
    group, total = os.getpgid(srv.process.pid), 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == group:  # pgrp; utime and stime follow at 11 and 12
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _decision_bodies(n: int, new_share: float = 0.0, tag: str = "") -> list[dict[str, Any]]:
    """``n`` decisions for the 500 stored customers; ``new_share`` of them for customers
    never seen before (``new-{tag}-{i}``, with attributes and holdings in the request)."""
    rng = random.Random(1)
    customers = [c["id"] for c in bank_customers(rng, 500)]
    strangers = list(bank_customers(random.Random(2), 1000))[1:]
    bodies = []
    for i in range(n):
        customer: dict[str, Any] = {"id": rng.choice(customers)}
        if rng.random() < new_share:
            c = strangers[i % len(strangers)]
            customer = {"id": f"new-{tag}-{i}", "attributes": c["attributes"],
                        "holdings": c["holdings"], "segments": c["segments"]}  # fmt: skip
        bodies.append({"customer": customer, "session_id": "bench",
                       "channel": rng.choice(["email", "in_app", "branch"])})  # fmt: skip
    return bodies


async def decisions_open(
    srv: Server,
    seconds: float,
    rate: float,
    connections: int,
    new_share: float = 0.0,
    tag: str = "",
) -> dict[str, Any]:
    """Open loop: requests start on a fixed schedule, ``rate`` a second, whatever the server's
    pace. A request's latency runs from its scheduled start, so time spent waiting for a free
    connection counts: a server that falls behind shows it in p99 (no coordinated omission).
    The first 2 seconds warm up and are not counted."""
    bodies = _decision_bodies(int(rate * (seconds + 2)) + 1, new_share, tag)
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in await connect(srv, connections):
        idle.put_nowait(conn)
    latencies: list[float] = []
    errors = 0
    t0 = time.perf_counter()
    measure_from = t0 + 2

    async def one(at: float, body: dict[str, Any]) -> None:
        nonlocal errors
        conn = await idle.get()
        try:
            status, _ = await conn.post("/v1/decisions", body)
        finally:
            idle.put_nowait(conn)
        if at >= measure_from:
            latencies.append((time.perf_counter() - at) * 1000)
            errors += status != 200

    tasks: list[asyncio.Task[None]] = []
    cpu0 = 0.0
    with generator_gc_off():
        for i, body in enumerate(bodies):
            at = t0 + i / rate
            if at >= measure_from and not cpu0:
                cpu0 = cpu_seconds()
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(at, body)))
        await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - measure_from
    cpu = cpu_seconds() - cpu0
    while not idle.empty():
        await idle.get_nowait().close()
    return summary(latencies, elapsed, errors, cpu)


async def decisions_closed(srv: Server, seconds: float, concurrency: int) -> dict[str, Any]:
    """Closed loop: ``concurrency`` clients, each sending its next request when the last is
    answered: the most the server does (latency then is concurrency ÷ throughput)."""
    bodies = iter(_decision_bodies(100_000))
    return await closed_loop(srv, "/v1/decisions", bodies, seconds, concurrency)


def event(i: int, prefix: str) -> dict[str, Any]:
    return {"type": "click", "customer_id": f"c-{i % 997}", "offer_id": "credit-card",
            "channel": "email", "idempotency_key": f"{prefix}-{i}"}  # fmt: skip


async def ingestion(
    srv: Server, total: int, batch: int, concurrency: int, prefix: str
) -> dict[str, Any]:
    batches = [
        [event(i, prefix) for i in range(s, min(s + batch, total))] for s in range(0, total, batch)
    ]
    queue = list(range(len(batches)))
    conns = await connect(srv, concurrency)

    async def worker(conn: Connection) -> None:
        while queue:
            status, body = await conn.post("/v1/events", {"events": batches[queue.pop()]})
            assert status in (200, 201), body

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - t0
    for c in conns:
        await c.close()
    return {"rate": total / elapsed, "seconds": elapsed}


async def retries(srv: Server, total: int) -> dict[str, Any]:
    """Every event sent twice, by different clients at once, in small shuffled batches."""
    sends = [i for i in range(total) for _ in range(2)]
    random.Random(3).shuffle(sends)
    chunks = [sends[s : s + 50] for s in range(0, len(sends), 50)]
    conns = await connect(srv, 8)

    async def worker(conn: Connection, mine: list[list[int]]) -> int:
        dup = 0
        for chunk in mine:
            status, body = await conn.post(
                "/v1/events", {"events": [event(i, "retry") for i in chunk]}
            )
            assert status in (200, 201), body
            dup += json.loads(body)["duplicates"]
        return dup

    dups = await asyncio.gather(*(worker(c, chunks[k::8]) for k, c in enumerate(conns)))
    for c in conns:
        await c.close()
    return {"sent": len(sends), "reported_duplicates": sum(dups)}


def uplift_campaign(srv: Server, bootstrap: int) -> list[dict[str, Any]]:
    """An e-mail to 500 more customers (stored first; the bench's own are capped by now),
    outcomes drawn from the demo simulator's truth, then an uplift model per offer trained
    from the ledger (as ``test_uplift_api`` does)."""
    rng = random.Random(7)
    events_: list[dict[str, Any]] = []
    with srv.client("client") as client:
        for i, c in enumerate(list(bank_customers(random.Random(9), 500))[1:]):
            c = {**c, "id": f"campaign-{i:04d}"}
            body = {k: c[k] for k in ("attributes", "holdings", "segments")}
            assert client.put(f"/v1/customers/{c['id']}", json=body).status_code == 200
            r = client.post("/v1/decisions", json={"customer": {"id": c["id"]}, "channel": "email"})
            assert r.status_code == 200, r.text
            d = r.json()
            treated = not d["control"]
            for p in d["placements" if treated else "counterfactual"]:
                for s in p["offers"]:
                    base, tau = true_effect(c, s["offer"])
                    if rng.random() < base + (tau if treated else 0.0):
                        events_.append({"type": "convert", "customer_id": c["id"],
                                        "offer_id": s["offer"], "decision_id": d["id"],
                                        "value": 100.0,
                                        "idempotency_key": f"{d['id']}:{s['offer']}"})  # fmt: skip
        for start in range(0, len(events_), 200):
            r = client.post("/v1/events", json={"events": events_[start : start + 200]})
            assert r.status_code in (200, 201), r.text
    with srv.client("author") as author:
        r = author.post(
            "/v1/uplift/train", json={"min_per_arm": 20, "bootstrap": bootstrap}, timeout=900
        )
        assert r.status_code == 200, r.text
    time.sleep(1.5)  # each worker looks for new models every second
    return [m for m in r.json()["models"] if m["trained"]]


def scored_ahead(url: str, tag: str) -> tuple[int, int]:
    """Customers of the run ``tag`` never seen before: how many have estimates now, of all
    that had a decision."""
    db = Database(url)
    with db.read() as s:
        scored = s.execute(
            sa.select(sa.func.count(sa.distinct(cate_estimates.c.customer_id))).where(
                cate_estimates.c.customer_id.like(f"new-{tag}-%")
            )
        ).scalar_one()
        seen = s.execute(
            sa.select(sa.func.count(sa.distinct(decisions.c.customer_id))).where(
                decisions.c.customer_id.like(f"new-{tag}-%")
            )
        ).scalar_one()
    db.dispose()
    return int(scored), int(seen)


def open_loop(srv: Server, *args: Any) -> dict[str, Any]:
    """``decisions_open`` and the server's CPU time per decision answered meanwhile (the
    warm-up's included in both)."""
    cpu = server_cpu(srv)
    d = uvloop.run(decisions_open(srv, *args))
    d["server_cpu_ms"] = (server_cpu(srv) - cpu) * 1000 / (d["n"] + 2 * args[1])
    return d


def report_open(label: str, rate: float, connections: int, d: dict[str, Any]) -> None:
    # sustained: every request of a fixed schedule of ``rate`` a second answered (200), 99%
    # within 25 ms of its scheduled start; a server that fell behind could not do it. (The
    # measured rate counts the drain of the last answers, so it comes out a little under
    # the offered rate even when nothing falls behind.)
    ok = rate >= 1000 and d["p99"] <= 25 and d["errors"] == 0
    print(f"{label}, open loop at {rate:.0f}/s over {connections} connections: "
          f"{d['rate']:.0f}/s over {d['n']} requests, p50 {d['p50']:.1f} ms, p99 {d['p99']:.1f} ms, "
          f"errors {d['errors']}; load generator used {d['generator_cpu']:.2f} CPU cores, "
          f"the server {d['server_cpu_ms']:.2f} ms of CPU per decision"
          f"  goal >= 1000/s, p99 <= 25 ms: {'MET' if ok else 'NOT MET'}")  # fmt: skip


def count_rows(url: str, prefix: str) -> tuple[int, int]:
    db = Database(url)
    like = events.c.idempotency_key.like(f"{prefix}-%")
    with db.read() as s:
        n = s.execute(sa.select(sa.func.count()).select_from(events).where(like)).scalar_one()
        distinct = s.execute(
            sa.select(sa.func.count(sa.distinct(events.c.idempotency_key))).where(like)
        ).scalar_one()
    db.dispose()
    return n, distinct


async def kill_test(srv: Server, url: str) -> dict[str, Any]:
    """Single events from 8 clients; SIGKILL the whole server after 2 s; check acknowledged ones."""
    acknowledged: list[str] = []
    stop = False
    conns = await connect(srv, 8)

    async def worker(k: int, conn: Connection) -> None:
        i = 0
        while not stop:
            key = f"kill-{k}-{i}"
            i += 1
            try:
                status, _ = await conn.post("/v1/events", event(0, "x") | {"idempotency_key": key})
            except OSError:  # ConnectionError among them
                return
            if status in (200, 201):
                acknowledged.append(key)

    tasks = [asyncio.create_task(worker(k, c)) for k, c in enumerate(conns)]
    await asyncio.sleep(2.0)
    assert srv.process is not None
    os.killpg(os.getpgid(srv.process.pid), signal.SIGKILL)
    stop = True
    await asyncio.gather(*tasks, return_exceptions=True)
    db = Database(url)
    with db.read() as s:
        stored = set(
            s.execute(
                sa.select(events.c.idempotency_key).where(events.c.idempotency_key.like("kill-%"))
            ).scalars()
        )
    db.dispose()
    return {
        "acknowledged": len(acknowledged),
        "missing": sum(1 for k in acknowledged if k not in stored),
    }


# ``--strategy-experiment``: the bank's channels split between the champion (the live
# snapshot) and a challenger (the PRIE weights without the uplift weight), half each
STRATEGY_EXPERIMENT = {
    "id": "bench-uplift-weight",
    "channels": ["email", "in_app", "branch"],
    "arms": [
        {"name": "champion", "share": 0.5, "snapshot": "live"},
        {"name": "no-uplift", "share": 0.5, "strategy": {"scoring": {
            "strategy": "prie", "weights": {"propensity": 0.4, "relevance": 0.1, "impact": 0.3,
                                            "emphasis": 0.2, "uplift": 0.0}}}},
    ],
}  # fmt: skip


def start_strategy_experiment(srv: Server) -> None:
    """Proposed by the author, started by the approver; every worker has compiled its arms
    within its snapshot poll interval (0.25 s) of the start."""
    with srv.client("author") as author:
        r = author.post("/v1/strategy-experiments", json={"definition": STRATEGY_EXPERIMENT})
        assert r.status_code == 201, r.text
    with srv.client("approver") as approver:
        r = approver.post(f"/v1/strategy-experiments/{STRATEGY_EXPERIMENT['id']}/start")
        assert r.status_code == 200, r.text
    time.sleep(1.0)


def arms_of(url: str) -> dict[str, int]:
    """The decisions per arm (``-``: outside every arm: the control group)."""
    db = Database(url)
    try:
        with db.read() as session:
            rows = session.execute(
                sa.select(decisions.c.arm, sa.func.count()).group_by(decisions.c.arm)
            ).all()
    finally:
        db.dispose()
    return {str(arm or "-"): int(n) for arm, n in rows}


def chain_cost(pg: ThrowawayPostgres, args: argparse.Namespace, seconds: float) -> None:
    """``--chain``: the closed loop of decisions without and with the sealer, in turns."""
    folder = Path(tempfile.mkdtemp(prefix="nextoffer-chain-"))
    generate_key(folder / "signing.pem")
    base = {"NEXTOFFER_ATTACH_REFRESH_SECONDS": "0"}
    sealed = {**base, "NEXTOFFER_SEAL_SECONDS": "1", "NEXTOFFER_CHECKPOINT_ROWS": "10000",
              "NEXTOFFER_CHECKPOINT_SECONDS": "60",
              "NEXTOFFER_CHECKPOINT_KEY": str(folder / "signing.pem"),
              "NEXTOFFER_CHECKPOINT_DIR": str(folder / "checkpoints")}  # fmt: skip
    servers = {}
    for name, env in (("without", {**base, "NEXTOFFER_SEAL_SECONDS": "0"}), ("with", sealed)):
        url = pg.new_database(f"chain_{name}")
        srv = Server(url, workers=args.workers, new_session=True, env=env).start()
        load_catalog(srv)
        with srv.client("client") as c:
            for cust in bank_customers(random.Random(1), 500):
                c.put(f"/v1/customers/{cust['id']}",
                      json={k: cust[k] for k in ("attributes", "holdings", "segments")})  # fmt: skip
        servers[name] = (srv, url)
    rates: dict[str, list[float]] = {"without": [], "with": []}
    try:
        print(f"server: {args.workers} workers each, PostgreSQL (fsync on); closed loop of "
              f"{args.concurrency} clients, {seconds:.0f} s a turn, {args.rounds} turns each")  # fmt: skip
        for turn in range(args.rounds):
            for name in ("without", "with") if turn % 2 == 0 else ("with", "without"):
                srv, _ = servers[name]
                d = uvloop.run(decisions_closed(srv, seconds, args.concurrency))
                rates[name].append(d["rate"])
                print(f"   turn {turn + 1}, {name} the sealer: {d['rate']:.0f} decisions/s, p99 "
                      f"{d['p99']:.1f} ms, errors {d['errors']}; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        time.sleep(3)  # the sealer's last turn
        engine = sa.create_engine(servers["with"][1])
        with engine.connect() as conn:
            written = conn.execute(sa.text("SELECT count(*) FROM decisions")).scalar_one()
            chained = conn.execute(sa.text(
                "SELECT count(*) FROM ledger_chain WHERE ledger = 'decisions'")).scalar_one()  # fmt: skip
            checkpoints = conn.execute(
                sa.text("SELECT count(*) FROM ledger_checkpoints")
            ).scalar_one()
        engine.dispose()
        without, with_ = (sum(rates[k]) / len(rates[k]) for k in ("without", "with"))
        drop = 1 - with_ / without
        print(f"5. the chain's cost: {without:.0f} decisions/s without the sealer, {with_:.0f} with"
              f" it: ratio {with_ / without:.3f}, drop {drop:.1%}  goal <= 10%: "
              f"{'MET' if drop <= 0.10 else 'NOT MET'}; sealed {chained} of {written} decisions"
              f" ({checkpoints} checkpoints); load average {os.getloadavg()}")  # fmt: skip
    finally:
        for srv, _ in servers.values():
            srv.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="open loop: decisions/s")
    parser.add_argument("--connections", type=int, default=32, help="open loop: connections")
    parser.add_argument("--concurrency", type=int, default=16, help="closed loop: clients")
    parser.add_argument("--new-share", type=float, default=0.2,
                        help="the uplift mix: share of customers never seen before")  # fmt: skip
    parser.add_argument("--second-rate", type=float, default=1500.0,
                        help="the uplift mix: the second schedule (decisions/s)")  # fmt: skip
    parser.add_argument("--bootstrap", type=int, default=10,
                        help="the uplift mix: the models' bootstrap replicas (the demo's 10)")  # fmt: skip
    parser.add_argument("--decisions-only", action="store_true",
                        help="stop after the decisions (skip ingestion, retries, SIGKILL)")  # fmt: skip
    parser.add_argument("--strategy-experiment", action="store_true",
                        help="run a strategy experiment on the bank's channels meanwhile")  # fmt: skip
    parser.add_argument("--chain", action="store_true",
                        help="only the sealer's cost: decisions without and with it")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="--chain: turns each")
    args = parser.parse_args()
    seconds = 4.0 if args.quick else args.seconds
    # durable: fsync and synchronous commit on (the server's defaults), as in production
    with ThrowawayPostgres(database="bench", durable=True) as pg:
        if args.chain:
            chain_cost(pg, args, seconds)
            return
        url = pg.new_database("service")
        srv = Server(url, workers=args.workers, new_session=True).start()
        try:
            load_catalog(srv)
            with srv.client("client") as c:
                for cust in bank_customers(random.Random(1), 500):
                    c.put(
                        f"/v1/customers/{cust['id']}",
                        json={k: cust[k] for k in ("attributes", "holdings", "segments")},
                    )
            assert WORKED_EXAMPLE["id"] == "demo-premium-36"
            if args.strategy_experiment:
                start_strategy_experiment(srv)
            print(f"server: {args.workers} workers, PostgreSQL {url.rsplit('@', 1)[1]} (fsync on, "
                  "synchronous commit); load generator: uvloop, keep-alive connections")  # fmt: skip
            d = open_loop(srv, seconds, args.rate, args.connections)
            report_open("1. decisions", args.rate, args.connections, d)
            if args.strategy_experiment:
                print(f"   decisions per arm: {arms_of(url)}")
            d = uvloop.run(decisions_closed(srv, seconds, args.concurrency))
            print(f"   decisions, closed loop with {args.concurrency} clients (the ceiling): "
                  f"{d['rate']:.0f}/s over {d['n']} requests, p50 {d['p50']:.1f} ms, p99 {d['p99']:.1f} ms, "
                  f"errors {d['errors']}; load generator used {d['generator_cpu']:.2f} CPU cores")  # fmt: skip
            t0 = time.perf_counter()
            models = uplift_campaign(srv, args.bootstrap)
            print(f"   uplift models live: {', '.join(m['offer'] for m in models)} (trained from "
                  f"an e-mail campaign to 500 more customers in {time.perf_counter() - t0:.0f} s)")  # fmt: skip
            for run, rate in enumerate((args.rate, args.second_rate)):
                tag = f"r{run}"
                d = open_loop(srv, seconds, rate, args.connections, args.new_share, tag)
                label = f"   decisions, {args.new_share:.0%} new customers, uplift live"
                report_open(label, rate, args.connections, d)
                time.sleep(2)  # the last ones scored ahead
                scored, seen = scored_ahead(url, tag)
                print(
                    f"      new customers scored ahead in the background by then: {scored} of {seen}"
                )
            if args.decisions_only:
                return
            total = 20_000 if args.quick else 100_000
            ing = uvloop.run(ingestion(srv, total, 1000, 4, "ingest"))
            n, _ = count_rows(url, "ingest")
            print(f"2. ingestion: {ing['rate']:.0f} events/s ({total} events in batches of 1000, {n} rows stored)"
                  f"  goal >= 10000/s: {'MET' if ing['rate'] >= 10_000 else 'NOT MET'}")  # fmt: skip
            r = uvloop.run(retries(srv, 10_000))
            n, distinct = count_rows(url, "retry")
            print(f"3. retries: {r['sent']} sends of 10000 events, {r['reported_duplicates']} reported duplicates; "
                  f"rows {n}, distinct keys {distinct}: lost {10_000 - distinct}, duplicated {n - distinct}")  # fmt: skip
            k = uvloop.run(kill_test(srv, url))
            print(
                f"4. SIGKILL mid-load: {k['acknowledged']} events acknowledged, {k['missing']} missing afterwards"
            )
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
