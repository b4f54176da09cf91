"""Strategy experiments in the service, on both databases: two approvers starting two
experiments on one channel at once (one runs, the other is refused), every action in the
audit log, self-approval when an admin allowed it, and the arms compiled ahead of time
(a new live snapshot gets its arms at the next refresh, never in a request)."""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from nextoffer.scenarios import bank_snapshot
from nextoffer.service.catalog import service as catalog
from nextoffer.service.db import Database
from nextoffer.service.errors import Conflict, Forbidden, InvalidInput
from nextoffer.service.rules.service import set_self_approval
from nextoffer.service.snapshots import service as snapshots
from nextoffer.service.snapshots.cache import SnapshotCache
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.strategy_experiments import service
from nextoffer.service.strategy_experiments.arms import ArmCache
from nextoffer.service.tables import audit

NO_UPLIFT = {"strategy": "prie", "weights": {"propensity": 0.4, "relevance": 0.1, "impact": 0.3,
                                             "emphasis": 0.2, "uplift": 0.0}}  # fmt: skip


def definition(experiment: str, channel: str = "email") -> dict[str, Any]:
    return {"id": experiment, "channels": [channel],
            "arms": [{"name": "champion", "share": 0.5, "snapshot": "live"},
                     {"name": "no-uplift", "share": 0.5,
                      "strategy": {"scoring": copy.deepcopy(NO_UPLIFT)}}]}  # fmt: skip


@pytest.fixture
def bank(db: Database) -> Database:
    with db.transaction() as session:
        load_spec(session, bank_snapshot())
        snapshots.publish(session, "bank-1")
    return db


def test_two_starts_on_one_channel_at_once_run_one_experiment(bank: Database) -> None:
    with bank.transaction() as session:
        service.propose(session, "ann", definition("first"))
        service.propose(session, "ann", definition("second"))
    outcomes: dict[str, str] = {}
    go = threading.Barrier(2)

    def start(experiment: str) -> None:
        go.wait()
        try:
            bank.run(service.start, "bob", experiment)
            outcomes[experiment] = "running"
        except Conflict as exc:
            outcomes[experiment] = exc.message

    threads = [threading.Thread(target=start, args=(e,)) for e in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values())[1] == "running"
    refused = sorted(outcomes.values())[0]
    assert "runs on email already" in refused
    with bank.read() as session:
        assert [x["id"] for x in service.list_experiments(session, "running")] != []
        assert len(service.list_experiments(session, "running")) == 1


def test_every_action_is_audited_and_self_approval_lifts_four_eyes(bank: Database) -> None:
    with bank.transaction() as session:
        service.propose(session, "ann", definition("audited"), "why not")
        with pytest.raises(Forbidden):
            service.start(session, "ann", "audited")
    with bank.transaction() as session:
        set_self_approval(session, "admin", True)
        service.start(session, "ann", "audited", "a one-person install")
        service.stop(session, "ann", "audited", "enough")
        done = service.promote(session, "ann", "audited", "no-uplift", "it won")
    assert done["status"] == "promoted"
    with bank.read() as session:
        rows = session.execute(
            sa.select(audit.c.action, audit.c.actor, audit.c.details)
            .where(audit.c.subject == "audited")
            .order_by(audit.c.seq)
        ).all()
    assert [(r.action, r.actor) for r in rows] == [
        ("experiment_propose", "ann"), ("experiment_start", "ann"), ("experiment_stop", "ann"),
        ("experiment_promote", "ann"),
    ]  # fmt: skip
    assert rows[-1].details == {"arm": "no-uplift", "version": done["promoted_version"],
                                "reason": "it won"}  # fmt: skip


