"""Replaying logged decisions on a target snapshot (``core.learning.ope.logs``): the rows the
estimators read, what is skipped and why, and the support the logs give the target."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from nextoffer.core.decision import Snapshot, build_snapshot, decide
from nextoffer.core.learning.ope import IPS, SNIPS, evaluate
from nextoffer.core.learning.ope.logs import (
    NOTHING,
    SKIP_CONTROL,
    SKIP_INCOMPLETE,
    SKIP_UNREADABLE,
    LoggedDecision,
    logged,
    replay,
)
from nextoffer.core.request import Request
from nextoffer.scenarios.demo import demo_snapshot
from tests.clock import NOW

EPSILON = 0.3


def _snapshot(
    scoring: str = "expected_value", exploration: dict[str, Any] | None = None
) -> Snapshot:
    data = demo_snapshot()
    for channel in data["channels"]:
        if channel["id"] == "pos":
            channel["scoring"] = {"strategy": scoring}
            if exploration is not None:
                channel["exploration"] = exploration
    return build_snapshot(data)


def _request(i: int) -> Request:
    return Request.model_validate(
        {"customer": {"id": f"guest-{i}"}, "channel": "pos", "session_id": f"s-{i}",
         "store": {"id": "S1", "timezone": "America/New_York"}, "at": NOW.isoformat(),
         "cart": {"items": [{"sku": "STEAK-01", "category": "main_course", "quantity": 2,
                             "price": 1200.0}]}}
    )  # fmt: skip


def _logs(snapshot: Snapshot, n: int, seed: int = 0) -> list[LoggedDecision]:
    """``n`` decisions of ``snapshot`` with outcomes drawn from a seeded generator: an offer
    shown is accepted with probability 0.3 and converts, worth 25, when accepted."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        request = _request(i)
        decision = decide(snapshot, request, None, seed=f"d-{i}")
        accepted = {o: float(rng.random() < 0.3) for o in decision.offers()}
        out.append(logged(id=f"d-{i}", channel="pos", occurred_at=NOW, customer_id=f"guest-{i}",
                          control=decision.control,
                          request=request.model_dump(mode="json", exclude_none=True),
                          decision=decision.to_dict(), features=None, accepted=accepted,
                          revenue={o: 25.0 * a for o, a in accepted.items()}))  # fmt: skip
    return out


def test_the_logging_snapshot_on_its_own_logs_gives_the_logged_mean_exactly() -> None:
    live = _snapshot(exploration={"kind": "epsilon_greedy", "epsilon": EPSILON})
    logs = _logs(live, 200)
    done = replay(live, logs)
    assert done.decisions == 200
    assert done.skipped == {}
    for metric in ("acceptance", "revenue"):
        data = done.data[metric]
        assert data is not None
        assert data.rows == 400  # two slots each
        assert (data.weights == 1.0).all()
        observed = done.observed[metric]
        assert observed == float(data.reward.sum()) / data.rows
        assert IPS().value(data) == observed
        assert SNIPS().value(data) == observed
    assert done.coverage.outside_rows == 0
    assert done.coverage.deterministic_rows == 0
    assert done.coverage.warnings() == []


def test_the_rows_carry_the_logged_candidates_probabilities_and_attach_rates() -> None:
    live = _snapshot(exploration={"kind": "epsilon_greedy", "epsilon": EPSILON})
    logs = _logs(live, 30)
    done = replay(live, logs)
    data = done.data["acceptance"]
    assert data is not None
    assert data.reward_model is not None
    assert data.candidates is not None
    first = logs[0].slots[0]
    k = len(first.candidates)
    assert data.propensity[0] == first.probability
    assert data.target[0, :k].tolist() == [c[2] for c in first.candidates]
    assert data.reward_model[0, :k].tolist() == [c[1] for c in first.candidates]
    revenue = done.data["revenue"]
    assert revenue is not None
    assert revenue.reward_model is not None
    prices = [live.offers[c[0]].price for c in first.candidates]
    assert revenue.reward_model[0, :k].tolist() == pytest.approx(
        [c[1] * price for c, price in zip(first.candidates, prices, strict=True)]
    )
    assert set(np.unique(data.decision)) == {log.id for log in logs}


