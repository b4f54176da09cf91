"""Off-policy evaluation from the ledger (``POST /v1/evaluations`` and the service's
``evaluate``), in process (the app over ASGI), on SQLite and PostgreSQL.

The ledger: the shop's ``pos`` channel explores epsilon-greedily; its decisions' outcomes
(accepts, and conversions worth whole amounts) are drawn from a seeded generator. The
window an evaluation reads ends at the ledger's clock (the database server's, which timed
the decisions): never the test's wall clock."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from collections import namedtuple
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from nextoffer.scenarios.demo import demo_snapshot
from nextoffer.service.app import create_app
from nextoffer.service.config import Settings
from nextoffer.service.errors import InvalidInput
from nextoffer.service.evaluation import repository, service
from nextoffer.service.keys.service import create_key
from nextoffer.service.migrate import upgrade
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish
from tests.clock import NOW, iso

EPSILON = 0.3
DECISIONS = 80
ESTIMATORS = ["ips", "snips", "dm", "dr", "switch_dr", "dros"]


def _spec(**pos: Any) -> dict[str, Any]:
    data = demo_snapshot()
    for channel in data["channels"]:
        if channel["id"] == "pos":
            channel.update(pos)
    return data


def _app(database_url: str) -> FastAPI:
    application = create_app(Settings(database_url=database_url, attach_refresh_seconds=0),
                             clock=lambda: NOW)  # fmt: skip
    db = application.state.db
    upgrade(db)
    with db.transaction() as session:
        load_spec(session, _spec(exploration={"kind": "epsilon_greedy", "epsilon": EPSILON}))
        publish(session, "demo-1")
        application.state.keys = {role: create_key(session, role, f"{role} key")
                                  for role in ("client", "author")}  # fmt: skip
    return application


def _close(application: FastAPI) -> None:
    if application.state.pipeline is not None:
        asyncio.run(application.state.pipeline.close())
        asyncio.run(application.state.db.dispose_async())
    application.state.db.dispose()


def _call(
    app: FastAPI, role: str, method: str, path: str, bodies: list[Any]
) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {app.state.keys[role]}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return [await client.request(method, path, json=b, headers=headers) for b in bodies]

    return asyncio.run(go())


def _checkout(i: int) -> dict[str, Any]:
    # at: the time the engine decides at, kept with the request (the replay's time)
    return {"customer": {"id": f"guest-{i}"}, "channel": "pos", "session_id": f"s-{i}", "at": iso(NOW),
            "store": {"id": "S1", "timezone": "America/New_York"},
            "cart": {"items": [{"sku": "STEAK-01", "category": "main_course", "quantity": 2,
                                "price": 1200.0}]}}  # fmt: skip


def _bank(i: int) -> dict[str, Any]:
    return {"customer": {"id": f"c-{i}", "attributes": {"tier": "premium", "tenureMonths": 36,
            "hasCreditCard": False, "balance": 12000.0}, "holdings": ["checking"]},
            "channel": "email", "at": iso(NOW)}  # fmt: skip


def _record(app: FastAPI, bodies: list[dict[str, Any]], seed: int) -> dict[str, float]:
    """Decide ``bodies``, then report outcomes: each offer shown is accepted with
    probability 0.3, and an accepted offer converts (worth 30 or 50) with probability 0.5.
    The tally: offers shown, accepts, and the conversions' value."""
    rng = np.random.default_rng(seed)
    answers = _call(app, "client", "POST", "/v1/decisions", bodies)
    tally = {"shown": 0.0, "accepted": 0.0, "revenue": 0.0, "decisions": 0.0}
    events: list[dict[str, Any]] = []
    for r in answers:
        assert r.status_code == 200, r.text
        d = r.json()
        if d["control"]:
            continue
        tally["decisions"] += 1
        for p in d["placements"]:
            for s in p["offers"]:
                tally["shown"] += 1
                common = {"customer_id": d["customer_id"], "decision_id": d["id"],
                          "offer_id": s["offer"]}  # fmt: skip
                if rng.random() < 0.3:
                    tally["accepted"] += 1
                    events.append({"type": "accept", "idempotency_key": f"a:{d['id']}:{s['offer']}",
                                   **common})  # fmt: skip
                    if rng.random() < 0.5:
                        value = float(rng.choice([30.0, 50.0]))
                        tally["revenue"] += value
                        events.append({"type": "convert", "value": value,
                                       "idempotency_key": f"c:{d['id']}:{s['offer']}", **common})  # fmt: skip
    for start in range(0, len(events), 200):
        (r,) = _call(app, "client", "POST", "/v1/events", [{"events": events[start : start + 200]}])
        assert r.status_code in (200, 201), r.text
    return tally


