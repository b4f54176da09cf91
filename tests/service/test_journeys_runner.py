"""Journeys run in the shell: the bank's mortgage journey moved by its three drivers (segment
entries and ticks, events, decision requests), on both databases; every transition in the
ledger, every enrollment rebuilt from its transitions, every step once."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from nextoffer.core.journeys import Enrollment, Transition, replay
from nextoffer.scenarios import bank_snapshot, mortgage_journey
from nextoffer.service.app import create_app
from nextoffer.service.config import Settings
from nextoffer.service.db import Database
from nextoffer.service.errors import Forbidden, InvalidInput
from nextoffer.service.journeys import repository
from nextoffer.service.journeys import service as journeys
from nextoffer.service.journeys.runner import Arrival, Runner
from nextoffer.service.keys.service import create_key
from nextoffer.service.ledger import service as ledger
from nextoffer.service.snapshots.cache import SnapshotCache
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish
from nextoffer.service.tables import customers, decisions, enrollments, journey_transitions

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _customer(i: int, **attributes: Any) -> dict[str, Any]:
    return {"id": f"c-{i}", "attributes": {"tier": "premium", "tenureMonths": 36,
            "hasCreditCard": False, "balance": 20000.0, **attributes},
            "holdings": ["checking"], "segments": [], "updated_at": T0}  # fmt: skip


@pytest.fixture
def bank(db: Database) -> Database:
    """The bank's catalog published, 40 stored customers (c-0 … c-39; the odd ones basic
    tier, out of the journey), and the mortgage journey published under four eyes."""
    with db.transaction() as session:
        load_spec(session, bank_snapshot())
        publish(session, "bank-1")
        session.execute(sa.insert(customers), [
            _customer(i, tier="premium" if i % 2 == 0 else "basic") for i in range(40)
        ])  # fmt: skip
        proposal = journeys.propose(session, "ann", mortgage_journey(), "the mortgage program")
        journeys.approve(session, "bob", proposal["id"], "looks right")
    return db


def _runner(db: Database) -> Runner:
    return Runner(db, SnapshotCache(db), None, clock=lambda: T0)


def _states(db: Database) -> dict[str, Enrollment]:
    with db.read() as session:
        rows = session.execute(sa.select(enrollments)).all()
    return {r.customer_id: Enrollment.from_dict(r.state) for r in rows}


def _transitions(db: Database) -> dict[str, list[Transition]]:
    with db.read() as session:
        rows = session.execute(sa.select(journey_transitions).order_by("seq")).all()
    out: dict[str, list[Transition]] = {}
    for r in rows:
        out.setdefault(r.customer_id, []).append(Transition.from_dict(r.record))
    return out


def _journey_decisions(db: Database) -> list[Any]:
    with db.read() as session:
        rows = session.execute(sa.select(decisions).order_by(decisions.c.seq)).all()
    return [r for r in rows if "journeys" in r.decision]


def test_a_proposal_is_published_by_someone_else_only(db: Database) -> None:
    with db.transaction() as session:
        load_spec(session, bank_snapshot())
        publish(session, "bank-1")
        proposal = journeys.propose(session, "ann", mortgage_journey())
        with pytest.raises(Forbidden, match="four eyes"):
            journeys.approve(session, "ann", proposal["id"])
        published = journeys.approve(session, "bob", proposal["id"])
        assert published == {"journey_id": "mortgage", "version": 1, "live": True,
                             "proposal": proposal["id"], "restored_from": None}  # fmt: skip
        again = journeys.propose(session, "ann", {**mortgage_journey(), "max_duration": "60d"})
        assert journeys.approve(session, "bob", again["id"])["version"] == 2
        restored = journeys.restore(session, "bob", "mortgage", 1, "back to 90 days")
        assert restored["version"] == 3
        shown = journeys.get_journey(session, "mortgage")
    assert shown["live_version"] == 3
    assert [v["source"] for v in shown["versions"]][2] == {"restored_from": 1}
    assert shown["definition"] == shown["versions"][0]["definition"]


def test_a_definition_that_does_not_fit_the_catalog_names_every_field(db: Database) -> None:
    with db.transaction() as session:
        load_spec(session, bank_snapshot())
        publish(session, "bank-1")
        broken = mortgage_journey()
        broken["steps"][0] = {**broken["steps"][0], "channel": "sms", "next": "nowhere"}
        with pytest.raises(InvalidInput) as caught:
            journeys.propose(session, "ann", broken)
    fields = {e["field"] for e in caught.value.errors}
    assert {"steps[0].channel", "steps[0].next"} <= fields
    with db.read() as session:
        assert journeys.list_proposals(session) == []  # nothing stored


def test_outbound_entries_decide_the_lead_at_once_and_wait_for_a_response(bank: Database) -> None:
    moved = _runner(bank).enter_segment("mortgage", now=T0)
    states = _states(bank)
    premium = {f"c-{i}" for i in range(0, 40, 2)}
    assert set(states) == premium  # the basic tier does not meet the entry condition
    assert moved.entered == len(premium)
    holdout = {c for c, e in states.items() if e.holdout}
    assert 0 < len(holdout) < len(premium) / 2
    made = _journey_decisions(bank)
    # one lead each, outside the holdout, marked with the journey, version and step
    assert sorted(r.customer_id for r in made) == sorted(premium - holdout)
    assert {
        (j["journey"], j["version"], j["step"]) for r in made for j in r.decision["journeys"]
    } == {("mortgage", 1, "lead")}
    shown = {r.customer_id for r in made if r.shown == ["mortgage-lead"]}
    for customer in premium - holdout:
        e = states[customer]
        assert (e.step, e.status) == (("wait_lead", "active") if customer in shown
                                      else ("lead", "active"))  # fmt: skip
    assert {e.status for c, e in states.items() if c in holdout} == {"holdout"}


def test_a_click_moves_the_customer_to_the_branch_and_the_branch_shows_the_appointment(
    bank: Database,
) -> None:
    runner = _runner(bank)
    runner.enter_segment("mortgage", now=T0)
    states = _states(bank)
    customer = next(c for c, e in sorted(states.items()) if e.step == "wait_lead")
    with bank.transaction() as session:
        runner.on_events(session, [Arrival(customer, "click", T0 + DAY, "mortgage-lead")])
    assert (_states(bank)[customer].step, _states(bank)[customer].phase) == (
        "appointment", "nominated")  # fmt: skip
    with bank.transaction() as session:
        assert runner.on_request(session, customer, "email", T0 + 2 * DAY) == ()
        [step] = runner.on_request(session, customer, "branch", T0 + 2 * DAY)
        assert (step.journey, step.step, step.offers, step.only) == (
            "mortgage", "appointment", ("mortgage-appointment",), False)  # fmt: skip
        runner.after_decision(session, customer, [step], "d-branch-1",
                              ["mortgage-appointment", "credit-card"], (), T0 + 2 * DAY)  # fmt: skip
    assert _states(bank)[customer].step == "follow_up"
    runner.tick(now=T0 + 40 * DAY)
    after = _states(bank)[customer]
    assert (after.status, after.exit_reason) == ("exited", "appointment_offered")


def test_non_responders_get_one_reminder_then_leave(bank: Database) -> None:
    runner = _runner(bank)
    runner.enter_segment("mortgage", now=T0)
    waiting = {c for c, e in _states(bank).items() if e.step == "wait_lead"}
    runner.tick(now=T0 + 8 * DAY)  # the week is up: the reminder goes out
    reminded = {c for c, e in _states(bank).items() if "reminder" in e.visited}
    assert reminded == waiting
    runner.tick(now=T0 + 16 * DAY)
    states = _states(bank)
    assert {states[c].exit_reason for c in waiting} == {"no_response"}
    leads = [r for r in _journey_decisions(bank) if r.customer_id in waiting]
    assert len(leads) == 2 * len(waiting)  # the lead and the one reminder, nothing more


def test_a_conversion_ends_the_journey_at_once_even_mid_wait(bank: Database) -> None:
    runner = _runner(bank)
    runner.enter_segment("mortgage", now=T0)
    customer = next(c for c, e in sorted(_states(bank).items()) if e.step == "wait_lead")
    with bank.transaction() as session:
        runner.on_events(session, [Arrival(customer, "convert", T0 + DAY, "mortgage", 1400.0)])
    after = _states(bank)[customer]
    assert (after.status, after.exit_reason) == ("exited", "converted")


def test_every_enrollment_is_rebuilt_exactly_from_its_transitions(bank: Database) -> None:
    runner = _runner(bank)
    runner.enter_segment("mortgage", now=T0)
    some = sorted(c for c, e in _states(bank).items() if e.step == "wait_lead")[:3]
    with bank.transaction() as session:
        runner.on_events(session, [Arrival(some[0], "click", T0 + DAY, "mortgage-lead"),
                                   Arrival(some[1], "decline", T0 + DAY, "mortgage-lead")])  # fmt: skip
    for days in (8, 16, 40, 95):
        runner.tick(now=T0 + days * DAY)
    states, transitions = _states(bank), _transitions(bank)
    assert set(states) == set(transitions)
    for customer, state in states.items():
        assert replay(transitions[customer]) == state
    with bank.read() as session:
        stored = {r.customer_id: r.transitions for r in session.execute(sa.select(enrollments))}
    assert stored == {c: len(t) for c, t in transitions.items()}


def test_a_tick_with_nothing_due_writes_nothing(bank: Database) -> None:
    runner = _runner(bank)
    runner.enter_segment("mortgage", now=T0)
    before = _transitions(bank)
    assert runner.tick(now=T0 + DAY).transitions == 0
    assert _transitions(bank) == before


# -- exactly once -------------------------------------------------------------------------

KILLED_MID_TICK = """
import datetime as dt, os, sys, time
from nextoffer.service.db import Database
from nextoffer.service.journeys import repository
from nextoffer.service.journeys.runner import Runner
from nextoffer.service.snapshots.cache import SnapshotCache

