"""Strategy experiments in the core: the definition's checks, the deterministic split by
share, and an arm's strategy on its channels."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from nextoffer.core.decision import (
    CustomerState,
    StrategyExperimentSpec,
    StrategySpec,
    arm_of,
    assignment,
    build_snapshot,
    decide,
    with_strategy,
)
from nextoffer.core.request import Request
from nextoffer.scenarios import bank_snapshot
from nextoffer.scenarios.demo import WORKED_EXAMPLE, demo_snapshot

from ...clock import NOW

NO_UPLIFT = {"strategy": "prie", "weights": {"propensity": 0.4, "relevance": 0.1, "impact": 0.3,
                                             "emphasis": 0.2, "uplift": 0.0}}  # fmt: skip


def spec(*shares: float, experiment: str = "exp") -> StrategyExperimentSpec:
    arms: list[dict[str, Any]] = [{"name": "champion", "share": shares[0], "snapshot": "live"}]
    arms += [{"name": f"c{i}", "share": s, "strategy": {"scoring": NO_UPLIFT}}
             for i, s in enumerate(shares[1:], 1)]  # fmt: skip
    return StrategyExperimentSpec.model_validate(
        {"id": experiment, "channels": ["email"], "arms": arms}
    )


@pytest.mark.parametrize("shares", [(0.5, 0.5), (0.8, 0.2), (0.25, 0.25, 0.5), (0.1, 0.3, 0.6)])
def test_customers_are_split_among_the_arms_by_share(shares: tuple[float, ...]) -> None:
    experiment = spec(*shares)
    n = 20_000
    counts = Counter(arm_of(experiment, f"customer-{i}").name for i in range(n))
    for arm in experiment.arms:
        # 20,000 customers: the standard error of a share is at most 0.0035
        assert abs(counts[arm.name] / n - arm.share) < 0.015, (arm.name, counts)


def test_the_split_is_deterministic_and_apart_from_the_holdouts() -> None:
    experiment = spec(0.5, 0.5, experiment="bank-cross-sell-2026")  # named as the holdout
    first = [arm_of(experiment, f"c-{i}").name for i in range(2000)]
    assert first == [arm_of(spec(0.5, 0.5, experiment="bank-cross-sell-2026"), f"c-{i}").name
                     for i in range(2000)]  # fmt: skip
    # the control group (10% of the holdout's hash) is split among the arms like everyone
    # else: the arms' hash is keyed apart from the holdout's, so the two are independent
    control = [i for i in range(2000) if assignment("bank-cross-sell-2026", f"c-{i}") < 0.1]
    in_champion = sum(first[i] == "champion" for i in control)
    assert 0.35 < in_champion / len(control) < 0.65
    # another experiment id splits the same customers differently
    other = [arm_of(spec(0.5, 0.5, experiment="another"), f"c-{i}").name for i in range(2000)]
    assert other != first


@pytest.mark.parametrize(
    ("definition", "field", "message"),
    [
        ({"arms": [{"name": "a", "share": 0.5, "snapshot": "live"},
                   {"name": "b", "share": 0.6, "snapshot": "v1"}]}, "arms", "sum to 1, got 1.1"),
        ({"arms": [{"name": "a", "share": 1.0, "snapshot": "live"}]}, "arms", "at least 2"),
        ({"channels": []}, "channels", "at least 1"),
        ({"channels": ["email", "email"]}, "channels", "email more than once"),
        ({"arms": [{"name": "a", "share": 0.5, "snapshot": "live"},
                   {"name": "b", "share": 0.5}]}, "arms.1", "neither"),
        ({"arms": [{"name": "a", "share": 0.5, "snapshot": "live"},
                   {"name": "b", "share": 0.5, "strategy": {}}]}, "arms.1.strategy", "needs 'scoring'"),
        ({"arms": [{"name": "a", "share": 0.5, "snapshot": "live"},
                   {"name": "b", "share": 0.5, "strategy": {"scoring": {"strategy": "magic"}}}]},
         "arms.1.strategy.scoring.strategy", "Input should be"),
        ({"arms": [{"name": "a", "share": 0, "snapshot": "live"},
                   {"name": "b", "share": 1, "snapshot": "v1"}]}, "arms.0.share", "greater than 0"),
    ],
)  # fmt: skip
def test_a_bad_definition_names_the_field(
    definition: dict[str, Any], field: str, message: str
) -> None:
    base: dict[str, Any] = {"id": "exp", "channels": ["email"],
                            "arms": [{"name": "a", "share": 0.5, "snapshot": "live"},
                                     {"name": "b", "share": 0.5, "snapshot": "v1"}]}  # fmt: skip
    with pytest.raises(ValidationError) as raised:
        StrategyExperimentSpec.model_validate({**base, **definition})
    found = {".".join(str(p) for p in e["loc"]): e["msg"] for e in raised.value.errors()}
    assert field in found, found
    assert message in found[field]


def test_an_arms_strategy_changes_only_its_channels_and_ranks_differently() -> None:
    data = demo_snapshot()
    data["uplift"] = bank_snapshot()["uplift"]
    live = build_snapshot(data, published=True)
    arm = build_snapshot(
        with_strategy(live.spec, ("email",), StrategySpec.model_validate({"scoring": NO_UPLIFT})),
        published=True,
    )
    assert arm.version == live.version
    assert arm.channels["email"].scoring.weights.uplift == 0.0
    assert arm.channels["in_app"].scoring == live.channels["in_app"].scoring
    assert arm.channels["email"].exploration == live.channels["email"].exploration  # kept
    w = WORKED_EXAMPLE
    state = CustomerState(id=str(w["id"]), attributes=dict(w["attributes"]),
                          holdings=tuple(w["holdings"]))  # fmt: skip
    at = NOW.astimezone(dt.UTC)

    def first(snapshot: Any, channel: str) -> str:
        request = Request.model_validate({"customer": {"id": w["id"]}, "channel": channel})
        offers: list[str] = decide(snapshot, request, state, now=at, contacts_at=at).offers()
        return offers[0]

    assert first(live, "email") == "credit-card"  # the worked example: τ of savings < 0
    assert first(arm, "email") == "savings-account"  # without the uplift weight
    assert first(arm, "in_app") == first(live, "in_app")
