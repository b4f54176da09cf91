"""Exploration: the kinds' probabilities, what a decision records, reproducibility from the
seed, and that exploring never shows what a filter took out."""

from __future__ import annotations

import copy
import math
from collections import Counter
from typing import Any, get_args

import numpy as np
import pytest
from scipy import integrate, stats

from nextoffer.core.decision import (
    ChannelSpec,
    CustomerState,
    Decision,
    ExplorationSpec,
    Snapshot,
    SnapshotError,
    SnapshotSpec,
    assignment,
    build_snapshot,
    decide,
)
from nextoffer.core.decision.exploration import EXPLORATIONS, pick
from nextoffer.core.decision.scoring import STRATEGIES
from nextoffer.core.decision.spec import ExplorationName, ScoringSpec
from nextoffer.core.registry import UnknownEntryError
from nextoffer.core.request import Request
from nextoffer.scenarios import bank_snapshot, checkout_snapshot

from .conftest import premium_36, request

PRICES = (10.0, 20.0, 30.0, 40.0)


def shop(
    exploration: dict[str, Any] | None = None,
    *,
    prices: tuple[float, ...] = PRICES,
    slots: int = 1,
    priorities: tuple[int, ...] | None = None,
    attach: list[dict[str, Any]] | None = None,
    scoring: dict[str, Any] | None = None,
    uplift: list[dict[str, Any]] | None = None,
) -> Snapshot:
    """One channel, one placement, one open offer per price (``o0`` …), every candidate
    passing the gates; without counts every attach rate is the prior's 5%."""
    channel: dict[str, Any] = {"id": "web", "placements": [{"id": "main", "slots": slots}]}
    if exploration is not None:
        channel["exploration"] = exploration
    if scoring is not None:
        channel["scoring"] = scoring
    return build_snapshot({
        "version": "explore-1",
        "products": [{"sku": f"P{i}", "category": "c", "price": price}
                     for i, price in enumerate(prices)],
        "offers": [{"id": f"o{i}", "sku": f"P{i}", "open": True,
                    "priority": priorities[i] if priorities else 50}
                   for i in range(len(prices))],
        "channels": [channel],
        "guardrails": {"min_score": 0.0, "max_price_share": None},
        "attach": attach or [],
        "uplift": uplift or [],
    })  # fmt: skip


WEB = request(customer={"id": "c-1"}, channel="web")


def first_slot(d: Decision) -> dict[str, float]:
    """The first slot's candidates and their probabilities."""
    assert d.exploration is not None
    return {offer: q for offer, _, _, q in d.exploration.slots[0].candidates}


def chosen(snapshot: Snapshot, n: int, req: Request = WEB, **kw: Any) -> Counter[str]:
    return Counter(decide(snapshot, req, seed=f"decision-{i}", **kw).offers()[0] for i in range(n))


# -- the spec and the registry ------------------------------------------------------------


def test_the_registry_and_the_spec_agree_on_the_exploration_kinds() -> None:
    assert set(EXPLORATIONS) == set(get_args(ExplorationName))
    for name in EXPLORATIONS:
        assert EXPLORATIONS[name].name == name
        assert EXPLORATIONS[name].explanation
    assert EXPLORATIONS["greedy"].start is None


def test_an_unknown_kind_is_refused_when_compiled() -> None:
    base = SnapshotSpec.model_validate(checkout_snapshot())
    first = base.channels[0]
    odd = ChannelSpec.model_construct(
        id=first.id, placements=first.placements, coupling=first.coupling,
        scoring=first.scoring, exploration=ExplorationSpec.model_construct(kind="bandit"),
    )  # fmt: skip
    with pytest.raises(SnapshotError) as caught:
        build_snapshot(base.model_copy(update={"channels": (odd, *base.channels[1:])}))
    assert caught.value.field == "channels[0].exploration.kind"
    with pytest.raises(UnknownEntryError):
        EXPLORATIONS["bandit"]


