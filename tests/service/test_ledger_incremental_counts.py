"""Attach counts kept from a watermark on the ledger's sequence: always equal to a full
recount, and a refresh that fails half-way leaves the counts and the watermark as they were."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nextoffer.service.attach import repository, service
from nextoffer.service.db import Database
from nextoffer.service.tables import decisions, events, ledger_watermarks

# few of each, so that the same showing comes back across batches
OFFERS = ("wine", "coffee")
RULES = ("r1", "r2", None)
CHANNELS = ("email", "", None)
_serial = itertools.count()

# one ledger write: a decision (the offers it shows, each with its nominating rule or none),
# or an event (its type, the decision it names by position among this example's decisions,
# or none that exists; its offer, channel, and whether it is attributed)
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


def _write(db: Database, ops: list[Any], ids: list[str], written: list[Any] | None = None) -> None:
    written = [] if written is None else written
    with db.transaction() as session:
        for op in ops:
            if op[0] == "repeat":
                if not written:
                    continue
                op = written[op[1] % len(written)]
            if op[0] == "decision":
                decision_id = f"d-{uuid.uuid4().hex}"
                offers = [{"offer": o, "rules": [r] if r else []} for o, r in op[1]]
                session.execute(sa.insert(decisions).values(
                    id=decision_id, channel="email", snapshot_version="v1", control=False,
                    shown=[o for o, _ in op[1]], request={},
                    decision={"placements": [{"offers": offers}]},
                ))  # fmt: skip
                ids.append(decision_id)
                continue
            written.append(op)
            _, kind, which, offer, channel, attributed = op
            # a position past this example's decisions: a decision that is not in the ledger
            named = None if which is None else (ids[which] if which < len(ids) else "d-none")
            key = f"e-{next(_serial)}-{uuid.uuid4().hex}"
            session.execute(sa.insert(events).values(
                id=key[:36], idempotency_key=key, type=kind, decision_id=named, offer_id=offer,
                channel=channel, payload={}, attributed=attributed,
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
    for ops, refresh in batches:
        _write(db, ops, ids, written)
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
