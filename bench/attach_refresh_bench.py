"""The attach-rate refresh per 100,000 new events: incremental (from the watermark) against
the full recount, in the same run, as the ledger grows.

Run: ``.venv/bin/python bench/attach_refresh_bench.py [--sizes 200000,1000000] [--new 100000]
[--sqlite]`` (PostgreSQL by default: a throwaway server, fsync on).

For each ledger size: decisions (one per showing, each naming the rule that nominated its
offer) and their impressions and accepts are bulk-loaded (COPY on PostgreSQL) until the
ledger holds that many events, a refresh brings the counts up to date, ``--new`` more events
are appended (new showings, and repeated impressions of old ones, which must not count
again), and then timed on the same data: the incremental refresh (``attach.service.refresh``
with no snapshot to publish: counting, adding and moving the watermark, committed) and the
full recount (``attach.repository.count_ledger``, what every refresh did before). The two
counts are checked equal. Refuses to run when the 1-minute load average is 1.5 or more
(``--force`` to run anyway): the figures would be the other processes'.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from nextoffer.service.attach import repository, service
from nextoffer.service.db import Database, copy_insert
from nextoffer.service.migrate import upgrade
from nextoffer.service.tables import decisions, events
from nextoffer.testing.postgres import ThrowawayPostgres

OFFERS = [f"offer-{i}" for i in range(40)]
RULES = [f"rule-{i}" for i in range(25)]
CHANNELS = ["email", "in_app", "branch", "kiosk"]
DECISION_COLUMNS = ["id", "customer_id", "channel", "snapshot_version", "control", "shown",
                    "request", "decision"]  # fmt: skip
EVENT_COLUMNS = ["id", "idempotency_key", "type", "customer_id", "decision_id", "offer_id",
                 "channel", "payload", "attributed"]  # fmt: skip


def _load(
    db: Database, n_events: int, rng: random.Random, shown: list[tuple[str, str, str]]
) -> None:
    """Append decisions and events until ``n_events`` more events are written: 70% new
    showings (a decision, its impression, an accept one time in ten), 30% repeated
    impressions of earlier showings."""
    written = 0
    while written < n_events:
        d_rows: list[list[Any]] = []
        e_rows: list[list[Any]] = []
        while written < n_events and len(e_rows) < 20_000:
            if shown and rng.random() < 0.3:
                decision_id, offer, channel = rng.choice(shown)
            else:
                decision_id, offer, channel = (
                    str(uuid.uuid4()),
                    rng.choice(OFFERS),
                    rng.choice(CHANNELS),
                )
                body = {
                    "placements": [{"offers": [{"offer": offer, "rules": [rng.choice(RULES)]}]}]
                }
                d_rows.append([decision_id, f"c-{rng.randrange(100_000)}", channel, "v1", False,
                               json.dumps([offer]), "{}", json.dumps(body)])  # fmt: skip
                shown.append((decision_id, offer, channel))
                if rng.random() < 0.1:
                    e_rows.append(_event("accept", decision_id, offer, channel))
                    written += 1
            e_rows.append(_event("impression", decision_id, offer, channel))
            written += 1
        with db.transaction() as session:
            if db.is_sqlite:
                keys = DECISION_COLUMNS
                session.execute(sa.insert(decisions), [
                    {**dict(zip(keys, r, strict=True)), "shown": json.loads(r[5]), "request": {},
                     "decision": json.loads(r[7])} for r in d_rows])  # fmt: skip
                session.execute(sa.insert(events), [
                    {**dict(zip(EVENT_COLUMNS, r, strict=True)), "payload": {}} for r in e_rows
                ])  # fmt: skip
            else:
                copy_insert(session, decisions, DECISION_COLUMNS, d_rows)
                copy_insert(session, events, EVENT_COLUMNS, e_rows)


def _event(kind: str, decision_id: str, offer: str, channel: str) -> list[Any]:
    key = str(uuid.uuid4())
    return [key, key, kind, None, decision_id, offer, channel, "{}", True]


def _time(db: Database) -> tuple[float, float, int]:
    """(incremental refresh s, full recount s, pitches), the counts checked equal."""
    started = time.perf_counter()
    db.run(service.refresh)
    incremental = time.perf_counter() - started
    with db.read() as session:
        started = time.perf_counter()
        recounted = repository.count_ledger(session)
        full = time.perf_counter() - started
        assert repository.stored_counts(session) == recounted, "incremental != recount"
    return incremental, full, len(recounted)


def _events(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200000,1000000", help="ledger sizes, in events")
    parser.add_argument("--new", type=int, default=100_000, help="new events per refresh")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--force", action="store_true", help="run whatever the load")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    if load >= 1.5 and not args.force:
        sys.exit(f"load average {load:.2f} >= 1.5: not measuring (--force to run anyway)")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rng = random.Random(21)
    shown: list[tuple[str, str, str]] = []
    pg = None if args.sqlite else ThrowawayPostgres(database="bench", durable=True)
    if pg is None:
        path = Path("attach_refresh_bench.db")
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        pg.__enter__()
        url = pg.new_database("attach")
    db = Database(url)
    try:
        upgrade(db)
        print(f"{'ledger events':>14} {'new':>8} {'incremental s':>14} {'full recount s':>15} "
              f"{'pitches':>8}  load {os.getloadavg()[0]:.2f}")  # fmt: skip
        for size in sizes:
            _load(db, size - _events(db) - args.new, rng, shown)
            db.run(service.refresh)  # up to date before the new events
            _load(db, args.new, rng, shown)
            incremental, full, pitches = _time(db)
            per = args.new / 100_000
            print(f"{_events(db):>14,} {args.new:>8,} {incremental / per:>14.3f} "
                  f"{full / per:>15.3f} {pitches:>8}")  # fmt: skip
        print("(seconds per 100,000 new events; the full recount reads the whole ledger)")
    finally:
        db.dispose()
        if pg is not None:
            pg.__exit__(None, None, None)


if __name__ == "__main__":
    main()