@pytest.mark.parametrize(
    ("exploration", "field", "message"),
    [
        ({"kind": "epsilon_greedy"}, "epsilon", "epsilon_greedy needs 'epsilon'"),
        ({"kind": "epsilon_greedy", "epsilon": 1.5}, "epsilon", "less than or equal to 1"),
        ({"kind": "epsilon_greedy", "epsilon": 0.1, "floor": -0.1}, "floor", "greater than"),
        ({"kind": "softmax"}, "temperature", "softmax needs 'temperature'"),
        ({"kind": "softmax", "temperature": 0}, "temperature", "greater than 0"),
        ({"kind": "thompson", "draws": 0}, "draws", "greater than or equal to 1"),
        ({"kind": "thompson", "epsilon": 0.1}, "epsilon",
         "'epsilon' is a setting of epsilon_greedy, not thompson"),
        ({"kind": "greedy", "temperature": 1.0}, "temperature",
         "'temperature' is a setting of softmax, not greedy"),
        ({"kind": "bandit"}, "kind", "Input should be"),
    ],
)  # fmt: skip
def test_a_bad_setting_is_named_by_its_field(
    exploration: dict[str, Any], field: str, message: str
) -> None:
    data = checkout_snapshot()
    data["channels"][1]["exploration"] = exploration
    with pytest.raises(SnapshotError) as caught:
        build_snapshot(data)
    assert caught.value.field == f"channels[1].exploration.{field}"
    assert message in caught.value.message


def test_settings_have_a_canonical_text_and_defaults() -> None:
    assert ExplorationSpec().text == "greedy"
    assert ExplorationSpec(kind="epsilon_greedy", epsilon=0.1).text == (
        "epsilon_greedy(epsilon=0.1,floor=0)"
    )
    assert ExplorationSpec(kind="thompson").text == "thompson(draws=200)"
    assert ExplorationSpec(kind="softmax", temperature=2.5).text == "softmax(temperature=2.5)"


# -- greedy stays as it was ---------------------------------------------------------------


def test_greedy_is_the_default_and_records_nothing_more(bank: Snapshot) -> None:
    data = bank_snapshot()
    for channel in data["channels"]:
        channel["exploration"] = {"kind": "greedy"}
    explicit = build_snapshot(data)
    req = request(customer=premium_36(), channel="email")
    d = decide(bank, req)
    assert d.exploration is None
    assert "exploration" not in d.to_dict()
    assert all(s.probability == 1.0 for p in d.placements for s in p.offers)
    again = decide(explicit, req, seed="any seed at all")
    assert again.to_dict(timings=False) == d.to_dict(timings=False)


def test_a_greedy_channel_ignores_the_seed(checkout: Snapshot) -> None:
    req = request(customer={"id": "guest-7"}, channel="pos", session_id="s-1",
                  store={"id": "S1", "timezone": "America/New_York"},
                  cart={"items": [{"sku": "STEAK-01", "category": "main_course", "price": 30}]})  # fmt: skip
    dicts = {str(decide(checkout, req, seed=s).to_dict(timings=False)) for s in ("a", "b", None)}
    assert len(dicts) == 1


# -- epsilon-greedy -----------------------------------------------------------------------


def test_epsilon_greedy_logs_the_greedy_choice_at_one_minus_epsilon_plus_epsilon_over_k() -> None:
    eps, k = 0.2, len(PRICES)
    snapshot = shop({"kind": "epsilon_greedy", "epsilon": eps})
    d = decide(snapshot, WEB, seed="one")
    probabilities = first_slot(d)
    assert list(probabilities) == ["o3", "o2", "o1", "o0"]  # rank order: the top first
    assert probabilities["o3"] == pytest.approx(1 - eps + eps / k, abs=1e-12)
    for other in ("o2", "o1", "o0"):
        assert probabilities[other] == pytest.approx(eps / k, abs=1e-12)
    [shown] = d.placements[0].offers
    assert shown.probability == probabilities[shown.offer]
    n = 4000
    top = chosen(snapshot, n)["o3"] / n
    expected = 1 - eps + eps / k
    assert abs(top - expected) < 4 * math.sqrt(expected * (1 - expected) / n)


