"""The attach-rate refresh per 100,000 new events: incremental (from the watermark), on events
that record their decision's time and rule (as the ledger writes them since revision 0017)
and on events that do not (older rows: their decisions looked up, what every refresh did
before), against the full recount, in the same run, as the ledger grows.

Run: ``.venv/bin/python bench/attach_refresh_bench.py [--sizes 200000,1000000] [--new 100000]
[--sqlite]`` (PostgreSQL by default: a throwaway server, fsync on).

For each ledger size: decisions (one per showing, each naming the rule that nominated its
offer) and their impressions and accepts are bulk-loaded (COPY on PostgreSQL) until the
ledger holds that many events, a refresh brings the counts up to date, then twice ``--new``
more events are appended (new showings, and repeated impressions of old ones, which must
not count again) and the incremental refresh (``attach.service.refresh`` with no snapshot
to publish: counting, adding and moving the watermark, committed) timed: first events as
the ledger writes them, then events without the records. Then the full recount
(``attach.repository.count_ledger``, what the first refreshes did) is timed, and the counts
checked equal. Refuses to run when the 1-minute load average is 1.5 or more
(``--force`` to run anyway): the figures would be the other processes'.
"""

from __future__ import annotations

import argparse
import datetime as dt
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
                    "request", "decision", "occurred_at"]  # fmt: skip
EVENT_COLUMNS = ["id", "idempotency_key", "type", "customer_id", "decision_id", "offer_id",
                 "channel", "payload", "attributed", "decision_at", "rule_id"]  # fmt: skip
Shown = tuple[str, str, str, dt.datetime, str]  # decision, offer, channel, decision's time, rule


def _load(
    db: Database, n_events: int, rng: random.Random, shown: list[Shown], recorded: bool = True
) -> None:
    """Append decisions and events until ``n_events`` more events are written: 70% new
    showings (a decision, its impression, an accept one time in ten), 30% repeated
    impressions of earlier showings; the events record their decision's time and rule
    (``recorded``) or do not."""
    written = 0
    while written < n_events:
        d_rows: list[list[Any]] = []
        e_rows: list[list[Any]] = []
        while written < n_events and len(e_rows) < 20_000:
            if shown and rng.random() < 0.3:
                showing = rng.choice(shown)
            else:
                decision_id, offer, rule = str(uuid.uuid4()), rng.choice(OFFERS), rng.choice(RULES)
                showing = (decision_id, offer, rng.choice(CHANNELS), dt.datetime.now(dt.UTC), rule)
                body = {"placements": [{"offers": [{"offer": offer, "rules": [rule]}]}]}
                d_rows.append([decision_id, f"c-{rng.randrange(100_000)}", showing[2], "v1",
                               False, json.dumps([offer]), "{}", json.dumps(body), showing[3]])  # fmt: skip
                shown.append(showing)
                if rng.random() < 0.1:
                    e_rows.append(_event("accept", showing, recorded))
                    written += 1
            e_rows.append(_event("impression", showing, recorded))
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


def _event(kind: str, showing: Shown, recorded: bool) -> list[Any]:
    decision_id, offer, channel, at, rule = showing
    key = str(uuid.uuid4())
    records = [at, rule] if recorded else [None, None]
    return [key, key, kind, None, decision_id, offer, channel, "{}", True, *records]


def _refresh(db: Database) -> float:
    started = time.perf_counter()
    db.run(service.refresh)
    return time.perf_counter() - started


def _recount(db: Database) -> tuple[float, int]:
    """(full recount s, pitches), the counts checked equal to those kept."""
    with db.read() as session:
        started = time.perf_counter()
        recounted = repository.count_ledger(session)
        full = time.perf_counter() - started
        assert repository.stored_counts(session) == recounted, "incremental != recount"
    return full, len(recounted)


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
    shown: list[Shown] = []
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
        print(f"{'ledger events':>14} {'new':>8} {'recorded s':>11} {'looked up s':>12} "
              f"{'ratio':>6} {'full recount s':>15} {'pitches':>8}  load {os.getloadavg()[0]:.2f}")  # fmt: skip
        for size in sizes:
            _load(db, size - _events(db) - 2 * args.new, rng, shown)
            db.run(service.refresh)  # up to date before the new events
            _load(db, args.new, rng, shown)
            recorded = _refresh(db)
            _load(db, args.new, rng, shown, recorded=False)
            looked_up = _refresh(db)
            full, pitches = _recount(db)
            per = args.new / 100_000
            print(f"{_events(db):>14,} {args.new:>8,} {recorded / per:>11.3f} "
                  f"{looked_up / per:>12.3f} {looked_up / recorded:>6.2f} {full / per:>15.3f} "
                  f"{pitches:>8}  load {os.getloadavg()[0]:.2f}")  # fmt: skip
        print(
            "(seconds per 100,000 new events; ratio: looked up / recorded; the full recount "
            "reads the whole ledger)"
        )
    finally:
        db.dispose()
        if pg is not None:
            pg.__exit__(None, None, None)


if __name__ == "__main__":
    main()
