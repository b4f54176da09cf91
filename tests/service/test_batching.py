"""Concurrent decisions share their database statements (``Coalescer``, ``Pipeline``), and
each still gets exactly its own customer's state and its own ledger row."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from nextoffer.scenarios.demo import bank_customers
from nextoffer.service.batching import Coalescer
from nextoffer.service.db import Database
from nextoffer.service.decisions.service import Pipeline
from nextoffer.service.ledger.repository import insert_decisions, insert_decisions_async
from nextoffer.service.ledger.service import customers_and_contacts, ingest
from nextoffer.service.migrate import upgrade
from nextoffer.service.tables import customers, decisions
from nextoffer.testing.postgres import ThrowawayPostgres

from .server import Server


class Recorder:
    """A ``run`` that records its batches and doubles each item; item 13 is bad."""

    def __init__(self, error: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.error = error

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(0.001)  # a round trip: later callers queue up meanwhile
        if self.error is not None:
            raise self.error
        if 13 in items:
            raise ValueError("13 is bad")
        return [2 * i for i in items]


def test_concurrent_callers_share_a_batch_and_each_gets_its_own_result() -> None:
    run = Recorder()

    async def main() -> list[int]:
        coalescer = Coalescer(run)
        return await asyncio.gather(*(coalescer(i) for i in range(10)))

    assert asyncio.run(main()) == [2 * i for i in range(10)]
    assert run.batches == [list(range(10))]


def test_a_lone_caller_goes_at_once_and_callers_arriving_meanwhile_go_together() -> None:
    run = Recorder()

    async def main() -> list[int]:
        coalescer = Coalescer(run)
        first = asyncio.ensure_future(coalescer(0))
        await asyncio.sleep(0)  # the first batch, [0], is now under way
        rest = [asyncio.ensure_future(coalescer(i)) for i in range(1, 6)]
        return await asyncio.gather(first, *rest)

    assert asyncio.run(main()) == [0, 2, 4, 6, 8, 10]
    assert run.batches == [[0], [1, 2, 3, 4, 5]]


def test_batches_are_at_most_the_limit() -> None:
    run = Recorder()

    async def main() -> list[int]:
        coalescer = Coalescer(run, limit=4)
        return await asyncio.gather(*(coalescer(i) for i in range(10)))

    assert asyncio.run(main()) == [2 * i for i in range(10)]
    assert [len(b) for b in run.batches] == [4, 4, 2]


def test_a_bad_item_fails_only_its_own_caller() -> None:
    run = Recorder()

    async def main() -> list[Any]:
        coalescer = Coalescer(run)
        return await asyncio.gather(
            *(coalescer(i) for i in (11, 12, 13, 14)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert results[:2] == [22, 24]
    assert results[3] == 28
    assert isinstance(results[2], ValueError)
    assert run.batches == [[11, 12, 13, 14], [11], [12], [13], [14]]


def test_a_lost_connection_fails_the_whole_batch_without_retrying_it() -> None:
    lost = sa.exc.DBAPIError(
        "SELECT 1", None, Exception("server closed"), connection_invalidated=True
    )
    run = Recorder(error=lost)

    async def main() -> list[Any]:
        coalescer = Coalescer(run)
        return await asyncio.gather(*(coalescer(i) for i in range(3)), return_exceptions=True)

    assert all(r is lost for r in asyncio.run(main()))
    assert run.batches == [[0, 1, 2]]


def test_a_caller_that_goes_away_leaves_the_others_answered() -> None:
    run = Recorder()

    async def main() -> list[Any]:
        coalescer = Coalescer(run)
        calls = [asyncio.ensure_future(coalescer(i)) for i in range(4)]
        await asyncio.sleep(0)
        calls[1].cancel()  # a client that disconnected
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())
    assert isinstance(results[1], asyncio.CancelledError)
    assert [results[0], results[2], results[3]] == [0, 4, 6]


def _row(customer_id: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "idempotency_key": None, "customer_id": customer_id,
            "session_id": "s", "channel": "email", "snapshot_version": "v1", "control": False,
            "experiment": None, "shown": ["credit-card", "savings-account"],
            "request": {"customer": {"id": customer_id}}, "decision": {"placements": {}},
            "trace": None, "features": {"attributes": {"n": customer_id}},
            "body_hash": None, "strategy_experiment": None, "arm": None}  # fmt: skip


@pytest.mark.postgres
def test_a_batched_read_and_write_give_each_decision_its_own_customer(
    postgres: ThrowawayPostgres,
) -> None:
    db = Database(postgres.new_database("batch"))
    upgrade(db)
    people = list(bank_customers(random.Random(5), 6))
    with db.transaction() as session:
        session.execute(sa.insert(customers), [
            {"id": p["id"], "attributes": p["attributes"], "holdings": p["holdings"],
             "segments": p["segments"], "updated_at": dt.datetime.now(dt.UTC)} for p in people
        ])  # fmt: skip
        made = insert_decisions(session, [_row(p["id"]) for p in people[:3] for _ in range(2)])
        shown = next(d["id"] for d in made if d["customer_id"] == people[1]["id"])
        ingest(session, [{"type": "accept", "customer_id": people[1]["id"], "decision_id": shown,
                          "offer_id": "credit-card", "channel": "email",
                          "idempotency_key": "batch-accept"}])  # fmt: skip
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    ids = [p["id"] for p in people] + ["nobody"]
    with db.read() as session:  # one customer at a time: what each decision must see
        alone = {i: customers_and_contacts(session, [i], since)[i] for i in ids}
    assert alone["nobody"] == (None, [])
    assert len(alone[people[1]["id"]][1]) == 5  # two decisions of two offers, one accept

    async def main() -> tuple[list[Any], list[dict[str, Any]]]:
        pipeline = Pipeline(db)
        try:
            read = await asyncio.gather(*(pipeline.read((i, since)) for i in ids))
            rows = [_row(i) for i in ids]
            written = await asyncio.gather(*(pipeline.write(r) for r in rows))
            return read, [{**w, "given": r} for w, r in zip(written, rows, strict=True)]
        finally:
            await pipeline.close()
            await db.dispose_async()

    async def with_a_bad_row() -> list[Any]:
        pipeline = Pipeline(db)
        try:
            rows = [_row("good-1"), {**_row("bad"), "session_id": "a\x00b"}, _row("good-2")]
            return await asyncio.gather(*(pipeline.write(r) for r in rows), return_exceptions=True)
        finally:
            await pipeline.close()
            await db.dispose_async()

    good, bad, also_good = asyncio.run(with_a_bad_row())
    assert isinstance(bad, sa.exc.DataError)  # the API answers 422 "a value cannot be stored"
    assert "0x00" in str(bad.orig)  # binary parameters: "invalid byte sequence … 0x00"
    assert good["customer_id"] == "good-1"
    assert also_good["customer_id"] == "good-2"

    read, written = asyncio.run(main())
    assert read == [alone[i] for i in ids]
    assert [w["id"] for w in written] == [w["given"]["id"] for w in written]
    assert len({w["seq"] for w in written}) == len(ids)
    with db.read() as session:
        stored = {r.id: r for r in session.execute(sa.select(decisions))}
    for w in written:
        assert stored[w["id"]].customer_id == w["given"]["customer_id"]
        assert stored[w["id"]].seq == w["seq"]
        assert stored[w["id"]].occurred_at == w["occurred_at"]
    db.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("size", [1, 4, 5, 9])
def test_small_and_large_write_batches_store_the_same_rows(
    postgres: ThrowawayPostgres, size: int
) -> None:
    """Up to four rows go as a VALUES list, more as arrays: either way each row is stored as
    given (JSON None as JSON null, text, flags), and what comes back matches it."""
    db = Database(postgres.new_database("forms"))
    upgrade(db)
    rows = [{**_row(f"c-{i}"), "trace": None if i % 2 else {"stages": [i]}, "control": i == 1,
             "session_id": None if i == 2 else f"s-{i}"} for i in range(size)]  # fmt: skip

    async def main() -> list[dict[str, Any]]:
        try:
            async with db.async_engine.connect() as connection:
                raw = (await connection.get_raw_connection()).driver_connection
                assert raw is not None
                return await insert_decisions_async(raw, rows)
        finally:
            await db.dispose_async()

    written = asyncio.run(main())
    assert [w["id"] for w in written] == [r["id"] for r in rows]
    with db.read() as session:
        stored = {r.id: r._asdict() for r in session.execute(sa.select(decisions))}
        null_traces = session.execute(
            sa.text("SELECT count(*) FROM decisions WHERE trace = 'null'::jsonb")
        ).scalar_one()
    assert null_traces == size // 2  # None went in as JSON null, as SQLAlchemy stores it
    for given, w in zip(rows, written, strict=True):
        assert stored[given["id"]] == {**given, "seq": w["seq"], "occurred_at": w["occurred_at"]}
    db.dispose()


@pytest.mark.postgres
def test_the_decision_read_looks_customers_up_even_in_a_plan_made_on_an_empty_ledger(
    postgres: ThrowawayPostgres,
) -> None:
    """The read is prepared after a few executions, on a ledger still empty and not yet
    analyzed; the plan PostgreSQL then keeps must not scan the whole ledger once it grows."""
    db = Database(postgres.new_database("plans"))
    upgrade(db)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)

    async def plan_after_growth() -> tuple[str, set[str]]:
        pipeline = Pipeline(db)
        try:
            for _ in range(20):  # prepared at the 5th; a generic plan from the 5th after
                await pipeline.read(("c-1", since))
            with db.transaction() as session:  # the ledger grows
                insert_decisions(session, [_row(f"c-{i % 400}") for i in range(4000)])
            assert (await pipeline.read(("c-1", since)))[1]
            async with pipeline._reader.driver() as connection:
                name = await (await connection.execute(
                    "SELECT name FROM pg_prepared_statements WHERE statement LIKE '%UNION ALL%'"
                )).fetchone()  # fmt: skip
                assert name is not None
                cursor = psycopg.AsyncClientCursor(connection)
                await cursor.execute(f"EXPLAIN EXECUTE {name[0]}(%s, %s)", (["c-1"], since))
                plan = "\n".join(row[0] for row in await cursor.fetchall())
                # the ledger is partitioned by month: each partition has its own copy of
                # the contacts index, attached to the table's
                await cursor.execute(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " JOIN pg_class p ON p.oid = i.inhparent"
                    " WHERE p.relname = 'ix_decisions_contacts'"
                )
                copies = {row[0] for row in await cursor.fetchall()}
                return plan, {"ix_decisions_contacts", *copies}
        finally:
            await pipeline.close()
            await db.dispose_async()

    plan, contacts = asyncio.run(plan_after_growth())
    assert "Seq Scan on decisions" not in plan, plan
    assert any(ix in plan for ix in contacts), plan
    db.dispose()


@pytest.mark.postgres
def test_concurrent_decisions_over_http_each_see_their_own_customer(
    postgres: ThrowawayPostgres,
) -> None:
    """40 decisions at once for 40 customers: the ledger keeps, with each decision, the
    features of the customer it was made for (read in shared statements)."""
    from .server import load_catalog

    url = postgres.new_database("concurrent")
    srv = Server(url).start()
    try:
        load_catalog(srv)
        people = list(bank_customers(random.Random(8), 40))[1:]
        with srv.client("client") as client:
            for p in people:
                body = {k: p[k] for k in ("attributes", "holdings", "segments")}
                assert client.put(f"/v1/customers/{p['id']}", json=body).status_code == 200

        def decide(p: dict[str, Any]) -> dict[str, Any]:
            with srv.client("client") as client:
                r = client.post("/v1/decisions", json={"customer": {"id": p["id"]},
                                                       "channel": "email"})  # fmt: skip
                assert r.status_code == 200, r.text
                return {"customer": p, "decision": r.json()}

        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(decide, people))
        db = Database(url)
        with db.read() as session:
            features = dict(
                session.execute(sa.select(decisions.c.id, decisions.c.features)).tuples().all()
            )
        db.dispose()
        for a in answers:
            p, d = a["customer"], a["decision"]
            assert d["customer_id"] == p["id"]
            assert features[d["id"]]["attributes"] == p["attributes"]
            assert features[d["id"]]["holdings"] == sorted(p["holdings"])
    finally:
        srv.stop()
