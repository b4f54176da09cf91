"""One conformance suite for every estimator of the registry (river's ``checks``, mlxtend's
shared tests): each entry, built with its default hyperparameters, keeps the same contract."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from nextoffer.core.errors import NextofferError
from nextoffer.core.learning.ope import (
    ESTIMATORS,
    LoggedDecisions,
    OffPolicyEstimator,
    OpeError,
    evaluate,
    support,
)

from .bandit import logs, on_policy


@pytest.fixture(params=list(ESTIMATORS))
def estimator(request: pytest.FixtureRequest) -> OffPolicyEstimator:
    return ESTIMATORS[request.param]()


@pytest.fixture(scope="module")
def data() -> LoggedDecisions:
    return logs(7, 300, "deterministic").data


def _with(d: LoggedDecisions, **changes: object) -> LoggedDecisions:
    fields = {f.name: getattr(d, f.name) for f in dataclasses.fields(d)}
    return LoggedDecisions(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_entry_describes_itself(estimator: OffPolicyEstimator) -> None:
    cls = type(estimator)
    assert ESTIMATORS[cls.name] is cls
    assert isinstance(cls.needs_reward_model, bool)
    assert cls.formula.strip()
    assert cls.__doc__
    assert "V̂" in cls.__doc__
    assert all(isinstance(v, float) for v in estimator.parameters.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        estimator.extra = 1  # type: ignore[attr-defined]


def test_on_its_own_logs_it_returns_the_logged_mean(estimator: OffPolicyEstimator) -> None:
    # the target is the logging strategy; the reward model knows each row's outcome
    d = on_policy(3, 500)
    assert estimator.value(d) == pytest.approx(d.reward.mean(), abs=1e-12)
    e = estimator.estimate(d, resamples=50)
    assert e.value == pytest.approx(d.reward.mean(), abs=1e-12)
    assert e.effective_sample_size == pytest.approx(500)
    assert e.max_weight == pytest.approx(1.0)
    assert e.warnings == ()


def test_the_same_input_gives_the_same_estimate(
    estimator: OffPolicyEstimator, data: LoggedDecisions
) -> None:
    first = estimator.estimate(data, resamples=100, seed=5)
    assert estimator.estimate(data, resamples=100, seed=5) == first
    other = estimator.estimate(data, resamples=100, seed=6)
    assert other.value == first.value
    assert other.standard_error == first.standard_error


def test_the_order_of_the_rows_does_not_matter(
    estimator: OffPolicyEstimator, data: LoggedDecisions
) -> None:
    order = np.random.default_rng(0).permutation(data.rows)
    a = estimator.estimate(data, interval="normal")
    b = estimator.estimate(data.take(order), interval="normal")
    assert b.value == pytest.approx(a.value, rel=1e-12, abs=1e-12)
    assert b.standard_error == pytest.approx(a.standard_error, rel=1e-9)
    assert b.interval == pytest.approx(a.interval, rel=1e-9)
    assert (b.effective_sample_size, b.max_weight) == pytest.approx(
        (a.effective_sample_size, a.max_weight)
    )


def test_repeating_every_decision_keeps_the_estimate(
    estimator: OffPolicyEstimator, data: LoggedDecisions
) -> None:
    twice = data.take(np.concatenate([np.arange(data.rows)] * 2))
    a, b = estimator.estimate(data, interval="normal"), estimator.estimate(twice, interval="normal")
    assert b.value == pytest.approx(a.value, rel=1e-12, abs=1e-12)
    assert b.standard_error == pytest.approx(
        a.standard_error * np.sqrt((data.rows - 1) / (2 * data.rows - 1))
    )


def test_scaling_the_rewards_scales_the_estimate(
    estimator: OffPolicyEstimator, data: LoggedDecisions
) -> None:
    assert data.reward_model is not None
    scaled = _with(data, reward=data.reward * 40.0, reward_model=data.reward_model * 40.0)
    a = estimator.estimate(data, resamples=100)
    b = estimator.estimate(scaled, resamples=100)
    assert b.value == pytest.approx(40 * a.value, rel=1e-12)
    assert b.interval == pytest.approx((40 * a.interval[0], 40 * a.interval[1]), rel=1e-9)
    assert b.standard_error == pytest.approx(40 * a.standard_error, rel=1e-9)


def test_a_reward_model_is_required_exactly_when_the_entry_says(
    estimator: OffPolicyEstimator, data: LoggedDecisions
) -> None:
    bare = _with(data, reward_model=None)
    if type(estimator).needs_reward_model:
        with pytest.raises(OpeError) as caught:
            estimator.estimate(bare)
        assert caught.value.field == "reward_model"
        assert estimator.name in caught.value.message
    else:
        assert estimator.value(bare) == estimator.value(data)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("confidence", 0.0),
        ("confidence", 1.0),
        ("confidence", float("nan")),
        ("confidence", "high"),
        ("interval", "t"),
        ("resamples", 1),
        ("resamples", 2.5),
        ("resamples", True),
        ("seed", -1),
        ("seed", 1.5),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    estimator: OffPolicyEstimator, data: LoggedDecisions, setting: str, value: object
) -> None:
    with pytest.raises(OpeError) as caught:
        estimator.estimate(data, **{setting: value})  # type: ignore[arg-type]
    assert isinstance(caught.value, NextofferError)
    assert caught.value.field == setting


def test_bad_data_is_refused_before_any_estimate(estimator: OffPolicyEstimator) -> None:
    with pytest.raises(OpeError) as caught:
        estimator.estimate(
            LoggedDecisions(action=[0], propensity=[0.0], reward=[1.0], target=[[1.0]])
        )
    assert caught.value.field == "propensity[0]"


@pytest.mark.parametrize("method", ["bootstrap", "normal"])
def test_the_interval_holds_the_estimate(
    estimator: OffPolicyEstimator, data: LoggedDecisions, method: str
) -> None:
    e = estimator.estimate(data, interval=method, resamples=200)  # type: ignore[arg-type]
    assert e.method == method
    assert e.confidence == 0.95
    lo, hi = e.interval
    assert lo <= e.value <= hi
    assert lo < hi
    if method == "normal":
        assert (e.value - lo) == pytest.approx(hi - e.value)
        assert (hi - lo) / 2 == pytest.approx(1.959964 * e.standard_error, rel=1e-6)
    narrow = estimator.estimate(data, interval=method, resamples=200, confidence=0.5)  # type: ignore[arg-type]
    assert lo <= narrow.interval[0] <= narrow.interval[1] <= hi


def test_one_decision_gives_a_point_interval(estimator: OffPolicyEstimator) -> None:
    d = LoggedDecisions(
        action=[1], propensity=[0.5], reward=[1.0], target=[[0.5, 0.5]], reward_model=[[0.2, 0.6]]
    )
    e = estimator.estimate(d)
    assert e.interval == (e.value, e.value)
    assert e.standard_error == 0.0
    assert (e.rows, e.decisions) == (1, 1)


def test_the_estimate_carries_the_support_diagnostics(
    estimator: OffPolicyEstimator, data: LoggedDecisions
) -> None:
    s = support(data)
    e = estimator.estimate(data, resamples=20)
    assert (e.effective_sample_size, e.max_weight, e.warnings) == (
        s.effective_sample_size,
        s.max_weight,
        s.warnings,
    )
    assert (e.rows, e.decisions) == (data.rows, data.rows)


def test_the_estimate_is_plain_data(estimator: OffPolicyEstimator, data: LoggedDecisions) -> None:
    e = estimator.estimate(data, resamples=20)
    out = json.loads(json.dumps(e.to_dict()))
    assert out["estimator"] == estimator.name
    assert out["value"] == e.value
    assert out["parameters"] == estimator.parameters


def test_distinct_decision_ids_change_nothing(
    estimator: OffPolicyEstimator, data: LoggedDecisions
) -> None:
    ids = _with(data, decision=[f"d{i}" for i in range(data.rows)])
    assert estimator.estimate(ids, resamples=100) == estimator.estimate(data, resamples=100)


def test_evaluate_gives_what_estimate_gives(
    estimator: OffPolicyEstimator, data: LoggedDecisions
) -> None:
    (together,) = evaluate(data, [estimator], resamples=100, seed=3)
    assert together == estimator.estimate(data, resamples=100, seed=3)
