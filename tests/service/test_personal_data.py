"""Personal data lives apart, is erased after retention or on request, and the ledger stays whole."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from nextoffer.service.customers import service as customers
from nextoffer.service.customers.schemas import PersonalDataIn
from nextoffer.service.db import Database
from nextoffer.service.ledger import service as ledger
from nextoffer.service.tables import erasures, events, personal_data


def test_sweeper_erases_what_is_due_and_records_it(db: Database) -> None:
    with db.transaction() as s:
        old = customers.put_personal(
            s, "old", PersonalDataIn(name="Old", email="old@example.com"), retention_days=30
        )
        new = customers.put_personal(s, "new", PersonalDataIn(name="New"), retention_days=30)
        ledger.ingest(
            s, {"type": "convert", "customer_id": "old", "value": 1.0, "idempotency_key": "k1"}
        )
    # the sweeps' times come from what was stored (30 days after the writes), not the clock
    due = [dt.datetime.fromisoformat(p["erase_after"]) for p in (old, new)]
    with db.transaction() as s:
        assert customers.sweep(s, now=min(due) - dt.timedelta(days=20)) == 0
        assert customers.sweep(s, now=max(due) + dt.timedelta(days=1)) == 2
    with db.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(personal_data)).scalar_one() == 0
        reasons = s.execute(sa.select(erasures.c.customer_id, erasures.c.reason)).all()
        assert sorted(reasons) == [("new", "retention"), ("old", "retention")]
        # the ledger never held personal data, and keeps its row
        row = s.execute(sa.select(events)).one()
        assert row.customer_id == "old"
        assert "Old" not in str(row._asdict())


def test_erasure_on_request(db: Database) -> None:
    with db.transaction() as s:
        customers.put_personal(s, "c-1", PersonalDataIn(phone="+1 555 0100"), retention_days=365)
    with db.transaction() as s:
        customers.erase(s, "c-1", "request")
    with db.read() as s:
        assert s.execute(sa.select(erasures.c.reason)).scalar_one() == "request"