written = repository.insert_transitions

def stall(session, rows):  # every decision and transition made, nothing committed
    written(session, rows)
    session.flush()
    open(sys.argv[2], "w").write(str(len(rows)))
    time.sleep(600)

repository.insert_transitions = stall
db = Database(sys.argv[1])
now = dt.datetime.fromisoformat(sys.argv[3])
Runner(db, SnapshotCache(db), None, clock=lambda: now).tick(limit=10_000)
"""


def _reminded(bank: Database) -> list[str]:
    """The customers of every reminder decision, one entry per decision."""
    return [r.customer_id for r in _journey_decisions(bank)
            if r.decision["journeys"][0]["step"] == "reminder"]  # fmt: skip


def _due_reminders(bank: Database) -> set[str]:
    runner = _runner(bank)
    runner.enter_segment("mortgage", now=T0)
    return {c for c, e in _states(bank).items() if e.step == "wait_lead"}


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_concurrent_schedulers_run_every_due_step_once(bank: Database) -> None:
    waiting = _due_reminders(bank)
    at = T0 + 8 * DAY
    errors: list[BaseException] = []

    def scheduler() -> None:
        runner = _runner(bank)
        try:
            while runner.tick(limit=3, now=at).transitions:
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(_reminded(bank)) == sorted(waiting)  # one each, no more
    for customer in waiting:
        assert "reminder" in _states(bank)[customer].visited


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_scheduler_killed_mid_tick_leaves_every_step_to_run_once(
    bank: Database, database_url: str, tmp_path: Path
) -> None:
    waiting = _due_reminders(bank)
    before = _transitions(bank)
    leads = len(_journey_decisions(bank))
    at = T0 + 8 * DAY
    flag = tmp_path / "mid-tick"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_TICK, database_url, str(flag), at.isoformat()]
    )
    try:
        for _ in range(600):
            if flag.exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert flag.exists(), "the child never reached the middle of its tick"
        assert int(flag.read_text()) > 0
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert _transitions(bank) == before  # nothing of the killed tick survived
    moved = _runner(bank).tick(limit=10_000, now=at)
    assert moved.decisions == len(_journey_decisions(bank)) - leads
    assert sorted(_reminded(bank)) == sorted(waiting)
    states, transitions = _states(bank), _transitions(bank)
    for customer, state in states.items():
        assert replay(transitions[customer]) == state


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_scheduler_skips_the_customers_another_transaction_holds(bank: Database) -> None:
    with bank.transaction() as holder:
        repository.lock_customers(holder, ["c-1", "c-2"])
        with bank.transaction() as scheduler:
            assert repository.try_lock_customers(scheduler, ["c-1", "c-2", "c-3"]) == {"c-3"}
    with bank.transaction() as scheduler:  # released with the holder's commit
        assert repository.try_lock_customers(scheduler, ["c-1", "c-2"]) == {"c-1", "c-2"}


def test_an_enrollment_read_before_another_driver_moved_it_is_not_written(bank: Database) -> None:
    _runner(bank).enter_segment("mortgage", now=T0)
    with bank.read() as session:
        row = session.execute(sa.select(enrollments).limit(1)).one()
    values = {**row._asdict(), "status": "exited"}
    with bank.transaction() as session:
        stale = repository.write_enrollments(session, [], [(values, row.transitions - 1)])
        again = repository.write_enrollments(session, [dict(row._asdict())], [])
    assert (stale, again) == (False, False)
    assert _states(bank)[row.customer_id].status == row.status  # unchanged


# -- on the decision path and the events API ----------------------------------------------


@pytest.fixture
def app(bank: Database, database_url: str) -> Iterator[FastAPI]:
    """The API on the bank database, its clock two days after the journey's entries."""
    application = create_app(
        Settings(database_url=database_url, attach_refresh_seconds=0),
        clock=lambda: T0 + 2 * DAY,
    )
    with application.state.db.transaction() as session:
        application.state.key = create_key(session, "client", "journeys test")
    yield application
    if application.state.pipeline is not None:
        asyncio.run(application.state.pipeline.close())
        asyncio.run(application.state.db.dispose_async())
    application.state.db.dispose()


