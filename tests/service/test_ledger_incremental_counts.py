"""Attach counts kept from a watermark on the ledger's sequence: always equal to a full
recount, and a refresh that fails half-way leaves the counts and the watermark as they were."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nextoffer.core.learning.attach import nominating_rules
from nextoffer.service.attach import repository, service
from nextoffer.service.db import Database
from nextoffer.service.ledger import service as ledger
from nextoffer.service.tables import catalog_items, decisions, events, ledger_watermarks

# few of each, so that the same showing comes back across batches
OFFERS = ("wine", "coffee")
RULES = ("r1", "r2", None)
CHANNELS = ("email", "", None)
_serial = itertools.count()
NOW = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)

# one ledger write: a decision (the offers it shows, each with its nominating rule or none),
# or an event (its type, the decision it names by position among this example's decisions,
# or none that exists; its offer, channel, whether it is attributed, and whether it records
# its decision's time and nominating rule, as the ledger writes it since revision 0017, or
# not, as an older row)
decision_op = st.tuples(
    st.just("decision"),
    st.lists(st.tuples(st.sampled_from(OFFERS), st.sampled_from(RULES)), max_size=3),
)
event_op = st.tuples(
    st.just("event"),
    st.sampled_from(("impression", "accept", "accept", "click")),
    st.one_of(st.integers(0, 3), st.integers(0, 3), st.none()),
    st.one_of(st.sampled_from(OFFERS), st.sampled_from(OFFERS), st.none()),
    st.sampled_from(CHANNELS),
    st.sampled_from((True, True, True, False)),
    st.booleans(),
)
# an event written again (a new key): the n-th event of the example so far, modulo their number
repeat_op = st.tuples(st.just("repeat"), st.integers(0, 20))
# batches of writes, each in its transaction, with or without a refresh after it
history = st.lists(
    st.tuples(
        st.lists(st.one_of(decision_op, event_op, event_op, repeat_op), max_size=10),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)


def _write(
    db: Database, ops: list[Any], ids: list[str], written: list[Any] | None = None,
    made: dict[str, tuple[Any, dict[str, Any]]] | None = None,
) -> None:  # fmt: skip
    written = [] if written is None else written
    made = {} if made is None else made  # decision id -> (its time, its document)
    with db.transaction() as session:
        for op in ops:
            if op[0] == "repeat":
                if not written:
                    continue
                op = written[op[1] % len(written)]
            if op[0] == "decision":
                decision_id = f"d-{uuid.uuid4().hex}"
                offers = [{"offer": o, "rules": [r] if r else []} for o, r in op[1]]
                document = {"placements": [{"offers": offers}]}
                at = session.execute(sa.insert(decisions).values(
                    id=decision_id, channel="email", snapshot_version="v1", control=False,
                    shown=[o for o, _ in op[1]], request={}, decision=document,
                ).returning(decisions.c.occurred_at)).scalar_one()  # fmt: skip
                ids.append(decision_id)
                made[decision_id] = (at, document)
                continue
            written.append(op)
            _, kind, which, offer, channel, attributed, *recorded = op
            # a position past this example's decisions: a decision that is not in the ledger
            named = None if which is None else (ids[which] if which < len(ids) else "d-none")
            decision_at = rule = None
            if recorded == [True] and named in made:
                decision_at, document = made[named]
                if attributed and offer is not None:
                    rule = nominating_rules(document).get(offer, "")
            key = f"e-{next(_serial)}-{uuid.uuid4().hex}"
            session.execute(sa.insert(events).values(
                id=key[:36], idempotency_key=key, type=kind, decision_id=named, offer_id=offer,
                channel=channel, payload={}, attributed=attributed, decision_at=decision_at,
                rule_id=rule,
            ))  # fmt: skip


def _watermark(db: Database) -> int:
    with db.transaction() as session:
        return int(
            session.execute(
                sa.select(ledger_watermarks.c.seq).where(
                    ledger_watermarks.c.name == repository.ATTACH_WATERMARK
                )
            ).scalar()
            or 0
        )


def _state(db: Database) -> tuple[dict[Any, list[int]], dict[Any, list[int]]]:
    with db.transaction() as session:
        return repository.stored_counts(session), repository.count_ledger(session)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=history)
def test_incremental_counts_always_equal_a_full_recount(db: Database, batches: Any) -> None:
    # the ledger is append-only: the examples add to one ledger, each with its own decisions
    ids: list[str] = []
    written: list[Any] = []
    made: dict[str, tuple[Any, dict[str, Any]]] = {}
    for ops, refresh in batches:
        _write(db, ops, ids, written, made)
        if refresh:
            done = db.run(service.refresh)
            stored, recounted = _state(db)
            assert stored == recounted
            assert done["pitches"] == len(recounted)
    db.run(service.refresh)
    stored, recounted = _state(db)
    assert stored == recounted
    with db.transaction() as session:
        newest = session.execute(sa.select(sa.func.max(events.c.seq))).scalar() or 0
    assert _watermark(db) == newest


def test_a_refresh_counts_only_the_events_after_its_watermark(db: Database) -> None:
    ids: list[str] = []
    _write(db, [("decision", [("wine", "r1")])], ids)
    _write(db, [("event", "impression", 0, "wine", "email", True)], ids)
    first = db.run(service.refresh)
    assert first["changed"]
    assert first["shown"] == 1
    again = db.run(service.refresh)  # nothing new: nothing counted, nothing changed
    assert (again["changed"], again["shown"], again["counted_up_to"]) == (
        False, 1, first["counted_up_to"],
    )  # fmt: skip
    # a second impression of the same showing adds nothing; an accept adds one
    _write(db, [("event", "impression", 0, "wine", "email", True),
                ("event", "accept", 0, "wine", "email", True)], ids)  # fmt: skip
    third = db.run(service.refresh)
    assert (third["shown"], third["accepted"]) == (1, 1)
    with db.transaction() as session:
        assert repository.stored_counts(session) == {("wine", "r1", "email"): [1, 1]}
        assert repository.count_new(session, third["counted_up_to"], third["counted_up_to"]) == {}


def test_a_refresh_that_fails_half_way_leaves_counts_and_watermark_as_they_were(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids: list[str] = []
    _write(db, [("decision", [("wine", None), ("coffee", "r2")])], ids)
    _write(db, [("event", "impression", 0, "wine", "app", True)], ids)
    db.run(service.refresh)
    before, mark = _state(db)[0], _watermark(db)
    _write(db, [("event", "accept", 0, "coffee", "app", True)], ids)

    def killed(*args: Any, **kwargs: Any) -> None:  # after the counts were written
        raise RuntimeError("killed mid-refresh")

    monkeypatch.setattr(service.snapshots, "publish_attach_counts", killed)
    with pytest.raises(RuntimeError, match="killed mid-refresh"):
        db.run(service.refresh)
    assert (_state(db)[0], _watermark(db)) == (before, mark)
    monkeypatch.undo()
    db.run(service.refresh)
    stored, recounted = _state(db)
    assert stored == recounted == {("wine", "", "app"): [1, 0], ("coffee", "r2", "app"): [1, 1]}


def test_an_event_records_its_decisions_time_and_the_rule_that_nominated_its_offer(
    db: Database,
) -> None:
    ids: list[str] = []
    _write(db, [("decision", [("port", None), ("espresso", "r2")])], ids)
    with db.read() as session:
        decided_at = session.execute(
            sa.select(decisions.c.occurred_at).where(decisions.c.id == ids[0])
        ).scalar_one()
    sent = [
        {"idempotency_key": "rec-1", "type": "impression", "decision_id": ids[0], "offer_id": "espresso"},
        {"idempotency_key": "rec-2", "type": "accept", "decision_id": ids[0], "offer_id": "port"},
        # a decision that did not show the offer: not attributed, no rule
        {"idempotency_key": "rec-3", "type": "accept", "decision_id": ids[0], "offer_id": "chai"},
        {"idempotency_key": "rec-4", "type": "convert", "decision_id": ids[0], "value": 5.0},
        {"idempotency_key": "rec-5", "type": "convert", "decision_id": "d-none", "value": 5.0},
        {"idempotency_key": "rec-6", "type": "convert", "customer_id": "c-1", "value": 5.0},
    ]  # fmt: skip
    with db.transaction() as session:
        session.execute(sa.insert(catalog_items).values(
            id="chai", kind="offer", body={}, updated_at=NOW))  # fmt: skip
        ledger.ingest(session, sent)
    with db.read() as session:
        rows = session.execute(
            sa.select(events.c.idempotency_key, events.c.attributed, events.c.decision_at,
                      events.c.rule_id)
            .where(events.c.idempotency_key.like(":rec-%")).order_by(events.c.seq)
        ).all()  # fmt: skip
    assert [(key.split(":")[-1], *rest) for key, *rest in rows] == [
        ("rec-1", True, decided_at, "r2"),
        ("rec-2", True, decided_at, ""),  # shown with no rule listed
        ("rec-3", False, decided_at, None),
        ("rec-4", True, decided_at, None),  # about no offer
        ("rec-5", False, None, None),  # names no decision in the ledger
        ("rec-6", True, None, None),  # names no decision
    ]
    # the refresh counts the pitches from what the events recorded, as a full recount does
    db.run(service.refresh)
    stored, recounted = _state(db)
    assert stored == recounted
    assert (stored[("espresso", "r2", "")], stored[("port", "", "")]) == ([1, 0], [1, 1])
