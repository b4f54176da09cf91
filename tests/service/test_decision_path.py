"""The decision path runs no model and writes no estimate: a customer the live uplift models
have not scored gets the offer's average τ, and is scored in the background (``ScoreAhead``)
for their next decision. In process (the app over ASGI), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from nextoffer.core.learning.features import FeatureEncoder
from nextoffer.core.learning.uplift import TLearner
from nextoffer.jobs.uplift import UpliftModel, fit_model
from nextoffer.scenarios.demo import bank_customers, demo_snapshot, true_effect
from nextoffer.service.app import create_app
from nextoffer.service.catalog.service import load_spec, publish
from nextoffer.service.config import Settings
from nextoffer.service.keys.service import create_key
from nextoffer.service.migrate import upgrade
from nextoffer.service.tables import cate_estimates
from nextoffer.service.uplift import repository
from nextoffer.service.uplift.service import feature_columns, feature_row

OFFER = "savings-account"
AVERAGE = -0.04
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


def _rows(n: int) -> list[dict[str, Any]]:
    return [feature_row(c) for c in bank_customers(random.Random(5), n)]


def _raising_model() -> UpliftModel:
    encoder = FeatureEncoder.fit(feature_columns(_rows(50)))
    return UpliftModel(encoder=encoder, learner=RaisingLearner(), method="t-learner",
                       outcome="conversion", report={"mean_tau": AVERAGE})  # fmt: skip


def _trained_model() -> UpliftModel:
    """A T-learner on simulated savings outcomes (the demo's truth)."""
    rng = random.Random(11)
    customers = list(bank_customers(rng, 1200))
    t = np.array([rng.random() < 0.5 for _ in customers], dtype=np.int8)
    y = np.array([float(rng.random() < true_effect(c, OFFER)[0] + (true_effect(c, OFFER)[1] if
                  t[i] else 0.0)) for i, c in enumerate(customers)])  # fmt: skip
    columns = feature_columns([feature_row(c) for c in customers])
    return fit_model(columns, t, y, method="t-learner", n_bootstrap=0)


@pytest.fixture
def app(database_url: str) -> Iterator[FastAPI]:
    application = create_app(Settings(database_url=database_url, attach_refresh_seconds=0))
    db = application.state.db
    upgrade(db)
    with db.transaction() as session:
        load_spec(session, demo_snapshot())
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


def test_a_never_seen_customer_is_decided_without_a_model_call_or_an_estimate_write(
    app: FastAPI,
) -> None:
    _live(app, _raising_model())  # its predict fails the test
    (r,) = _decide(app, [NEW])
    assert r.status_code == 200, r.text
    assert _tau(r.json()) == pytest.approx(AVERAGE)  # the offer's average τ
    assert _estimates(app) == []  # nothing written by the request
    assert app.state.score_ahead.pending == 1  # handed to the background scorer instead


def test_a_customer_scored_ahead_gets_their_own_tau_afterwards(app: FastAPI) -> None:
    model = _trained_model()
    _live(app, model)
    (first,) = _decide(app, [NEW])
    assert first.status_code == 200, first.text
    assert _tau(first.json()) == pytest.approx(model.report["mean_tau"])
    assert _estimates(app) == []
    assert _uplift(app, "never-seen-1")[OFFER]["scored"] is False
    assert app.state.score_ahead.run() == 1  # what the server's background task does
    (row,) = _estimates(app)
    assert (row.customer_id, row.offer_id, row.model_version) == ("never-seen-1", OFFER,
                                                                 f"{OFFER}@test")  # fmt: skip
    assert row.tau != pytest.approx(model.report["mean_tau"])  # their own, not the average
    # what the next decision's engine reads (the same read as the decision path)
    assert _uplift(app, "never-seen-1")[OFFER] == {"offer": OFFER, "tau": row.tau,
                                                  "segment": row.segment, "scored": True}  # fmt: skip
    (second,) = _decide(app, [{**NEW, "channel": "branch"}])
    assert second.status_code == 200, second.text
    assert app.state.score_ahead.pending == 0  # scored: not noted again


def test_scoring_ahead_never_overwrites_a_stored_estimate(app: FastAPI) -> None:
    _live(app, _trained_model())
    _decide(app, [NEW])
    with app.state.db.transaction() as session:  # e.g. a bulk scoring meanwhile
        repository.upsert_estimates(session, [{
            "customer_id": "never-seen-1", "offer_id": OFFER, "tau": 0.3, "lower": None,
            "upper": None, "base_rate": 0.1, "segment": "persuadable",
            "model_version": "bulk", "scored_at": T0,
        }])  # fmt: skip
    app.state.score_ahead.run()
    (row,) = _estimates(app)
    assert (row.tau, row.model_version) == (0.3, "bulk")


def test_a_customer_whose_features_cannot_be_scored_is_left_out_of_the_batch(
    app: FastAPI,
) -> None:
    _live(app, _trained_model())
    _decide(app, [NEW])
    app.state.score_ahead.note("odd-1", {"attributes": {"tenureMonths": [1, 2]}}, [OFFER])
    assert app.state.score_ahead.run() == 1
    assert [r.customer_id for r in _estimates(app)] == ["never-seen-1"]