def test_epsilon_greedy_floor_raises_every_other_candidate() -> None:
    d = decide(shop({"kind": "epsilon_greedy", "epsilon": 0.04, "floor": 0.05}), WEB, seed="x")
    probabilities = first_slot(d)
    assert [probabilities[o] for o in ("o2", "o1", "o0")] == pytest.approx([0.05] * 3)
    assert probabilities["o3"] == pytest.approx(0.85)
    # a floor above 1/k cannot hold for every candidate: they all get 1/k
    d = decide(shop({"kind": "epsilon_greedy", "epsilon": 0.04, "floor": 0.5}), WEB, seed="x")
    assert list(first_slot(d).values()) == pytest.approx([0.25] * 4)
    assert min(first_slot(d).values()) >= 0.25 - 1e-12


def test_epsilon_of_zero_is_greedy_and_of_one_is_uniform() -> None:
    greedy = decide(shop(), WEB).offers()
    zero = shop({"kind": "epsilon_greedy", "epsilon": 0.0})
    assert {tuple(decide(zero, WEB, seed=str(i)).offers()) for i in range(50)} == {tuple(greedy)}
    one = decide(shop({"kind": "epsilon_greedy", "epsilon": 1.0}), WEB, seed="u")
    assert list(first_slot(one).values()) == pytest.approx([0.25] * 4)


# -- softmax ------------------------------------------------------------------------------


def test_softmax_probabilities_follow_the_formula() -> None:
    temperature = 0.5
    d = decide(shop({"kind": "softmax", "temperature": temperature}), WEB, seed="s")
    assert d.exploration is not None
    slot = d.exploration.slots[0]
    scores = [score for _, score, _, _ in slot.candidates]
    weights = [math.exp(s / temperature) for s in scores]
    expected = [w / sum(weights) for w in weights]
    assert [q for _, _, _, q in slot.candidates] == pytest.approx(expected, rel=1e-12)
    assert scores == pytest.approx([p * 0.05 for p in (40, 30, 20, 10)])


def test_softmax_keeps_to_the_top_priority_available() -> None:
    snapshot = shop({"kind": "softmax", "temperature": 100.0}, slots=3,
                    priorities=(60, 60, 40, 40))  # fmt: skip
    d = decide(snapshot, WEB, seed="s")
    assert d.exploration is not None
    first, second, third = d.exploration.slots
    assert [q > 0 for *_, q in first.candidates] == [True, True, False, False]
    assert set(d.offers()[:2]) == {"o0", "o1"}  # both of priority 60 before any of 40
    assert [q > 0 for *_, q in second.candidates] == [True, False, False]
    assert [q > 0 for *_, q in third.candidates] == [True, True]


# -- Thompson sampling --------------------------------------------------------------------


def _beta_win(a1: float, b1: float, a2: float, b2: float) -> float:
    """P(X1 > X2) for X1 ~ Beta(a1, b1), X2 ~ Beta(a2, b2), by quadrature."""
    value, _ = integrate.quad(
        lambda x: stats.beta.pdf(x, a1, b1) * stats.beta.cdf(x, a2, b2), 0, 1, limit=200
    )
    return float(value)


def test_thompson_probabilities_approach_the_analytic_two_arm_values() -> None:
    draws = 10_000
    attach = [{"offer": "o0", "shown": 40, "accepted": 9},
              {"offer": "o1", "shown": 60, "accepted": 11}]  # fmt: skip
    snapshot = shop({"kind": "thompson", "draws": draws}, prices=(25.0, 25.0), attach=attach)
    (a1, b1), (a2, b2) = (snapshot.attach.offer[o].posterior() for o in ("o0", "o1"))
    truth = _beta_win(a1, b1, a2, b2)
    assert 0.2 < truth < 0.8  # a real contest
    probabilities = first_slot(decide(snapshot, WEB, seed="t"))
    assert sum(probabilities.values()) == pytest.approx(1.0)
    assert probabilities["o0"] == pytest.approx(
        truth, abs=4 * math.sqrt(truth * (1 - truth) / draws)
    )


