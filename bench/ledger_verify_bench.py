"""How fast ``nextoffer ledger verify`` reads the ledger, against the database computing
the digests alone.

Run: ``.venv/bin/python bench/ledger_verify_bench.py [--rows 200000] [--sqlite]``
(PostgreSQL by default: a throwaway server).

Fills ``--rows`` decisions and as many events, shaped as the service writes them (a
decision: its request, two placements with their offers, rules and probabilities, the
customer's features; an event: an impression naming its decision), seals them (the
sealer's rate is printed), signs a checkpoint over every row, times one decision's
inclusion proof, then times ``chain.service.verify`` as ``nextoffer ledger verify`` runs
(every row's canonical text and digest recomputed and every link checked, by the database
itself a page at a time on PostgreSQL, and the checkpoint's heads and signature checked).
The references, in the same run: verification with one reader; the digests alone as the
database computes them, read into Python (how verification read PostgreSQL before the
server checked whole pages: the bound of that way), with one reader and with verification's
``READERS``; the rows read into Python and encoded there (before PostgreSQL computed the
digests); SHA-256 alone of a walk of the chain in Python (link and leaf per row). Prints
rows/s, the ratios, and the load average. Goal: verification reads >= 500,000 rows/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

from nextoffer.core.chain import GENESIS, canonical, digest, link
from nextoffer.service.chain import repository, service
from nextoffer.service.db import Database
from nextoffer.service.ledger.repository import create_partitions
from nextoffer.service.migrate import upgrade
from nextoffer.service.tables import metadata
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


def read_digests(db: Database, tops: dict[str, int], readers: int) -> list[tuple[int, bytes]]:
    """Every row's ``(seq, digest)`` as the server computes them, ``readers`` pages at once."""

    def page(ledger: str, after: int) -> list[tuple[int, bytes]]:
        with db.read() as s:
            return repository.row_digests(s, ledger, after, after + service.PAGE, service.PAGE)

    with ThreadPoolExecutor(readers) as pool:
        pages = [pool.submit(page, ledger, after) for ledger, top in tops.items()
                 for after in range(0, top, service.PAGE)]  # fmt: skip
        return [d for p in pages for d in p.result()]


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
        # as ``nextoffer ledger verify`` runs: against the signed checkpoints, the last one
        # over every row (each table's Merkle tree grown to it and its root checked)
        key_path = folder / f"verify-bench-{os.getpid()}.pem"
        service.generate_key(key_path)
        key = service.load_private_key(key_path)
        service.checkpoint(db, key, AT)
        checkpoints = service.stored_checkpoints(db)
        with db.read() as s:
            some = str(
                s.execute(
                    sa.text("SELECT id FROM decisions ORDER BY seq DESC LIMIT 1")
                ).scalar_one()
            )
            t0 = time.perf_counter()
            service.proof(s, some)
            proved = time.perf_counter() - t0
        print(f"a decision's inclusion proof ({args.rows:,} decisions): {proved * 1000:.0f} ms")
        print(f"load average before verifying: {os.getloadavg()}")
        t0 = time.perf_counter()
        result = service.verify(db, checkpoints, key.public_key())
        took = time.perf_counter() - t0
        assert result.problems == [], result.problems
        assert result.checkpoints == 1
        rate = result.rows / took
        print(f"verify: {result.rows:,} rows in {took:.2f} s: {rate:,.0f} rows/s  goal >= 500,000/s:"
              f" {'MET' if rate >= 500_000 else 'NOT MET'}")  # fmt: skip
        # the references, the same rows: verification with one reader; the digests alone as
        # the database computes them, read into Python as verification did before the server
        # checked whole pages itself (its bound), with one reader and with ``READERS``; the
        # rows read into Python and encoded there (before the server computed digests); the
        # SHA-256 alone of a walk of the chain in Python (link and leaf per row)
        t0 = time.perf_counter()
        assert service.verify(db, checkpoints, key.public_key(), readers=1).problems == []
        single = time.perf_counter() - t0
        print(f"   reference, verify with 1 reader: {result.rows / single:,.0f} rows/s")
        with db.read() as s:
            tops = {ledger: int(s.execute(sa.text(f"SELECT max(seq) FROM {ledger}")).scalar_one())
                    for ledger in ("decisions", "events")}  # fmt: skip
        for readers in sorted({1, service.READERS}):
            t0 = time.perf_counter()
            digests = read_digests(db, tops, readers)
            alone = time.perf_counter() - t0
            print(f"   reference, the digests alone as the database computes them, read into"
                  f" Python, {readers} reader(s): {len(digests) / alone:,.0f} rows/s (verify is"
                  f" {alone / took:.2f}x as fast)")  # fmt: skip
        t0 = time.perf_counter()
        rows = 0
        with db.read() as s:
            for ledger in ("decisions", "events"):
                table = metadata.tables[ledger]
                after = 0
                while page := list(s.execute(sa.select(table).where(table.c.seq > after)
                                             .order_by(table.c.seq).limit(service.PAGE)).mappings()):  # fmt: skip
                    for r in page:
                        digest(canonical(r))
                    rows += len(page)
                    after = int(page[-1]["seq"])
        old = time.perf_counter() - t0
        print(f"   reference, rows read into Python and encoded there (core.chain.canonical: how"
              f" verification read PostgreSQL before it computed the digests there): {rows / old:,.0f} rows/s "
              f"(verify is {old / took:.1f}x as fast)")  # fmt: skip
        sha = hashlib.sha256
        t0 = time.perf_counter()
        prev = GENESIS
        for seq, d in digests:
            prev = link(prev, seq, d)
            sha(b"\x00" + prev).digest()
        hashed = time.perf_counter() - t0
        print(f"   reference, SHA-256 alone of the chain's walk (link and leaf per row, digests"
              f" ready): {len(digests) / hashed:,.0f} rows/s")  # fmt: skip
        print(f"load average after: {os.getloadavg()}")
    finally:
        db.dispose()
        for path in folder.glob(f"verify-bench-{os.getpid()}.pem*"):
            path.unlink()
        if pg is not None:
            pg.stop()
        elif url.startswith("sqlite"):
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
