"""The decision path and the ledger meet at one contract: the ledger service's customer-state
read and decision write (sync and async, single and batched). The decision service calls
only that, never the ledger's repository, and every form of a read or a write gives the
same result."""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import nextoffer.service.decisions.service as decisions_service
from nextoffer.service.db import Database
from nextoffer.service.ledger import repository
from nextoffer.service.ledger import service as ledger
from nextoffer.service.ledger.event_types import BUILTIN_TYPES, EVENT_TYPES
from nextoffer.service.ledger.payloads import BUILTIN_PAYLOADS
from nextoffer.service.ledger.schemas import CustomerContacts, EventIn
from nextoffer.service.migrate import upgrade
from nextoffer.service.tables import customers
from nextoffer.testing.postgres import ThrowawayPostgres

LEDGER = "nextoffer.service.ledger"


def _imports(path: Path, package: str) -> set[str]:
    """Every module (and module.name) a file imports, relative imports resolved."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_the_decision_service_calls_the_ledger_only_through_its_service() -> None:
    path = Path(decisions_service.__file__)
    imported = _imports(path, "nextoffer.service.decisions")
    from_ledger = {name for name in imported if name.startswith(LEDGER)}
    assert f"{LEDGER}.repository" not in from_ledger
    assert not any(name.startswith(f"{LEDGER}.repository.") for name in from_ledger)
    assert {n for n in from_ledger if n != f"{LEDGER}.service"} <= {
        f"{LEDGER}.service.{name}" for name in ledger.__all__
    }, from_ledger
    # nor any other domain's repository: the decision path calls services only
    assert not [n for n in imported if n.endswith(".repository") or ".repository." in n]


def _row(customer_id: str, shown: list[str], key: str | None = None) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "idempotency_key": key, "customer_id": customer_id,
            "session_id": "s", "channel": "email", "snapshot_version": "v1", "control": False,
            "experiment": None, "shown": shown, "request": {"n": 1},
            "decision": {"placements": {}}, "trace": None, "features": None,
            "body_hash": None if key is None else "h"}  # fmt: skip


def _history(db: Database) -> None:
    """Two customers: one stored, shown two offers, who declined one by a custom negative
    outcome type (only a registered type's class makes it a decline); one unknown."""
    with db.transaction() as session:
        session.execute(sa.insert(customers), {
            "id": "c-1", "attributes": {"tier": "gold"}, "holdings": ["checking"],
            "segments": ["young"], "updated_at": dt.datetime.now(dt.UTC)})  # fmt: skip
        repository.register_outcome_type(session, "refund", "negative")
        shown = ledger.record_decisions(session, [_row("c-1", ["loan", "savings"])])[0]
        ledger.record_decisions(session, [_row("c-2", ["loan"])])
        ledger.ingest(session, {"type": "refund", "customer_id": "c-1", "offer_id": "loan",
                                "decision_id": shown["id"], "idempotency_key": "r-1"},
                      client="k")  # fmt: skip


def test_the_single_and_batched_reads_agree(db: Database) -> None:
    _history(db)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with db.read() as session:
        batched = ledger.customers_and_contacts(session, ["c-1", "c-2", "nobody"], since)
        single = {c: ledger.customer_and_contacts(session, c, since) for c in batched}
    assert single == batched
    assert batched["nobody"] == CustomerContacts(None, [])
    state = batched["c-1"]
    assert state.customer == {"id": "c-1", "attributes": {"tier": "gold"},
                              "holdings": ["checking"], "segments": ["young"]}  # fmt: skip
    assert sorted((c.offer, c.outcome) for c in state.contacts) == [
        ("loan", "declined"), ("loan", "shown"), ("savings", "shown")]  # fmt: skip
    later = state.since(max(c.t for c in state.contacts) + 1)
    assert later == CustomerContacts(state.customer, [])


def test_a_keyed_decision_is_written_once_and_a_reused_key_is_refused(db: Database) -> None:
    key = ledger.IdempotencyKey("k", "d-1")
    row = _row("c-1", ["loan"], key="k:d-1")
    with db.transaction() as session:
        first = ledger.record_decision(session, row, key)
    with db.transaction() as session:
        again = ledger.record_decision(session, {**row, "id": str(uuid.uuid4())}, key)
        assert ledger.stored_decision(session, row["id"]) == again
    assert (again["id"], again["seq"]) == (first["id"], first["seq"])
    assert first["id"] == row["id"]
    with pytest.raises(ledger.KeyReused), db.transaction() as session:
        ledger.record_decision(session, {**row, "id": str(uuid.uuid4()), "body_hash": "other"}, key)


@pytest.mark.postgres
def test_the_async_reads_and_writes_agree_with_the_sync_ones(postgres: ThrowawayPostgres) -> None:
    db = Database(postgres.new_database("contract"))
    upgrade(db)
    _history(db)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with db.read() as session:
        synced = ledger.customers_and_contacts(session, ["c-1", "c-2", "nobody"], since)
    key = ledger.IdempotencyKey("k", "d-2")
    keyed = _row("c-3", ["loan"], key="k:d-2")

    async def main() -> tuple[Any, ...]:
        try:
            async with db.async_engine.connect() as connection:
                raw = (await connection.get_raw_connection()).driver_connection
                assert raw is not None
                batched = await ledger.customers_and_contacts_async(raw, list(synced), since)
                single = await ledger.customer_and_contacts_async(raw, "c-1", since)
                written = await ledger.record_decisions_async(raw, [_row("c-3", ["loan"])])
            assert db.async_sessions is not None
            async with db.async_sessions() as session:
                first = await ledger.record_decision_async(session, keyed, key)
                again = await ledger.record_decision_async(
                    session, {**keyed, "id": str(uuid.uuid4())}, key
                )
            return batched, single, written, first, again
        finally:
            await db.dispose_async()

    batched, single, written, first, again = asyncio.run(main())
    assert batched == synced
    assert single == synced["c-1"]
    assert again["id"] == first["id"] == keyed["id"]
    with db.read() as session:
        assert ledger.customer_and_contacts(session, "c-3", since).contacts[0].offer == "loan"
        assert ledger.stored_decision(session, written[0]["id"]) == written[0]
    db.dispose()


def test_every_built_in_event_type_is_declared_once_with_its_needs_payload_and_outcome() -> None:
    # issue 18: a new built-in type is one entry (event_types.py), not three places
    assert tuple(EVENT_TYPES) == BUILTIN_TYPES
    assert {n: t.payload for n, t in EVENT_TYPES.items()} == BUILTIN_PAYLOADS
    for name, kind in EVENT_TYPES.items():
        for needed in kind.needs:
            with pytest.raises(ValueError, match=f"a {name} event needs '{needed}'"):
                EventIn.model_validate({"type": name, "idempotency_key": "k", "offer_id": None,
                                        "value": None})  # fmt: skip