def test_thompson_probabilities_sum_to_one_in_every_slot(bank: Snapshot) -> None:
    data = bank_snapshot()
    for channel in data["channels"]:
        channel["exploration"] = {"kind": "thompson"}
    snapshot = build_snapshot(data)
    customer = premium_36(id="c-2", attributes={"tier": "gold", "tenureMonths": 12,
                                                "hasCreditCard": False, "balance": 50000.0})  # fmt: skip
    seen = 0
    for channel in ("email", "in_app", "branch"):
        for i in range(20):
            d = decide(snapshot, request(customer=customer, channel=channel), seed=str(i))
            assert d.exploration is not None
            for slot in d.exploration.slots:
                assert sum(q for *_, q in slot.candidates) == pytest.approx(1.0)
                assert slot.probability >= 1 / 200
                seen += 1
    assert seen


def test_thompson_with_no_uncertainty_left_is_greedy() -> None:
    """Counts in the millions: every draw ranks as the estimates do, whichever estimate
    (offer, offer × channel, rule × offer) the score stage took."""
    big = 10_000_000
    data: dict[str, Any] = {
        "version": "certain-1",
        "products": [{"sku": f"P{i}", "category": "c", "price": 10.0} for i in range(3)],
        "offers": [{"id": f"o{i}", "sku": f"P{i}"} for i in range(3)],
        "rules": [{"id": "r", "trigger": 'channel == "web"', "offers": ["o0", "o1", "o2"]}],
        "channels": [{"id": "web", "placements": [{"id": "main", "slots": 3}],
                      "exploration": {"kind": "thompson"}}],
        "guardrails": {"min_score": 0.0, "max_price_share": None},
        "attach": [
            {"offer": "o0", "shown": big, "accepted": big // 10},  # 10% …
            {"offer": "o0", "rule": "r", "shown": big, "accepted": big // 2},  # … 50% by r
            {"offer": "o1", "shown": big, "accepted": big // 5},  # 20% …
            {"offer": "o1", "channel": "web", "shown": big, "accepted": big // 3},  # 33% on web
            {"offer": "o2", "shown": big, "accepted": big // 4},  # 25%
        ],
    }  # fmt: skip
    greedy = copy.deepcopy(data)
    del greedy["channels"][0]["exploration"]
    expected = decide(build_snapshot(greedy), WEB).offers()
    assert expected == ["o0", "o1", "o2"]
    snapshot = build_snapshot(data)
    for i in range(20):
        d = decide(snapshot, WEB, seed=str(i))
        assert d.offers() == expected
        assert [s.probability for s in d.placements[0].offers] == [1.0, 1.0, 1.0]


def test_thompson_draws_tau_from_the_customers_interval() -> None:
    """incremental value = τ × margin × match: with equal margins, which offer wins a draw
    is which τ is drawn larger, P = Φ(Δτ ÷ √(σ₁² + σ₂²))."""
    draws = 10_000
    snapshot = shop({"kind": "thompson", "draws": draws}, prices=(25.0, 25.0),
                    scoring={"strategy": "incremental_value"})  # fmt: skip
    cate = {"o0": 0.05, "o1": 0.04}
    fixed = CustomerState(id="c-1", cate=cate)
    assert first_slot(decide(snapshot, WEB, fixed, seed="t")) == {"o0": 1.0, "o1": 0.0}
    spread = CustomerState(id="c-1", cate=cate,
                           cate_intervals={"o0": (0.01, 0.09), "o1": (-0.02, 0.10)})  # fmt: skip
    sd0, sd1 = 0.08 / (2 * 1.959963984540054), 0.12 / (2 * 1.959963984540054)
    truth = float(stats.norm.cdf(0.01 / math.hypot(sd0, sd1)))
    probabilities = first_slot(decide(snapshot, WEB, spread, seed="t"))
    assert probabilities["o0"] == pytest.approx(
        truth, abs=4 * math.sqrt(truth * (1 - truth) / draws)
    )


def test_a_bad_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="lower bound"):
        CustomerState(cate={"o0": 0.1}, cate_intervals={"o0": (0.2, 0.1)})


def test_the_draws_score_as_the_strategies_do() -> None:
    """Each strategy's scoring of draws against its scalar score, with τ drawn or fixed."""
    snapshot = shop(prices=(10.0, 30.0, 70.0))
    rng = np.random.default_rng(3)
    p = rng.random(50)
    tau = rng.uniform(-0.2, 0.2, size=50)
    for name in STRATEGIES:
        strategy = STRATEGIES[name]
        for weights in ({"uplift": 0.3}, {"uplift": 0.0}):
            spec = ScoringSpec(strategy=name, weights=weights)
            for offer, match in zip(snapshot.offers.values(), (0.1, 0.55, 1.0), strict=True):
                drawn = strategy.draws(spec, offer, p, match, tau)
                fixed = strategy.draws(spec, offer, p, match, 0.05)
                assert drawn.shape == fixed.shape == p.shape
                for j in range(50):
                    one = strategy.score(spec, offer, float(p[j]), match, float(tau[j]))
                    assert one is not None
                    assert drawn[j] == pytest.approx(one, rel=1e-12), name
                    assert fixed[j] == pytest.approx(
                        strategy.score(spec, offer, float(p[j]), match, 0.05), rel=1e-12
                    )


# -- what every exploring decision records --------------------------------------------------


@pytest.mark.parametrize(
    "exploration",
    [{"kind": "epsilon_greedy", "epsilon": 0.3}, {"kind": "softmax", "temperature": 0.5},
     {"kind": "thompson"}],
)  # fmt: skip
def test_an_exploring_decision_records_its_choices(exploration: dict[str, Any]) -> None:
    snapshot = shop(exploration, slots=2)
    d = decide(snapshot, WEB, seed="decision-1")
    assert d.exploration is not None
    out = d.to_dict()["exploration"]
    assert out["kind"] == exploration["kind"]
    assert out["strategy"] == f"expected_value+{ExplorationSpec(**exploration).text}"
    assert out["strategy_version"].startswith("explore-1:")
    assert out["seed"] == "decision-1"
    ranks = {o: r for r, o in enumerate(["o3", "o2", "o1", "o0"], start=1)}
    for slot, shown in zip(out["slots"], d.placements[0].offers, strict=True):
        assert slot["placement"] == "main"
        assert slot["offer"] == shown.offer
        assert slot["probability"] == shown.probability
        assert shown.rank == ranks[shown.offer]
        by_offer = {c["offer"]: c for c in slot["candidates"]}
        assert by_offer[shown.offer]["probability"] == shown.probability
        assert by_offer[shown.offer]["score"] == shown.score
        assert by_offer[shown.offer]["p"] == shown.p
    assert [s["slot"] for s in out["slots"]] == [1, 2]
    assert len(out["slots"][1]["candidates"]) == 3  # the first slot's offer has gone


def test_the_strategy_version_changes_with_the_settings_only() -> None:
    def version(exploration: dict[str, Any]) -> str:
        d = decide(shop(exploration), WEB, seed="v")
        assert d.exploration is not None
        return d.exploration.strategy_version

    base = version({"kind": "epsilon_greedy", "epsilon": 0.1})
    assert version({"kind": "epsilon_greedy", "epsilon": 0.1, "floor": 0.0}) == base
    assert version({"kind": "epsilon_greedy", "epsilon": 0.2}) != base
    assert version({"kind": "thompson"}) == version({"kind": "thompson", "draws": 200})


# -- reproducibility ------------------------------------------------------------------------

KINDS = [{"kind": "epsilon_greedy", "epsilon": 0.5}, {"kind": "softmax", "temperature": 3.0},
         {"kind": "thompson", "draws": 50}]  # fmt: skip


@pytest.mark.parametrize("exploration", KINDS)
def test_the_same_seed_gives_the_same_decision(exploration: dict[str, Any]) -> None:
    attach = [{"offer": f"o{i}", "shown": 30, "accepted": 3 + i} for i in range(4)]
    snapshot = shop(exploration, slots=3, attach=attach)
    rebuilt = shop(exploration, slots=3, attach=attach)
    for i in range(30):
        first = decide(snapshot, WEB, seed=f"id-{i}").to_dict(timings=False)
        assert decide(snapshot, WEB, seed=f"id-{i}").to_dict(timings=False) == first
        assert decide(rebuilt, WEB, seed=f"id-{i}").to_dict(timings=False) == first
    outcomes = {tuple(decide(snapshot, WEB, seed=f"id-{i}").offers()) for i in range(30)}
    assert len(outcomes) > 1  # different seeds, different choices


def test_without_a_seed_the_request_seeds_the_decision() -> None:
    snapshot = shop({"kind": "epsilon_greedy", "epsilon": 1.0})
    d = decide(snapshot, WEB)
    assert d.exploration is not None
    assert d.exploration.seed == f"c-1\x1fNone\x1f{WEB.at.isoformat()}\x1fweb"  # type: ignore[union-attr]
    assert decide(snapshot, WEB).to_dict(timings=False) == d.to_dict(timings=False)


@pytest.mark.parametrize("exploration", KINDS)
def test_choices_follow_the_logged_probabilities(exploration: dict[str, Any]) -> None:
    """Over many seeds, how often each offer is chosen in the first slot matches the
    probability logged for it (a chi-square test at the 0.1% level)."""
    attach = [{"offer": f"o{i}", "shown": 30, "accepted": 2 + 2 * i} for i in range(4)]
    snapshot = shop(exploration, prices=(20.0, 18.0, 16.0, 15.0), attach=attach)
    n = 3000
    logged = first_slot(decide(snapshot, WEB, seed="decision-0"))
    counts = chosen(snapshot, n)
    for i in range(n):  # the candidates, and so their probabilities, are the same each time
        if i % 500 == 0:
            assert first_slot(decide(snapshot, WEB, seed=f"decision-{i}")) == logged
    support = [o for o, q in logged.items() if q > 0]
    assert len(support) >= 3
    assert set(counts) <= set(support)
    observed = [counts[o] for o in support]
    expected = [n * logged[o] for o in support]
    statistic = sum((obs - exp) ** 2 / exp for obs, exp in zip(observed, expected, strict=True))
    assert statistic < stats.chi2.ppf(0.999, df=len(support) - 1), (observed, expected)


def test_pick_walks_the_shares() -> None:
    assert pick([0.5, 0.25, 0.25], 0.49) == 0
    assert pick([0.5, 0.25, 0.25], 0.5) == 1
    assert pick([0.5, 0.0, 0.5], 0.6) == 2
    assert pick([0.5, 0.5, 0.0], 1.0) == 1  # rounding beyond the sum: the last possible


# -- the holdout ----------------------------------------------------------------------------


def test_the_control_group_gets_the_fallback_and_logs_what_exploring_chose(bank: Snapshot) -> None:
    data = bank_snapshot()
    for channel in data["channels"]:
        channel["exploration"] = {"kind": "epsilon_greedy", "epsilon": 1.0}
    snapshot = build_snapshot(data)
    holdout = snapshot.holdout
    assert holdout is not None
    control_id = next(f"c-{i}" for i in range(1000)
                      if assignment(holdout.experiment, f"c-{i}") < holdout.share)  # fmt: skip
    req = request(customer=premium_36(id=control_id), channel="email")
    greedy, exploring = decide(bank, req), decide(snapshot, req, seed="d-1")
    assert greedy.control
    assert exploring.control
    assert exploring.placements == greedy.placements  # the fallback, as before
    assert exploring.exploration is not None
    assert exploring.exploration.slots
    counterfactual = [s for p in exploring.counterfactual for s in p.offers]
    assert [s.probability for s in counterfactual] == [
        slot.probability for slot in exploring.exploration.slots
    ]
