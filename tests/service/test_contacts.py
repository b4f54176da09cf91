"""The decision path reads a customer's contacts, not every decision they had: the decisions
that showed nothing (most of them once the caps bite) stay out of the read, through a
partial index, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from nextoffer.service.db import Database
from nextoffer.service.ledger import repository
from nextoffer.service.ledger.repository import insert_decisions
from nextoffer.service.ledger.service import customers_and_contacts, history_of, ingest
from nextoffer.service.tables import catalog_items
from nextoffer.testing.postgres import owner_url


def _row(shown: list[str], *, control: bool = False) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "idempotency_key": None, "customer_id": "c-1",
            "session_id": "s", "channel": "email", "snapshot_version": "v1", "control": control,
            "experiment": "x" if control else None, "shown": shown, "request": {},
            "decision": {"placements": {}}, "trace": None, "features": None}  # fmt: skip


def test_only_decisions_that_showed_something_outside_a_control_group_are_contacts(
    db: Database,
) -> None:
    with db.transaction() as session:
        insert_decisions(session, [_row([]) for _ in range(30)])
        insert_decisions(session, [_row(["credit-card", "savings-account"]), _row(["loan"])])
        insert_decisions(session, [_row(["fallback"], control=True), _row([], control=True)])
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with db.read() as session:
        _customer, contacts = customers_and_contacts(session, ["c-1"], since)["c-1"]
        history = history_of(session, "c-1", since)
    assert sorted(c.offer for c in contacts) == ["credit-card", "loan", "savings-account"]
    assert {c.outcome for c in contacts} == {"shown"}
    # people see every decision, the empty and the control ones too
    assert len([h for h in history if h["kind"] == "decision"]) == 34


def test_the_contacts_read_goes_through_the_partial_index(db: Database) -> None:
    with db.transaction() as session:
        insert_decisions(session, [_row(["loan"] if i % 10 == 0 else []) for i in range(200)])
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            compiled = repository._CUSTOMER_STATES.params(
                customer_ids=["c-1"], since=since
            ).compile(dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True})
            params = tuple(compiled.params[name] for name in compiled.positiontup or ())
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)
            )
        else:
            owner = Database(owner_url(db.url))  # ANALYZE is the owner's (autovacuum's)
            with owner.engine.begin() as analyzing:
                analyzing.exec_driver_sql("ANALYZE decisions")
            owner.dispose()
            conn.exec_driver_sql("SET enable_seqscan = off")  # as on the decision path
            sql = repository._CUSTOMER_STATES_PG
            plan = " ".join(
                row[0]
                for row in conn.exec_driver_sql(
                    f"EXPLAIN {sql}", {"customer_ids": ["c-1"], "since": since}
                )
            )
            # the ledger is partitioned (revision 0014): each partition has its own copy of
            # the partial index, under a name PostgreSQL gives it
            copies = (
                conn.exec_driver_sql(
                    "SELECT inhrelid::regclass::text FROM pg_inherits "
                    "WHERE inhparent = 'ix_decisions_contacts'::regclass"
                )
                .scalars()
                .all()
            )
            assert copies
            assert all(name in plan for name in copies), (copies, plan)
    if db.engine.dialect.name == "sqlite":
        assert "ix_decisions_contacts" in plan, plan
    assert "SCAN decisions" not in plan, plan
    assert "Seq Scan on decisions" not in plan, plan


def test_unattributed_outcomes_are_not_in_the_contacts_the_decision_path_reads(
    db: Database,
) -> None:
    # issue 17: an outcome that names no decision that showed its offer is "never counted":
    # forged declines do not trigger a customer's decline back-off or session guardrail
    shown = _row(["loan"])
    with db.transaction() as session:
        session.execute(sa.insert(catalog_items), {"kind": "offer", "id": "loan",
                        "body": {"id": "loan"}, "updated_at": dt.datetime(2026, 3, 8, tzinfo=dt.UTC)})  # fmt: skip
        insert_decisions(session, [shown])
        ingest(session, {"events": [
            {"type": "decline", "customer_id": "c-1", "offer_id": "loan", "session_id": "s",
             "decision_id": shown["id"], "idempotency_key": "real"},
            {"type": "decline", "customer_id": "c-1", "offer_id": "loan", "session_id": "s",
             "idempotency_key": "forged-1"},  # names no decision
            {"type": "decline", "customer_id": "c-1", "offer_id": "loan", "session_id": "s",
             "decision_id": str(uuid.uuid4()), "idempotency_key": "forged-2"},  # no such one
        ]}, client="k")  # fmt: skip
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with db.read() as session:
        _customer, contacts = customers_and_contacts(session, ["c-1"], since)["c-1"]
        history = history_of(session, "c-1", since)
    assert sorted(c.outcome for c in contacts) == ["declined", "shown"]  # the real one only
    # people see every event, the unattributed ones too
    assert len([h for h in history if h["kind"] == "event"]) == 3