def test_what_an_accept_earned_in_the_logs_is_the_revenue_models_value() -> None:
    live = _snapshot(exploration={"kind": "epsilon_greedy", "epsilon": EPSILON})
    logs = _logs(live, 30)
    earned = {"RED-WINE-01": 25.0, "RED-WINE-02": 12.5}  # the other offers: their price
    done = replay(live, logs, earned)
    acceptance, revenue = done.data["acceptance"], done.data["revenue"]
    assert acceptance is not None
    assert revenue is not None
    assert acceptance.reward_model is not None
    assert revenue.reward_model is not None
    for i, columns in enumerate(done.offers):  # each row's columns, named
        assert len(columns) <= revenue.reward_model.shape[1]
        for j, offer in enumerate(columns):
            value = earned.get(offer, live.offers[offer].price)
            assert revenue.reward_model[i, j] == pytest.approx(
                acceptance.reward_model[i, j] * value
            )
    first = logs[0].slots[0]
    assert done.offers[0][: len(first.candidates)] == tuple(c[0] for c in first.candidates)


def test_a_draft_that_switches_scoring_gets_estimates_with_intervals_and_weights() -> None:
    live = _snapshot(exploration={"kind": "epsilon_greedy", "epsilon": EPSILON})
    draft = _snapshot("prie")
    done = replay(draft, _logs(live, 300))
    data = done.data["acceptance"]
    assert data is not None
    weights = data.weights
    assert weights.max() > 1.0  # the greedy draft picks what the logs explored
    assert (weights == 0).any()  # and never what it would not choose
    estimates = evaluate(data, resamples=200)
    assert [e.estimator for e in estimates] == ["ips", "snips", "dm", "dr", "switch_dr", "dros"]
    for e in estimates:
        assert e.interval[0] <= e.value <= e.interval[1]
        assert 0 < e.effective_sample_size < data.rows


def test_greedy_logs_are_deterministic_and_give_no_support_to_other_choices() -> None:
    greedy = _snapshot()
    done = replay(_snapshot(exploration={"kind": "epsilon_greedy", "epsilon": 0.5}),
                  _logs(greedy, 50))  # fmt: skip
    c = done.coverage
    assert c.rows == 100
    assert c.deterministic_rows == 100
    assert c.deterministic_differing == 100  # an exploring target may choose otherwise
    assert 0 < c.deterministic_mass < 1
    warnings = c.warnings()
    assert any(w.startswith("no support: 100 of 100 slots logged deterministically")
               for w in warnings)  # fmt: skip
    data = done.data["acceptance"]
    assert data is not None
    assert (data.propensity == 1.0).all()


def test_a_greedy_target_on_its_own_greedy_logs_is_supported() -> None:
    greedy = _snapshot()
    done = replay(greedy, _logs(greedy, 20))
    c = done.coverage
    assert c.deterministic_rows == 40
    assert c.deterministic_differing == 0
    assert any("target agrees with them" in w for w in c.warnings())


def test_offers_the_logs_never_had_as_candidates_are_outside_the_support() -> None:
    live = _snapshot(exploration={"kind": "epsilon_greedy", "epsilon": EPSILON})
    data = demo_snapshot()
    for rule in data["rules"]:
        if rule["id"] == "steak-red-wine":
            rule["offers"] = [*rule["offers"], "COFFEE-01"]
    for channel in data["channels"]:
        if channel["id"] == "pos":
            channel["exploration"] = {"kind": "epsilon_greedy", "epsilon": 1.0}
    target = build_snapshot(data)
    done = replay(target, _logs(live, 40))
    c = done.coverage
    assert c.outside_rows > 0
    assert c.outside_mass > 0
    assert any("not among the logged candidates" in w for w in c.warnings())


def test_a_slot_the_target_leaves_empty_is_a_column_of_nothing() -> None:
    live = _snapshot(exploration={"kind": "epsilon_greedy", "epsilon": EPSILON})
    data = demo_snapshot()
    for channel in data["channels"]:
        if channel["id"] == "pos":
            channel["placements"] = [{"id": "pos-upsell", "slots": 1}]
    done = replay(build_snapshot(data), _logs(live, 10))
    assert done.coverage.empty_rows == 10  # the second slot of each decision
    d = done.data["revenue"]
    assert d is not None
    assert d.reward_model is not None
    # the empty slot's rows give the target's whole probability to "nothing", worth 0
    second = np.flatnonzero(d.position == 1)
    assert (d.weights[second] == 0).all()
    assert NOTHING  # the column's name, as reports show it


