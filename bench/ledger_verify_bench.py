"""How fast ``nextoffer ledger verify`` reads the ledger, against hashing the same rows alone.

Run: ``.venv/bin/python bench/ledger_verify_bench.py [--rows 200000] [--sqlite]``
(PostgreSQL by default: a throwaway server).

Fills ``--rows`` decisions and as many events, shaped as the service writes them (a
decision: its request, two placements with their offers, rules and probabilities, the
customer's features; an event: an impression naming its decision), seals them (the
sealer's rate is printed), then times ``chain.service.verify`` (every row read, its
canonical bytes and digest recomputed, every link and the Merkle tree grown). The
reference, in the same run: SHA-256 alone over the same canonical bytes, computed
beforehand (digest, link and leaf: what verification hashes per row), and the rows read
alone (the database and the driver, no hashing). Prints rows/s, the ratios, and the load
average. Goal: verification reads >= 500,000 rows/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import time
from pathlib import Path

import sqlalchemy as sa

from nextoffer.core.chain import GENESIS, canonical, digest, link
from nextoffer.service.chain import repository, service
from nextoffer.service.db import Database
from nextoffer.service.ledger.repository import create_partitions
from nextoffer.service.migrate import upgrade
from nextoffer.testing.postgres import ThrowawayPostgres

AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
REQUEST = ('{"customer": {"id": "c-%(i)s", "attributes": {"tier": "premium", "tenure": 36}},'
           ' "channel": "email", "limit": 2}')  # fmt: skip
DECISION = ('{"placements": [{"id": "hero", "offers": [{"offer": "credit-card", "score": 12.5,'
            ' "rules": ["r-1"], "probability": 1.0}]}, {"id": "side", "offers": [{"offer":'
            ' "savings", "score": 3.25, "rules": [], "probability": 0.9}]}], "control": false}')  # fmt: skip
FEATURES = '{"tier": "premium", "tenure": 36, "holdings": ["checking"], "segments": ["a"]}'


def fill(db: Database, n: int) -> None:
    chunk = 20_000
    with db.transaction() as s:
        if not db.is_sqlite:
            create_partitions(s, AT, AT)
        at = AT.strftime("%Y-%m-%d %H:%M:%S.%f") if db.is_sqlite else AT
        for start in range(0, n, chunk):
            rows = [{"id": f"d-{i}", "c": f"c-{i % 5000}", "at": at, "req": REQUEST % {"i": i},
                     "dec": DECISION, "f": FEATURES} for i in range(start, min(n, start + chunk))]  # fmt: skip
            s.execute(sa.text(
                "INSERT INTO decisions (id, customer_id, channel, snapshot_version, control, shown,"
                " request, decision, features, occurred_at) VALUES (:id, :c, 'email', 'v1', false,"
                " '[\"credit-card\", \"savings\"]', :req, :dec, :f, :at)"), rows)  # fmt: skip
            s.execute(sa.text(
                "INSERT INTO events (id, idempotency_key, type, customer_id, decision_id, offer_id,"
                " channel, placement, payload, occurred_at, client, attributed, decision_at,"
                " rule_id) VALUES (:id, :id, 'impression', :c, :id, 'credit-card', 'email', 'hero',"
                " '{}', :at, 'k1', true, :at, 'r-1')"), rows)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="decisions, and as many events")
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    pg = None if args.sqlite else ThrowawayPostgres(database="bench").start()
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    url = (
        f"sqlite:///{folder / f'verify-bench-{os.getpid()}.db'}"
        if pg is None
        else pg.new_database("verify")
    )
    db = Database(url)
    try:
        upgrade(db)
        t0 = time.perf_counter()
        fill(db, args.rows)
        print(f"{'SQLite' if pg is None else 'PostgreSQL'}: {args.rows:,} decisions and "
              f"{args.rows:,} events written in {time.perf_counter() - t0:.1f} s")  # fmt: skip
        t0 = time.perf_counter()
        while service.seal(db, limit=50_000):
            pass
        sealed = time.perf_counter() - t0
        print(
            f"sealed {2 * args.rows:,} rows in {sealed:.1f} s: {2 * args.rows / sealed:,.0f} rows/s"
        )
        print(f"load average before verifying: {os.getloadavg()}")
        t0 = time.perf_counter()
        result = service.verify(db)
        took = time.perf_counter() - t0
        assert result.problems == [], result.problems
        rate = result.rows / took
        # the references: the same rows read alone, and hashed alone
        t0 = time.perf_counter()
        rows = []
        with db.read() as s:
            for ledger in ("decisions", "events"):
                after = 0
                while page := repository.seq_rows(s, ledger, after, service.PAGE):
                    rows.extend(page)
                    after = int(page[-1]["seq"])
        read = time.perf_counter() - t0
        data = [(int(r["seq"]), canonical(r)) for r in rows]
        sha = hashlib.sha256
        t0 = time.perf_counter()
        prev = GENESIS
        for seq, raw in data:
            prev = link(prev, seq, digest(raw))
            sha(b"\x00" + prev).digest()
        hashed = time.perf_counter() - t0
        t0 = time.perf_counter()
        for r in rows:
            canonical(r)
        encoded = time.perf_counter() - t0
        print(f"verify: {result.rows:,} rows in {took:.2f} s: {rate:,.0f} rows/s  goal >= 500,000/s:"
              f" {'MET' if rate >= 500_000 else 'NOT MET'}")  # fmt: skip
        print(f"   reference, rows read alone (database + driver): {len(rows) / read:,.0f} rows/s"
              f" (verify's time: {took / read:.2f}x)")  # fmt: skip
        print(f"   reference, canonical encoding alone: {len(rows) / encoded:,.0f} rows/s")
        print(f"   reference, SHA-256 alone (digest, link, leaf per row, bytes ready): "
              f"{len(data) / hashed:,.0f} rows/s (verify's time: {took / hashed:.1f}x)")  # fmt: skip
        print(f"load average after: {os.getloadavg()}")
    finally:
        db.dispose()
        if pg is not None:
            pg.stop()
        elif url.startswith("sqlite"):
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
