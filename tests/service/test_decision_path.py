"""The decision path runs no model and writes no estimate: a customer the live uplift models
have not scored gets the offer's average τ, and is scored afterwards by ``ScoreAhead`` (the
server's background process, following the ledger) for their next decision. In process (the app over ASGI), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from nextoffer.core.decision import CustomerState, decide
from nextoffer.core.learning.features import FeatureEncoder
from nextoffer.core.learning.uplift import TLearner
from nextoffer.core.request import Request
from nextoffer.jobs import uplift as uplift_jobs
from nextoffer.jobs.uplift import UpliftModel
from nextoffer.scenarios.demo import bank_customers, demo_snapshot
from nextoffer.service.app import create_app
from nextoffer.service.config import Settings
from nextoffer.service.decisions import service as decisions
from nextoffer.service.keys.service import create_key
from nextoffer.service.migrate import upgrade
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish
from nextoffer.service.tables import cate_estimates
from nextoffer.service.tables import decisions as decisions_table
from nextoffer.service.uplift import repository
from nextoffer.service.uplift.estimates import (
    ScoreAhead,
    feature_columns,
    feature_row,
    scored,
)

OFFER = "savings-account"
AVERAGE = -0.04  # the offer's average τ under the live model
OWN = 0.09  # a scored customer's own
T0 = dt.datetime(2026, 3, 8, 14, 30, tzinfo=dt.UTC)


class RaisingLearner(TLearner):
    """A fitted-looking learner that fails the test if anything asks it for a prediction."""

    replicas_: ClassVar[list[Any]] = []

    def predict(self, X: Any) -> Any:
        raise AssertionError("the decision path ran the model")

    def predict_control(self, X: Any) -> Any:
        raise AssertionError("the decision path ran the model")

    def predict_interval(self, X: Any, confidence: float = 0.95) -> Any:
        raise AssertionError("the decision path ran the model")


class ConstantLearner(TLearner):
    """A fitted learner that says every customer is persuaded by ``OWN`` (base rate 0.2)."""

    replicas_: ClassVar[list[Any]] = []

    def predict(self, X: Any) -> Any:
        return np.full(len(X), OWN)

    def predict_control(self, X: Any) -> Any:
        return np.full(len(X), 0.2)


@pytest.fixture(autouse=True)
def trusted_test_learners(monkeypatch: pytest.MonkeyPatch) -> None:
    """The learners above are this module's: loading a stored model trusts them too (it
    refuses every type not in ``TRUSTED``)."""
    names = tuple(f"{c.__module__}.{c.__qualname__}" for c in (RaisingLearner, ConstantLearner))
    monkeypatch.setattr(uplift_jobs, "TRUSTED", uplift_jobs.TRUSTED + names)


def _model(learner: TLearner) -> UpliftModel:
    rows = [feature_row(c) for c in bank_customers(random.Random(5), 50)]
    encoder = FeatureEncoder.fit(feature_columns(rows))
    return UpliftModel(encoder=encoder, learner=learner, method="t-learner",
                       outcome="conversion", report={"mean_tau": AVERAGE})  # fmt: skip


@pytest.fixture
def app(database_url: str, request: pytest.FixtureRequest) -> Iterator[FastAPI]:
    """The demo's snapshot, published; ``request.param`` (indirect parametrisation), if
    given, is the in-app channel's exploration."""
    settings = Settings(
        database_url=database_url, attach_refresh_seconds=0, clock_tolerance_seconds=1e12
    )  # requests at the suite's fixed instants
    application = create_app(settings)
    db = application.state.db
    upgrade(db)
    data = demo_snapshot()
    for channel in data["channels"]:
        if channel["id"] == "in_app" and getattr(request, "param", None) is not None:
            channel["exploration"] = request.param
    with db.transaction() as session:
        load_spec(session, data)
        publish(session, "demo-1")
        application.state.key = create_key(session, "client", "decision path test")
    yield application
    if application.state.pipeline is not None:
        asyncio.run(application.state.pipeline.close())
        asyncio.run(db.dispose_async())
    db.dispose()


def _live(app: FastAPI, model: UpliftModel) -> None:
    with app.state.db.transaction() as session:
        repository.store_model(session, {
            "version": f"{OFFER}@test", "offer_id": OFFER, "method": model.method,
            "outcome": model.outcome, "treated": 100, "control": 100, "report": model.report,
            "model": model.dumps(), "trained_at": T0,
        })  # fmt: skip
    app.state.models.live(check=True)