def test_control_group_and_unreadable_decisions_are_skipped_with_their_reasons() -> None:
    live = _snapshot(exploration={"kind": "epsilon_greedy", "epsilon": EPSILON})
    request = _request(1)
    decision = decide(live, request, None, seed="c-1").to_dict()
    control = logged(id="c-1", channel="pos", occurred_at=NOW, customer_id="guest-1",
                     control=True, request=request.model_dump(mode="json"), decision=decision,
                     features=None)  # fmt: skip
    unreadable = logged(id="c-2", channel="pos", occurred_at=NOW, customer_id="guest-2",
                        control=False, request={"channel": "pos", "cart": "not a cart"},
                        decision=decision, features=None)  # fmt: skip
    unknown = logged(id="c-3", channel="web", occurred_at=NOW, customer_id="guest-3",
                     control=False, request={**request.model_dump(mode="json"), "channel": "web"},
                     decision=decision, features=None)  # fmt: skip
    odd_customer = logged(id="c-4", channel="pos", occurred_at=NOW, customer_id="guest-4",
                          control=False, request=request.model_dump(mode="json"),
                          decision=decision, features={"holdings": [{"not": "an id"}]})  # fmt: skip
    broken = copy.deepcopy(decision)
    broken["exploration"]["slots"][0]["candidates"] = []
    incomplete = logged(id="c-5", channel="pos", occurred_at=NOW, customer_id="guest-5",
                        control=False, request=request.model_dump(mode="json"), decision=broken,
                        features=None)  # fmt: skip
    done = replay(live, [control, unreadable, unknown, odd_customer, incomplete])
    assert done.decisions == 0
    assert done.data["acceptance"] is None
    assert done.observed["acceptance"] is None
    assert done.skipped[SKIP_CONTROL] == 1
    assert done.skipped[SKIP_UNREADABLE] == 2
    assert done.skipped[SKIP_INCOMPLETE] == 1
    (reason,) = [r for r in done.skipped if r.startswith("the target cannot decide it")]
    assert "channel" in reason
    assert "'web'" in reason


def test_the_stored_features_are_the_replayed_customer() -> None:
    request = _request(5)
    log = logged(id="f-1", channel="pos", occurred_at=NOW, customer_id="guest-5", control=False,
                 request=request.model_dump(mode="json"),
                 decision=decide(_snapshot(), request, None).to_dict(),
                 features={"attributes": {"tier": "gold"}, "holdings": ["checking"],
                           "segments": ["VIP"]})  # fmt: skip
    assert log.state is not None
    assert log.state.attributes == {"tier": "gold"}
    assert log.state.holdings == ("checking",)
    assert log.state.segments == ("VIP",)
    assert log.deterministic
    assert log.strategy == "greedy"


@pytest.mark.parametrize(
    "exploration",
    [{"kind": "thompson", "draws": 100}, {"kind": "softmax", "temperature": 50.0}],
    ids=["thompson", "softmax"],
)
def test_an_exploring_target_gives_its_probabilities_over_the_logged_candidates(
    exploration: dict[str, Any],
) -> None:
    live = _snapshot(exploration={"kind": "epsilon_greedy", "epsilon": EPSILON})
    target = _snapshot(exploration=exploration)
    logs = _logs(live, 60)
    done = replay(target, logs)
    data = done.data["acceptance"]
    assert data is not None
    assert np.allclose(data.target.sum(axis=1), 1.0)
    # the target's probabilities are those its own decision, seeded with the id, logs
    assert logs[0].request is not None
    again = decide(target, logs[0].request, None, seed=logs[0].id)
    assert again.exploration is not None
    first = again.exploration.slots[0]
    columns = [c[0] for c in logs[0].slots[0].candidates]
    wanted = {c[0]: c[3] for c in first.candidates}
    for j, offer in enumerate(columns):
        assert data.target[0, j] == wanted.get(offer, 0.0)
    assert len(set(np.round(data.weights, 9))) > 1  # not the logging strategy: weights vary