@pytest.fixture
def ledger(database_url: str) -> Iterator[tuple[FastAPI, dict[str, float]]]:
    application = _app(database_url)
    tally = _record(application, [_checkout(i) for i in range(DECISIONS)], seed=11)
    yield application, tally
    _close(application)


def _evaluate(app: FastAPI, body: dict[str, Any], role: str = "author") -> httpx.Response:
    return _call(app, role, "POST", "/v1/evaluations", [body])[0]


def _values(metric: dict[str, Any]) -> dict[str, float]:
    return {e["estimator"]: e["value"] for e in metric["estimates"]}


def test_the_live_snapshot_on_its_own_logs_gives_the_observed_mean_exactly(
    ledger: tuple[FastAPI, dict[str, float]],
) -> None:
    app, tally = ledger
    r = _evaluate(app, {"channel": "pos"})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["target"]["kind"] == "live"
    assert result["target"]["version"] == "demo-1"
    assert result["target"]["strategies"] == {
        "pos": f"expected_value+epsilon_greedy(epsilon={EPSILON:g},floor=0)"
    }
    assert result["decisions_read"] == DECISIONS
    assert result["decisions_used"] == DECISIONS
    assert result["skipped"] == {}
    assert result["message"] is None
    acceptance, revenue = result["metrics"]["acceptance"], result["metrics"]["revenue"]
    # the logging strategy's own value, as the test tallied it
    assert acceptance["observed"] == pytest.approx(tally["accepted"] / tally["shown"], abs=1e-12)
    assert revenue["observed"] == pytest.approx(tally["revenue"] / tally["decisions"], abs=1e-9)
    for metric in (acceptance, revenue):
        values = _values(metric)
        assert list(values) == ESTIMATORS
        assert values["ips"] == metric["observed"]
        assert values["snips"] == metric["observed"]
        for e in metric["estimates"]:
            assert e["low"] <= e["value"] <= e["high"]
            assert e["effective_sample_size"] == pytest.approx(result["support"]["rows"])
            assert e["max_weight"] == pytest.approx(1.0)
    assert result["support"]["deterministic_differing"] == 0
    assert result["support"]["outside_rows"] == 0
    assert result["logging_strategies"] == {
        f"expected_value+epsilon_greedy(epsilon={EPSILON:g},floor=0)": result["support"]["rows"]
    }
    # the stored version is the same target
    again = _evaluate(app, {"snapshot": "demo-1", "channel": "pos"}).json()
    assert again["target"]["kind"] == "snapshot"
    assert again["metrics"] == result["metrics"]


def test_a_draft_that_switches_scoring_gets_estimates_intervals_and_weights(
    ledger: tuple[FastAPI, dict[str, float]],
) -> None:
    app, _ = ledger
    r = _evaluate(app, {"draft": _spec(scoring={"strategy": "prie"}), "days": 7})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["target"]["kind"] == "draft"
    assert result["target"]["strategies"]["pos"] == "prie+greedy"
    assert result["days"] == 7
    support = result["support"]
    assert support["max_weight"] > 1.0  # the greedy draft picks what the logs explored
    assert 0 < support["effective_sample_size"] < support["rows"]
    assert support["zero_weight_rows"] > 0
    for metric in result["metrics"].values():
        assert [e["estimator"] for e in metric["estimates"]] == ESTIMATORS
        for e in metric["estimates"]:
            assert e["low"] <= e["value"] <= e["high"]
            if e["estimator"] != "dm":  # every logged context is alike: the model's value too
                assert e["high"] > e["low"]
            assert e["max_weight"] == support["max_weight"]
        assert _values(metric)["ips"] != metric["observed"]


def test_greedy_logs_are_flagged_deterministic_with_no_support_for_other_choices(
    database_url: str,
) -> None:
    app = _app(database_url)
    try:
        _record(app, [_bank(i) for i in range(30)], seed=3)
        draft = demo_snapshot()
        for channel in draft["channels"]:
            if channel["id"] == "email":
                channel["exploration"] = {"kind": "epsilon_greedy", "epsilon": 0.5}
        r = _evaluate(app, {"draft": draft, "channel": "email"})
        assert r.status_code == 200, r.text
        result = r.json()
        support = result["support"]
        assert support["deterministic_rows"] == support["rows"] > 0
        # where more than one candidate was left, the exploring draft may choose otherwise
        assert 0 < support["deterministic_differing"] <= support["rows"]
        assert result["logging_strategies"] == {"greedy": support["rows"]}
        assert any(w.startswith("no support:") and "logged deterministically" in w
                   for w in result["warnings"])  # fmt: skip
        for metric in result["metrics"].values():
            for e in metric["estimates"]:
                assert any("probability 1" in w for w in e["warnings"])
        if result["decisions_used"] < 30:  # the bank's holdout: its control group is skipped
            assert any("control group" in reason for reason in result["skipped"])
    finally:
        _close(app)