def _post(app: FastAPI, path: str, body: Any) -> httpx.Response:
    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {app.state.key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post(path, json=body, headers=headers)

    return asyncio.run(post())


def test_a_click_event_and_a_branch_visit_move_the_customer_through_the_api(
    bank: Database, app: FastAPI
) -> None:
    _runner(bank).enter_segment("mortgage", now=T0)
    customer = next(c for c, e in sorted(_states(bank).items()) if e.step == "wait_lead")
    [lead] = [r for r in _journey_decisions(bank) if r.customer_id == customer]
    click = {"type": "click", "customer_id": customer, "decision_id": lead.id,
             "offer_id": "mortgage-lead", "idempotency_key": f"click-{customer}"}  # fmt: skip
    assert _post(app, "/v1/events", click).status_code == 201
    assert _states(bank)[customer].step == "appointment"
    assert _post(app, "/v1/events", click).status_code == 200  # a retry moves nothing more
    assert _states(bank)[customer].step == "appointment"
    # the customer comes to the branch: the appointment is offered there, first
    answer = _post(app, "/v1/decisions", {"customer": {"id": customer}, "channel": "branch",
                                          "at": (T0 + 2 * DAY).isoformat()})  # fmt: skip
    assert answer.status_code == 200, answer.text
    decision = answer.json()
    assert decision["placements"][0]["offers"][0]["offer"] == "mortgage-appointment"
    assert decision["journeys"] == [{"journey": "mortgage", "version": 1, "step": "appointment",
                                     "offers": ["mortgage-appointment"], "only": False}]  # fmt: skip
    after = _states(bank)[customer]
    assert after.step == "follow_up"
    path = _transitions(bank)[customer]
    assert [t.decision_id for t in path if t.to_step == "follow_up"] == [decision["id"]]


def test_a_customer_outside_every_journey_is_decided_as_before(
    bank: Database, app: FastAPI
) -> None:
    answer = _post(app, "/v1/decisions", {"customer": {"id": "c-1"}, "channel": "branch",
                                          "at": (T0 + 2 * DAY).isoformat()})  # fmt: skip
    assert answer.status_code == 200
    assert "journeys" not in answer.json()
    assert _states(bank) == {}


def test_the_report_counts_the_goals_conversions_of_entrants_and_holdout(bank: Database) -> None:
    _runner(bank).enter_segment("mortgage", now=T0)
    states = _states(bank)
    treated = sorted(c for c, e in states.items() if not e.holdout)
    holdout = sorted(c for c, e in states.items() if e.holdout)
    with bank.transaction() as session:
        events = [{"type": "convert", "customer_id": c, "offer_id": "mortgage", "value": 900.0,
                   "idempotency_key": f"conv-{c}"} for c in [*treated[:3], holdout[0]]]  # fmt: skip
        # a conversion on another product is not the journey's goal
        events.append({"type": "convert", "customer_id": treated[4], "offer_id": "credit-card",
                       "value": 150.0, "idempotency_key": "conv-card"})  # fmt: skip
        ledger.ingest(session, {"events": events})
    with bank.read() as session:
        report = journeys.report(session, "mortgage")
    comparison = report["comparison"]
    assert comparison["offers"] == ["mortgage"]
    assert (comparison["treatment"]["customers"], comparison["treatment"]["conversions"]) == (
        len(treated), 3)  # fmt: skip
    assert (comparison["control"]["customers"], comparison["control"]["conversions"]) == (
        len(holdout), 1)  # fmt: skip
    assert comparison["insufficient_data"]  # a handful of customers per arm
    assert report["entered"] == len(treated)
    assert report["holdout"] == len(holdout)
    lead = next(s for s in report["steps"] if s["step"] == "lead")
    assert lead["entered"] == len(treated)


# -- entries: caps, channels, re-entry, versions -------------------------------------------


def _publish(db: Database, definition: dict[str, Any]) -> int:
    with db.transaction() as session:
        proposal = journeys.propose(session, "ann", definition, "a change")
        return journeys.approve(session, "bob", proposal["id"])["version"]


def test_the_daily_entry_cap_holds_across_calls(bank: Database) -> None:
    _publish(bank, {**mortgage_journey(), "caps": {"entries_per_day": 5}})
    runner = _runner(bank)
    assert runner.enter_segment("mortgage", now=T0).entered == 5
    assert runner.enter_segment("mortgage", now=T0 + dt.timedelta(hours=3)).entered == 0
    assert runner.enter_segment("mortgage", now=T0 + DAY).entered == 5  # a new day


def test_a_decision_request_on_a_listening_channel_enters_the_customer(bank: Database) -> None:
    runner = _runner(bank)
    with bank.transaction() as session:
        assert runner.on_request(session, "c-2", "email", T0) == ()  # email does not listen
    assert _states(bank) == {}
    with bank.transaction() as session:
        runner.on_request(session, "c-2", "in_app", T0)
        runner.on_request(session, "c-3", "in_app", T0)  # basic tier: does not qualify
    states = _states(bank)
    assert set(states) == {"c-2"}
    assert states["c-2"].step in ("wait_lead", "lead")  # the lead went out by e-mail at once


def test_customers_stay_on_their_version_and_new_entries_take_the_new_one(bank: Database) -> None:
    runner = _runner(bank)
    with bank.transaction() as session:
        runner.on_request(session, "c-2", "in_app", T0)
    assert _publish(bank, {**mortgage_journey(), "max_duration": "60d"}) == 2
    runner.book.forget()
    with bank.transaction() as session:
        runner.on_request(session, "c-4", "in_app", T0 + DAY)
    states = _states(bank)
    assert (states["c-2"].version, states["c-4"].version) == (1, 2)
    runner.tick(now=T0 + 8 * DAY)  # each moves on under its own version's definition
    assert {c: e.version for c, e in _states(bank).items()} == {"c-2": 1, "c-4": 2}


def test_a_customer_who_left_comes_back_after_the_reentry_wait(bank: Database) -> None:
    runner = _runner(bank)
    with bank.transaction() as session:
        runner.on_request(session, "c-2", "in_app", T0)
        runner.on_events(session, [Arrival("c-2", "decline", T0 + DAY, "mortgage-lead")])
    left = _states(bank)["c-2"]
    assert (left.status, left.exit_reason) == ("exited", "declined")
    with bank.transaction() as session:
        runner.on_request(session, "c-2", "in_app", T0 + 30 * DAY)  # the 90-day wait holds
    assert _states(bank)["c-2"].status == "exited"
    with bank.transaction() as session:
        runner.on_request(session, "c-2", "in_app", T0 + 92 * DAY)
    back = _states(bank)["c-2"]
    assert (back.status, back.entries) == ("active", 2)
    assert replay(_transitions(bank)["c-2"]) == back


def test_an_event_of_a_listening_type_enters_the_customer(bank: Database) -> None:
    definition = mortgage_journey()
    _publish(bank, {**definition, "entry": {**definition["entry"], "events": ["impression"]}})
    runner = _runner(bank)
    with bank.transaction() as session:
        runner.on_events(session, [Arrival("c-2", "click", T0, "credit-card"),
                                   Arrival("c-3", "impression", T0, "credit-card")])  # fmt: skip
    assert _states(bank) == {}  # a click does not open it; c-3 does not qualify
    with bank.transaction() as session:
        runner.on_events(session, [Arrival("c-2", "impression", T0, "credit-card")])
    assert set(_states(bank)) == {"c-2"}