def _decide(app: FastAPI, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    async def post() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {app.state.key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return [await client.post("/v1/decisions", json=b, headers=headers) for b in bodies]

    return asyncio.run(post())


def _uplift(app: FastAPI, customer_id: str) -> dict[str, Any]:
    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {app.state.key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(f"/v1/customers/{customer_id}/uplift", headers=headers)

    r = asyncio.run(get())
    assert r.status_code == 200, r.text
    return {o["offer"]: o for o in r.json()["offers"]}


def _tau(decision: dict[str, Any]) -> float | None:
    shown = decision["placements" if not decision["control"] else "counterfactual"]
    taus = [s["tau"] for p in shown for s in p["offers"] if s["offer"] == OFFER]
    assert taus, decision
    return taus[0]


def _estimates(app: FastAPI) -> list[Any]:
    with app.state.db.read() as session:
        return list(session.execute(sa.select(cate_estimates)))


NEW = {"customer": {"id": "never-seen-1", "attributes": {"tier": "gold", "tenureMonths": 12,
       "hasCreditCard": True, "balance": 900.0}, "holdings": ["checking"]},
       "channel": "in_app"}  # fmt: skip


def _ahead(app: FastAPI, **kwargs: Any) -> ScoreAhead:
    """The background process's scorer, over the app's database and live models."""
    return ScoreAhead(app.state.db, app.state.models, **kwargs)


def _features(app: FastAPI, customer_id: str) -> list[Any]:
    with app.state.db.read() as session:
        query = sa.select(decisions_table.c.features).where(
            decisions_table.c.customer_id == customer_id
        )
        return list(session.execute(query).scalars())


def test_a_never_seen_customer_is_decided_without_a_model_call_or_an_estimate_write(
    app: FastAPI,
) -> None:
    _live(app, _model(RaisingLearner()))  # its predict fails the test
    (r,) = _decide(app, [NEW])
    assert r.status_code == 200, r.text
    assert _tau(r.json()) == pytest.approx(AVERAGE)  # the offer's average τ
    assert _estimates(app) == []  # nothing written by the request
    # what the background scorer reads: the customer as the engine saw them, in the ledger
    (features,) = _features(app, "never-seen-1")
    assert features["attributes"]["tier"] == "gold"
    assert features["holdings"] == ["checking"]


def test_a_customer_scored_ahead_gets_their_own_tau_afterwards(app: FastAPI) -> None:
    _live(app, _model(ConstantLearner()))
    ahead = _ahead(app)
    assert ahead.run() == 0  # nothing decided yet
    (first,) = _decide(app, [{**NEW, "channel": "email"}])  # two contacts of the four a month
    assert first.status_code == 200, first.text
    assert _tau(first.json()) == pytest.approx(AVERAGE)
    assert _estimates(app) == []
    assert _uplift(app, "never-seen-1")[OFFER]["scored"] is False
    assert ahead.run() == 1  # what the server's background process does
    (row,) = _estimates(app)
    assert (row.customer_id, row.offer_id, row.model_version) == ("never-seen-1", OFFER,
                                                                 f"{OFFER}@test")  # fmt: skip
    assert row.tau == pytest.approx(OWN)  # their own, not the average
    # what the next decision's engine reads (the same read as the decision path)
    assert _uplift(app, "never-seen-1")[OFFER] == {"offer": OFFER, "tau": row.tau,
                                                  "segment": row.segment, "scored": True}  # fmt: skip
    (second,) = _decide(app, [NEW])
    assert second.status_code == 200, second.text
    assert _tau(second.json()) == pytest.approx(row.tau)  # the engine used their own
    assert ahead.run() == 0  # scored: the second decision needs nothing


def test_scoring_ahead_never_overwrites_a_stored_estimate(app: FastAPI) -> None:
    _live(app, _model(ConstantLearner()))
    _decide(app, [NEW])
    with app.state.db.transaction() as session:  # e.g. a bulk scoring meanwhile
        repository.upsert_estimates(session, [{
            "customer_id": "never-seen-1", "offer_id": OFFER, "tau": 0.3, "lower": None,
            "upper": None, "base_rate": 0.1, "segment": "persuadable",
            "model_version": "bulk", "scored_at": T0,
        }])  # fmt: skip
    _ahead(app).run()
    (row,) = _estimates(app)
    assert (row.tau, row.model_version) == (0.3, "bulk")


@pytest.mark.parametrize("app", [{"kind": "thompson", "draws": 400}], indirect=True)
def test_thompson_sampling_draws_tau_from_the_stored_interval(app: FastAPI) -> None:
    """A stored τ's 95% interval reaches the engine: the decision is the one the core makes
    with that interval in the customer's state (replayed with the decision's id as seed),
    and not the one it makes with the point estimate alone."""
    _live(app, _model(ConstantLearner()))
    with app.state.db.transaction() as session:
        repository.upsert_estimates(session, [{
            "customer_id": "never-seen-1", "offer_id": OFFER, "tau": 0.3, "lower": -0.5,
            "upper": 1.7, "base_rate": 0.1, "segment": "persuadable",  # upper clipped to 1
            "model_version": "bulk", "scored_at": T0,
        }])  # fmt: skip
    customer = {
        "id": "never-seen-1",
        "holdings": ["checking"],
        "attributes": {
            "tier": "premium",
            "tenureMonths": 36,
            "hasCreditCard": False,
            "balance": 900.0,
        },
    }
    body = {**NEW, "customer": customer, "at": T0.isoformat()}  # the credit card qualifies too
    (r,) = _decide(app, [body])
    assert r.status_code == 200, r.text
    decision = r.json()
    assert not decision["control"]  # this customer is outside the bank's holdout
    (slot, *_) = decision["exploration"]["slots"]
    assert len(slot["candidates"]) > 1  # a choice to make
    snapshot = app.state.snapshots.get()
    request = Request.model_validate(body)

    def replay(**estimates: Any) -> dict[str, Any]:
        state = CustomerState(id=customer["id"], attributes=customer["attributes"],
                              holdings=tuple(customer["holdings"]), cate={OFFER: 0.3},
                              uplift_segments={OFFER: "persuadable"}, **estimates)  # fmt: skip
        again = decide(snapshot, request, state, contacts_at=T0, seed=decision["id"])
        assert again.exploration is not None
        return again.exploration.to_dict()

    assert replay(cate_intervals={OFFER: (-0.5, 1.0)}) == decision["exploration"]
    assert replay() != decision["exploration"]  # without the interval: a point τ


def test_scoring_ahead_follows_the_ledger_in_batches_from_where_it_stopped(
    app: FastAPI,
) -> None:
    _live(app, _model(ConstantLearner()))
    bodies = [{**NEW, "customer": {**NEW["customer"], "id": f"new-{i}"}} for i in range(5)]
    assert all(r.status_code == 200 for r in _decide(app, bodies[:3]))
    ahead = _ahead(app, batch=2)
    assert ahead.run() == 2
    assert ahead.behind
    assert ahead.run() == 1
    assert not ahead.behind
    assert _decide(app, bodies[3:])[0].status_code == 200
    assert ahead.run() == 2  # only what was decided since
    assert sorted(r.customer_id for r in _estimates(app)) == [f"new-{i}" for i in range(5)]


def test_scoring_ahead_starts_a_backlog_of_decisions_before_the_newest(app: FastAPI) -> None:
    _live(app, _model(ConstantLearner()))
    bodies = [{**NEW, "customer": {**NEW["customer"], "id": f"new-{i}"}} for i in range(4)]
    assert all(r.status_code == 200 for r in _decide(app, bodies))
    assert _ahead(app, backlog=3).run() == 3  # a process started now reads the last three
    assert "new-0" not in {r.customer_id for r in _estimates(app)}
    assert _decide(app, bodies[:1])[0].status_code == 200  # new-0's next decision
    assert _ahead(app, backlog=1).run() == 1  # scores them


def test_a_customer_whose_features_cannot_be_scored_is_left_out_of_the_batch(
    app: FastAPI,
) -> None:
    model = _model(ConstantLearner())
    customers = [{"id": "never-seen-1", **NEW["customer"]},
                 {"id": "odd-1", "attributes": {"tenureMonths": [1, 2]}}]  # fmt: skip
    rows = scored("v", model, OFFER, customers, T0)
    assert [r["customer_id"] for r in rows] == ["never-seen-1"]


def test_a_decision_with_a_long_cart_is_evaluated_off_the_event_loop(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_loop: list[bool] = []  # the event loop runs in the main thread here (asyncio.run)
    engine = decisions.run_decision

    def watched(*args: Any, **kwargs: Any) -> Any:
        on_loop.append(threading.current_thread() is threading.main_thread())
        return engine(*args, **kwargs)

    monkeypatch.setattr(decisions, "run_decision", watched)

    def checkout(lines: int) -> dict[str, Any]:
        items = [{"sku": f"SKU-{i}", "category": "bakery", "price": 2.0, "quantity": 1}
                 for i in range(lines)]  # fmt: skip
        return {"customer": {"id": "guest-1"}, "channel": "pos", "session_id": "s-1",
                "store": {"id": "S1", "timezone": "America/New_York"}, "cart": {"items": items}}  # fmt: skip

    long_cart, short_cart = _decide(app, [checkout(decisions.OFF_LOOP_CART_LINES + 1), checkout(3)])
    assert (long_cart.status_code, short_cart.status_code) == (200, 200), long_cart.text
    assert on_loop[0] is False
    if app.state.pipeline is not None:  # PostgreSQL: an ordinary decision stays on the loop
        assert on_loop[1] is True
