"""Properties over random requests and histories (hypothesis, derandomized: the same
examples on every run): an exploring strategy shows only what passed every filter
(qualification, contact policies, scoring, gates), never twice, within placements, mutual
exclusion and the request's limit; the control group is untouched."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nextoffer.core.decision import CustomerState, Decision, Snapshot, build_snapshot, decide
from nextoffer.core.request import Request

from .test_properties import SNAPSHOTS, cases

KINDS = {
    "epsilon_greedy": {"kind": "epsilon_greedy", "epsilon": 1.0},
    "softmax": {"kind": "softmax", "temperature": 1000.0},
    "thompson": {"kind": "thompson", "draws": 50},
}


def _loose(data: dict[str, Any]) -> dict[str, Any]:
    """The scenario with a minimal score of 0.01 (so that more candidates pass the gates
    and slots have more to choose among); the price-delta cap stays."""
    data = copy.deepcopy(data)
    data["guardrails"] = {**data.get("guardrails", {}), "min_score": 0.01}
    return data


def _exploring(data: dict[str, Any], exploration: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for channel in data["channels"]:
        channel["exploration"] = exploration
    return data


GREEDY = {name: build_snapshot(_loose(data)) for name, data in SNAPSHOTS.items()}
EXPLORING = {
    (name, kind): build_snapshot(_exploring(_loose(data), exploration))
    for name, data in SNAPSHOTS.items()
    for kind, exploration in KINDS.items()
}
FILTERS = ("candidates", "qualify", "policies", "score", "gates")


def _shown(d: Decision) -> list[tuple[str, str]]:
    placements = d.counterfactual if d.control else d.placements
    return [(p.placement, s.offer) for p in placements for s in p.offers if not s.fallback]


def _check(greedy: Decision, d: Decision, snapshot: Snapshot, request: Request) -> None:
    """What an exploring decision ``d`` may show, against the greedy one (trace on)."""
    filtered = {offer for offer, stage, _ in greedy.trace.drops if stage in FILTERS}
    passed = {s.offer for p in greedy.placements + greedy.counterfactual for s in p.offers}
    passed |= {offer for offer, stage, _ in greedy.trace.drops if stage == "place"}
    shown = _shown(d)
    offers = [offer for _, offer in shown]
    assert not set(offers) & filtered
    assert set(offers) <= passed
    assert len(offers) == len(set(offers))  # never twice
    if request.limit is not None:
        assert len(d.offers()) <= request.limit
    for placement, offer in shown:
        allowed = snapshot.offers[offer].placements
        assert allowed is None or placement in allowed
    for groups in snapshot.exclusions.values():
        for group in groups:
            members = [o for o in offers if group in snapshot.exclusions.get(o, ())]
            assert len(members) <= 1
    # the holdout: the same customers in the control group, with the same fallback
    assert d.control == greedy.control
    if d.control:
        assert d.placements == greedy.placements
    # every offer shown has its probability, and it is the one its slot recorded
    if d.exploration is not None:
        placements = d.counterfactual if d.control else d.placements
        chosen = [s for p in placements for s in p.offers if not s.fallback]
        if d.cascade is None:
            assert [s.probability for s in chosen] == [c.probability for c in d.exploration.slots]
        for slot in d.exploration.slots:
            assert 0 < slot.probability <= 1
            assert abs(sum(q for *_, q in slot.candidates) - 1) < 1e-9


@settings(max_examples=150, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(cases(), st.sampled_from(sorted(KINDS)), st.integers(0, 10**6))
def test_exploring_never_shows_what_a_filter_took_out(
    case: tuple[str, Request, CustomerState], kind: str, seed: int
) -> None:
    name, request, state = case
    snapshot = EXPLORING[(name, kind)]
    greedy = decide(GREEDY[name], request, state, detail=True)
    d = decide(snapshot, request, state, detail=True, seed=str(seed))
    _check(greedy, d, snapshot, request)


# A shop where many candidates reach the place stage, and every filter has work: an
# eligibility and a fit condition, caps and a cooldown, a minimal score, the price-delta
# cap, a placement restriction, mutual exclusion, priorities.
CROWD: dict[str, Any] = {
    "version": "crowd-1",
    "customer_schema": {"attributes": {"tier": "string", "age": "int"}},
    "products": [{"sku": f"P{i}", "category": f"c{i % 2}", "price": 5.0 + 6 * i}
                 for i in range(10)] + [{"sku": "X", "category": "x", "price": 10.0}],
    "offers": [
        {"id": f"o{i}", "sku": f"P{i}", "open": True, "priority": 60 if i >= 8 else 50,
         **({"eligibility": 'customer.tier == "gold"'} if i == 1 else {}),
         **({"fit": "customer.age >= 30"} if i == 2 else {}),
         **({"placements": ["side"]} if i == 3 else {})}
        for i in range(10)
    ],
    "policies": [
        {"id": "weekly", "type": "frequency_cap", "limit": 1, "period": "week",
         "scope": {"level": "offer", "values": ["o0", "o5", "o9"]}},
        {"id": "cool", "type": "cooldown", "hours": 24, "scope": {"level": "category",
                                                                  "value": "c1"}},
        {"id": "declines", "type": "outcome_suppression", "declines": 1, "days": 30},
        {"id": "one-of", "type": "mutual_exclusion", "offers": ["o4", "o6", "o8"]},
    ],
    "channels": [{"id": "web", "placements": [{"id": "main", "slots": 2},
                                              {"id": "side", "slots": 2}]}],
    "guardrails": {"min_score": 0.8, "max_price_share": 1.5},
    "holdout": {"share": 0.2},
    "attach": [{"offer": f"o{i}", "shown": 20 + 7 * i, "accepted": 1 + i} for i in range(10)],
}  # fmt: skip
CROWD_GREEDY = build_snapshot(CROWD)
CROWD_EXPLORING = {kind: build_snapshot(_exploring(CROWD, e)) for kind, e in KINDS.items()}
CROWD_AT = dt.datetime(2026, 3, 8, 12, 0, tzinfo=dt.UTC)


@st.composite
def crowd_cases(draw: st.DrawFn) -> tuple[Request, CustomerState]:
    request = Request.model_validate({
        "customer": {"id": f"c-{draw(st.integers(0, 30))}",
                     "attributes": {"tier": draw(st.sampled_from(["gold", "basic"])),
                                    "age": draw(st.integers(18, 60))}},
        "cart": {"items": [{"sku": "X", "category": "x",
                            "price": draw(st.sampled_from([10.0, 25.0, 60.0]))}]},
        "channel": "web",
        "session_id": "s-1",
        "at": CROWD_AT.isoformat(),
        "limit": draw(st.none() | st.integers(1, 4)),
    })  # fmt: skip
    history = draw(
        st.lists(
            st.fixed_dictionaries({
                "offer": st.sampled_from([f"o{i}" for i in range(10)]),
                "channel": st.just("web"),
                "outcome": st.sampled_from(["shown", "shown", "declined"]),
                "at": st.integers(1, 60 * 24 * 10).map(
                    lambda m: (CROWD_AT - dt.timedelta(minutes=m)).isoformat()),
            }),
            max_size=6,
        )
    )  # fmt: skip
    return request, CustomerState.model_validate({"history": history})


@settings(max_examples=200, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(crowd_cases(), st.sampled_from(sorted(KINDS)), st.integers(0, 10**6))
def test_exploring_a_crowded_shop_never_shows_what_a_filter_took_out(
    case: tuple[Request, CustomerState], kind: str, seed: int
) -> None:
    request, state = case
    greedy = decide(CROWD_GREEDY, request, state, detail=True)
    d = decide(CROWD_EXPLORING[kind], request, state, detail=True, seed=str(seed))
    _check(greedy, d, CROWD_EXPLORING[kind], request)


@settings(max_examples=60, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(cases(), st.sampled_from(sorted(KINDS)), st.integers(0, 10**6))
def test_the_same_seed_gives_the_same_exploring_decision(
    case: tuple[str, Request, CustomerState], kind: str, seed: int
) -> None:
    name, request, state = case
    first = decide(EXPLORING[(name, kind)], request, state, seed=str(seed))
    rebuilt = build_snapshot(_exploring(_loose(SNAPSHOTS[name]), KINDS[kind]))
    again = decide(rebuilt, request, state, seed=str(seed))
    assert first.to_dict(timings=False) == again.to_dict(timings=False)