def test_the_arms_follow_the_live_snapshot_at_the_next_refresh(bank: Database) -> None:
    with bank.transaction() as session:
        service.propose(session, "ann", definition("follows"))
        service.start(session, "bob", "follows")
    cache = SnapshotCache(bank, poll=0.0)
    arms = ArmCache(bank, cache)
    compiled = arms.refresh()
    assert compiled.live == "bank-1"
    running = compiled.by_channel["email"]
    assert running.snapshots["champion"] is cache.get()
    assert running.snapshots["no-uplift"].channels["email"].scoring.weights.uplift == 0.0
    assert arms.refresh() is compiled  # nothing changed: nothing compiled again
    with bank.transaction() as session:
        snapshots.publish(session, "bank-2")
    live = cache.get(check=True)
    # before the refresh: the compiled arms are the old snapshot's; the request is decided
    # by the live snapshot, outside the experiment
    assert arms.choose(live, "email", "somebody") == (live, None)
    arms.refresh()
    chosen, arm = arms.choose(live, "email", "c-1")
    assert arm is not None
    assert chosen.version == "bank-2"
    with bank.transaction() as session:
        service.stop(session, "bob", "follows")
    assert arms.refresh().by_channel == {}


def test_promoting_a_snapshot_arm_publishes_its_catalog_with_the_live_rules(
    bank: Database,
) -> None:
    with bank.transaction() as session:  # bank-2: the credit card's priority raised
        card = catalog.get_item(session, "offer", "credit-card")
        assert card is not None
        catalog.put_item(session, "offer", "credit-card", {**card, "priority": 90})
        snapshots.publish(session, "bank-2")
        spec = {"id": "back-to-1", "channels": ["email"],
                "arms": [{"name": "champion", "share": 0.5, "snapshot": "live"},
                         {"name": "first", "share": 0.5, "snapshot": "bank-1"}]}  # fmt: skip
        service.propose(session, "ann", spec)
        service.start(session, "bob", "back-to-1")
        done = service.promote(session, "bob", "back-to-1", "first", "the old priority sold more")
        live = snapshots.live_spec(session)
        assert live is not None
        first = snapshots.stored_spec(session, "bank-1")
        assert first is not None
        in_catalog = catalog.get_item(session, "offer", "credit-card")
    assert live["version"] == done["promoted_version"]
    assert live["offers"] == first["offers"]
    assert live["holdout"] == first["holdout"]  # the live holdout (the same here)
    assert in_catalog is not None
    assert in_catalog.get("priority", 50) == next(o for o in first["offers"]
                                                  if o["id"] == "credit-card").get("priority", 50)  # fmt: skip
    with bank.transaction() as session:  # the next catalog publish keeps the promoted catalog
        again = snapshots.publish(session)
        assert "offers" not in again["took_live"]


def test_an_arm_that_no_longer_builds_is_left_out_and_its_customers_get_the_live_snapshot(
    bank: Database, caplog: pytest.LogCaptureFixture
) -> None:
    spec = {"id": "old-catalog", "channels": ["email"],
            "arms": [{"name": "champion", "share": 0.5, "snapshot": "live"},
                     {"name": "first", "share": 0.5, "snapshot": "bank-1"}]}  # fmt: skip
    with bank.transaction() as session:
        service.propose(session, "ann", spec)
        service.start(session, "bob", "old-catalog")
    cache = SnapshotCache(bank, poll=0.0)
    arms = ArmCache(bank, cache)
    assert set(arms.refresh().by_channel) == {"email"}
    with bank.transaction() as session:  # a holdout fallback that bank-1 does not have
        catalog.put_item(session, "offer", "thank-you",
                         {"id": "thank-you", "kind": "action", "value": 1.0})  # fmt: skip
        settings = catalog.get_item(session, "settings", "default")
        assert settings is not None
        holdout = {**settings["holdout"], "fallback_offer": "thank-you"}
        catalog.put_item(session, "settings", "default", {**settings, "holdout": holdout})
        snapshots.publish(session, "bank-2")
    live = cache.get(check=True)
    assert arms.refresh().by_channel == {}  # left out: its snapshot arm no longer builds
    assert "old-catalog" in caplog.text
    assert arms.choose(live, "email", "c-1") == (live, None)
    # and a new one like it is refused, naming the arm
    with bank.transaction() as session, pytest.raises(InvalidInput) as refused:
        service.propose(session, "ann", {**spec, "id": "old-catalog-2"})
    assert refused.value.errors[0]["field"] == "arms.1"
    assert "thank-you" in refused.value.errors[0]["message"]