def test_bad_input_is_a_422_naming_the_field(ledger: tuple[FastAPI, dict[str, float]]) -> None:
    app, _ = ledger
    bad_draft = copy.deepcopy(_spec())
    bad_draft["channels"][0]["placements"] = []
    cases = {
        "snapshot": {"snapshot": "no-such-version"},
        "days": {"days": 0},
        "channel": {"channel": "fax"},
        "draft": {"draft": {"offers": "not a list"}},
    }
    for field, body in cases.items():
        r = _evaluate(app, body)
        assert r.status_code == 422, (field, r.text)
        fields = [e["field"] for e in r.json()["errors"]]
        assert any(f == field or f.startswith(f"{field}.") or f.endswith(field) for f in fields), (
            field,
            r.json(),
        )
    r = _evaluate(app, {"draft": bad_draft})
    assert r.status_code == 422
    assert any(e["field"].startswith("draft.channels.") for e in r.json()["errors"]), r.json()
    r = _evaluate(app, {"draft": _spec(), "snapshot": "demo-1"})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} >= {"draft", "snapshot"}
    r = _evaluate(app, {"snapshot": "no-such-version"})
    assert "demo-1" in r.text  # names the versions there are
    assert _evaluate(app, {}, role="client").status_code == 403


def test_an_empty_ledger_answers_that_there_are_no_logged_decisions(database_url: str) -> None:
    app = _app(database_url)
    try:
        r = _evaluate(app, {"channel": "pos", "days": 30})
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["message"] == "no logged decisions on channel 'pos' in the last 30 days"
        assert result["decisions_read"] == 0
        assert result["support"] is None
        assert all(m["estimates"] == [] and m["observed"] is None
                   for m in result["metrics"].values())  # fmt: skip
    finally:
        _close(app)


def test_the_service_evaluates_a_snapshot_in_a_session(
    ledger: tuple[FastAPI, dict[str, float]],
) -> None:
    """The call the demo makes: ``evaluate(session, target, days=, channel=, now=, seed=)``."""
    app, tally = ledger
    with app.state.db.read() as session:
        now = service.ledger_now(session)
        live = service.stored_target(session, "demo-1")
        result = service.evaluate(session, live, days=30, channel="pos", now=now, seed=5)
        assert result["decisions_used"] == DECISIONS
        assert _values(result["metrics"]["acceptance"])["ips"] == pytest.approx(
            tally["accepted"] / tally["shown"], abs=1e-12
        )
        # a window that ends before the decisions were logged holds none of them
        earlier = service.evaluate(session, live, days=1, channel="pos",
                                   now=now.replace(year=now.year - 1))  # fmt: skip
        assert earlier["decisions_read"] == 0
        with pytest.raises(InvalidInput) as caught:
            service.evaluate(session, live, days=0, channel="nope", now=now)
        assert [e["field"] for e in caught.value.errors] == ["days", "channel"]
        with pytest.raises(InvalidInput) as caught:
            service.draft_target(session, ["not", "a", "snapshot"])
        assert caught.value.errors[0]["field"] == "draft"


def test_outcomes_count_within_the_attribution_window_only(
    ledger: tuple[FastAPI, dict[str, float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An accept or a conversion counts within 30 days of its decision (the uplift and
    experiment reports' window): the ledger's events, moved later, stop counting past it."""
    app, tally = ledger
    real = repository.outcomes

    def later(days: float) -> Any:
        def moved(session: Any, ids: Any) -> list[Any]:
            outcome = namedtuple("outcome", repository.OUTCOME_COLUMNS)  # type: ignore[misc]
            return [outcome(*row[:-1], row.occurred_at + dt.timedelta(days=days))
                    for row in real(session, ids)]  # fmt: skip

        return moved

    with app.state.db.read() as session:
        now = service.ledger_now(session)
        live = service.stored_target(session, "demo-1")
        for days, accepted in ((29.9, tally["accepted"]), (30.1, 0.0)):
            monkeypatch.setattr(repository, "outcomes", later(days))
            result = service.evaluate(session, live, days=30, channel="pos", now=now)
            acceptance = result["metrics"]["acceptance"]
            assert acceptance["observed"] == pytest.approx(accepted / tally["shown"]), days
            assert result["window_days"] == 30


def test_value_per_accept_is_the_conversions_value_per_accept() -> None:
    accepted = {"d1": {"a": 1.0, "b": 1.0}, "d2": {"a": 1.0}, "d3": {}}
    revenue = {"d1": {"a": 30.0}, "d2": {"a": 10.0}, "d3": {"b": 99.0}}  # d3's b: not accepted
    assert service.value_per_accept(accepted, revenue) == {"a": 20.0, "b": 0.0}
    assert service.value_per_accept({}, revenue) == {}
