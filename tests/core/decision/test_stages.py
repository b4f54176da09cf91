"""Each stage on small snapshots: policies, scoring, gates, placement, holdout, errors."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from nextoffer.core.decision import (
    STAGES,
    DecisionError,
    Snapshot,
    assignment,
    build_snapshot,
    decide,
)
from nextoffer.core.decision.scoring import prie
from nextoffer.core.decision.spec import ScoringSpec

from .conftest import AT, request, state


def shop(**changes: Any) -> Snapshot:
    """Four open products on channel 'web' (EV scoring), with no rules."""
    data: dict[str, Any] = {
        "version": "t-1",
        "products": [
            {"sku": f"P{i}", "category": "gadgets" if i < 2 else "books", "price": 100.0, "cost": 100.0 - 10 * (i + 1)}
            for i in range(4)
        ],
        "offers": [{"id": f"o{i}", "sku": f"P{i}", "open": True} for i in range(4)],
        "channels": [{"id": "web", "placements": [{"id": "web-top"}, {"id": "web-side", "slots": 2}]}],
        "attach": [{"offer": f"o{i}", "shown": 100, "accepted": 10} for i in range(4)],
    }  # fmt: skip
    for key, value in changes.items():
        data[key] = value
    return build_snapshot(data)


def web(**fields: Any) -> Any:
    return request(customer={"id": "c-1"}, channel="web", **fields)


def contacts(
    offer: str, outcome: str, hours_ago: list[float], **extra: Any
) -> list[dict[str, Any]]:
    return [{"offer": offer, "outcome": outcome, "channel": "web",
             "at": (AT - dt.timedelta(hours=h)).isoformat(), **extra} for h in hours_ago]  # fmt: skip


def test_ev_ranking_fills_placements_in_order_without_duplicates() -> None:
    d = decide(shop(), web())
    assert [(p.placement, [s.offer for s in p.offers]) for p in d.placements] == [
        ("web-top", ["o3"]),
        ("web-side", ["o2", "o1"]),
    ]
    assert [s.rank for p in d.placements for s in p.offers] == [1, 2, 3]
    assert d.trace.reasons("o0") == ["place: no free slot in the requested placements"]


def test_requested_placements_slots_and_limit() -> None:
    d = decide(shop(), web(placements=[{"key": "web-side", "slots": 1}]))
    assert [(p.placement, [s.offer for s in p.offers]) for p in d.placements] == [
        ("web-side", ["o3"])
    ]
    assert decide(shop(), web(limit=2)).offers() == ["o3", "o2"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"channel": "fax"}, "channel", "unknown channel 'fax' (known: web)"),
        ({"placements": ["web-bottom"]}, "placements[0]", "unknown placement 'web-bottom'"),
        (
            {"placements": [{"key": "web-top", "slots": 3}]},
            "placements[0].slots",
            "has 1 slots, asked for 3",
        ),
    ],
)
def test_requests_that_cannot_be_decided_name_the_field(
    fields: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(DecisionError) as info:
        decide(shop(), request(**{"customer": {"id": "c-1"}, "channel": "web", **fields}))
    assert info.value.field == field
    assert message in info.value.message


def test_a_decision_needs_a_time() -> None:
    from nextoffer.core.request import Request

    with pytest.raises(DecisionError) as info:
        decide(shop(), Request.model_validate({"channel": "web"}))
    assert info.value.field == "at"
    assert decide(shop(), Request.model_validate({"channel": "web"}), now=AT).offers()


def test_frequency_cap_counts_each_offer_in_its_window() -> None:
    snap = shop(policies=[{"id": "fc", "type": "frequency_cap", "limit": 2, "period": "week"}])
    s = state(history=contacts("o3", "shown", [1, 30]) + contacts("o2", "shown", [200]))
    d = decide(snap, web(), s)
    assert "o3" not in d.offers()
    assert "o2" in d.offers()  # its contact is older than a week
    assert d.trace.reasons("o3") == [
        "policies: frequency_cap: 2 of 2 contacts with this offer this week (scope: global)"
    ]


def test_cooldown_and_channel_scope() -> None:
    snap = shop(policies=[{"id": "cd", "type": "cooldown", "hours": 24,
                           "scope": {"level": "channel", "value": "web"}}])  # fmt: skip
    s = state(
        history=contacts("o3", "shown", [5.5]) + contacts("o2", "shown", [2], channel="email")
    )
    d = decide(snap, web(), s)
    assert d.trace.reasons("o3") == [
        "policies: cooldown: last contact 5.5 h ago, needs 24 h (scope: channel web)"
    ]
    assert "o2" in d.offers()  # contacted on another channel


def test_outcome_suppression_after_declines() -> None:
    snap = shop(policies=[{"id": "os", "type": "outcome_suppression", "declines": 2, "days": 14}])
    s = state(history=contacts("o3", "declined", [10, 100]) + contacts("o2", "declined", [10, 400]))
    d = decide(snap, web(), s)
    assert d.trace.reasons("o3") == [
        "policies: outcome_suppression: declined 2 times in the last 14 days (scope: global)"
    ]
    assert "o2" in d.offers()


def test_category_total_cap_and_do_not_contact() -> None:
    snap = shop(policies=[
        {"id": "tc", "type": "total_cap", "limit": 1, "period": "day",
         "scope": {"level": "category", "value": "books"}},
        {"id": "dnc", "type": "do_not_contact", "priority": 100},
    ])  # fmt: skip
    s = state(history=contacts("o2", "shown", [3]), opt_outs=["o1"])
    d = decide(snap, web(), s)
    assert d.offers() == ["o0"]
    assert d.trace.reasons("o3") == [
        "policies: total_cap: 1 of 1 contacts today (scope: category books)"
    ]
    assert d.trace.reasons("o1") == [
        "policies: do_not_contact: customer opted out of o1 (scope: global)"
    ]
    everything = decide(snap, web(), state(opt_outs=["all"]))
    assert everything.offers() == []


def test_mutual_exclusion_keeps_the_best_ranked() -> None:
    snap = shop(policies=[{"id": "one-gadget", "type": "mutual_exclusion", "offers": ["o3", "o2"]}])
    d = decide(snap, web())
    assert d.offers() == ["o3", "o1", "o0"]
    assert d.trace.reasons("o2") == [
        "place: mutual_exclusion: o3 is already offered (policy one-gadget)"
    ]


def test_atomic_coupling_empties_the_channel_and_records_the_cascade() -> None:
    channels = [{"id": "web", "coupling": "atomic",
                 "placements": [{"id": "web-top"}, {"id": "web-side", "slots": 2}]}]  # fmt: skip
    offers = [
        {"id": f"o{i}", "sku": f"P{i}", "open": True, "placements": ["web-side"]} for i in range(4)
    ]
    d = decide(shop(channels=channels, offers=offers), web())
    assert d.offers() == []
    assert d.cascade == (
        "atomic coupling on channel web: placement web-top stayed empty, so every placement is emptied"
    )
    assert d.trace.reasons("o3") == [f"place: {d.cascade}"]
    # partial coupling fills what it can
    partial = [{**channels[0], "coupling": "partial"}]
    assert decide(shop(channels=partial, offers=offers), web()).offers() == ["o3", "o2"]


def test_fallback_offer_fills_an_empty_placement() -> None:
    channels = [{"id": "web", "placements": [{"id": "web-top", "fallback_offer": "help"},
                                             {"id": "web-side", "slots": 2}]}]  # fmt: skip
    offers = [
        *(
            {"id": f"o{i}", "sku": f"P{i}", "open": True, "placements": ["web-side"]}
            for i in range(4)
        ),
        {"id": "help", "kind": "action", "value": 0.0},
    ]
    d = decide(shop(channels=channels, offers=offers), web())
    [top, side] = d.placements
    assert [(s.offer, s.fallback, s.score) for s in top.offers] == [("help", True, None)]
    assert [s.offer for s in side.offers] == ["o3", "o2"]


def test_min_score_gate_is_in_the_strategys_unit() -> None:
    d = decide(shop(guardrails={"min_score": 2.5}), web())
    # EV = p × margin with p = (10 + 1) / (100 + 20) = 0.0917: margins 10..40 give 0.92..3.67
    assert d.offers() == ["o3", "o2"]
    assert d.trace.reasons("o1") == ["gates: min_score: score 1.999 < 2.5 (money)"]


def test_incremental_value_needs_tau() -> None:
    channels = [{"id": "web", "scoring": {"strategy": "incremental_value", "min_score": 0.0},
                 "placements": [{"id": "web-top", "slots": 4}]}]  # fmt: skip
    uplift = [
        {"offer": "o0", "tau": 0.2},
        {"offer": "o3", "tau": 0.02},
        {"offer": "o2", "tau": -0.1},
    ]
    d = decide(shop(channels=channels, uplift=uplift), web())
    # τ × margin: o0 0.2 × 10 = 2 > o3 0.02 × 40 = 0.8; o2 is negative (−0.1 × 30)
    assert d.offers() == ["o0", "o3"]
    assert d.trace.reasons("o1") == ["score: incremental_value: no uplift estimate (τ)"]
    assert d.trace.reasons("o2") == ["gates: min_score: score -3 < 0 (money)"]


def test_prie_with_zero_uplift_weight_is_plain_prie() -> None:
    plain = ScoringSpec.model_validate({"strategy": "prie", "weights": {"uplift": 0.0}})
    w = plain.weights
    for tau in (None, -0.5, 0.0, 0.3):
        got = prie(plain, p=0.3, match=0.55, impact=0.2, emphasis=0.7, tau=tau)
        expected = 0.3**w.propensity * 0.55**w.relevance * 0.2**w.impact * 0.7**w.emphasis
        assert got == expected
    with_uplift = ScoringSpec.model_validate({"strategy": "prie", "weights": {"uplift": 0.5}})
    base = prie(plain, p=0.3, match=1, impact=0.2, emphasis=0.7, tau=None)
    assert math.isclose(prie(with_uplift, p=0.3, match=1, impact=0.2, emphasis=0.7, tau=0.1), base)
    assert math.isclose(
        prie(with_uplift, p=0.3, match=1, impact=0.2, emphasis=0.7, tau=0.0), base * 0.5**0.5
    )


def test_attach_rate_for_the_rule_then_the_channel_then_the_offer() -> None:
    snapshot = shop(attach=[
        {"offer": "o0", "shown": 1000, "accepted": 100},
        {"offer": "o0", "channel": "web", "shown": 1000, "accepted": 400},
    ])  # fmt: skip
    o0 = snapshot.offers["o0"]
    assert o0.p == pytest.approx(snapshot.attach.offer["o0"].p)
    assert o0.channel_p["web"] == pytest.approx(snapshot.attach.channel[("o0", "web")].p)
    assert o0.channel_p["web"] > 0.39 > 0.26 > o0.p > 0.24  # 500 of 2000 overall


def test_match_conditions_are_a_soft_multiplier() -> None:
    offers = [{"id": f"o{i}", "sku": f"P{i}", "open": True} for i in range(4)]
    offers[3]["match"] = [{"condition": 'customer.segments contains "readers"', "weight": 3},
                          {"condition": "cart.total > 10", "weight": 1}]  # fmt: skip
    snap = shop(offers=offers)
    d = decide(snap, web())
    top = d.placements[0].offers[0]
    assert top.offer == "o2"  # o3's EV 40 × p is cut to 0.1 × it: no match condition holds
    reader = decide(snap, request(customer={"id": "c-1", "segments": ["readers"]}, channel="web"))
    assert reader.placements[0].offers[0].offer == "o3"
    assert reader.placements[0].offers[0].score == pytest.approx(
        (0.1 + 0.9 * 3 / 4) * 40 * snap.offers["o3"].p
    )


def test_holdout_is_deterministic_and_records_what_control_would_have_got() -> None:
    snap = shop(holdout={"experiment": "hold-1", "share": 0.1, "fallback_offer": "o0"})
    ids = [f"c-{i}" for i in range(4000)]
    control = [c for c in ids if assignment("hold-1", c) < 0.1]
    assert 0.085 < len(control) / len(ids) < 0.115
    d = decide(snap, request(customer={"id": control[0]}, channel="web"))
    assert d.control
    assert d.experiment == "hold-1"
    assert d.offers() == ["o0"]
    assert [s.offer for p in d.counterfactual for s in p.offers] == ["o3", "o2", "o1"]
    treated = decide(
        snap, request(customer={"id": next(c for c in ids if c not in control)}, channel="web")
    )
    assert not treated.control
    assert treated.counterfactual == ()
    assert decide(snap, request(customer={"id": control[0]}, channel="web")).to_dict(
        timings=False
    ) == d.to_dict(timings=False)


def test_trace_detail_can_be_sampled_down() -> None:
    d = decide(shop(), web(), detail=False)
    assert not d.trace.detailed
    assert d.trace.drops == ()
    assert [s.stage for s in d.trace.stages] == [*STAGES, "total"]
    assert STAGES == (
        "candidates",
        "qualify",
        "policies",
        "score",
        "gates",
        "rank",
        "place",
        "holdout",
    )
    assert d.offers() == decide(shop(), web(), detail=True).offers()
    sampled = shop(trace_sample_rate=0.0)
    assert not decide(sampled, web()).trace.detailed


def test_a_scope_can_name_several_channels() -> None:
    channels = [
        {"id": "web", "placements": [{"id": "web-top"}, {"id": "web-side", "slots": 2}]},
        {"id": "app", "placements": [{"id": "app-top"}]},
        {"id": "kiosk", "placements": [{"id": "kiosk-top"}]},
    ]
    policies = [{"id": "tc", "type": "total_cap", "limit": 1, "period": "week",
                 "scope": {"level": "channel", "values": ["web", "app"]}}]  # fmt: skip
    snap = shop(channels=channels, policies=policies)
    s = state(history=contacts("o1", "shown", [5], channel="app"))
    assert decide(snap, web(), s).offers() == []
    assert decide(snap, request(customer={"id": "c-1"}, channel="kiosk"), s).offers() == ["o3"]
    with pytest.raises(Exception, match="give 'value' or 'values', not both"):
        shop(policies=[{"id": "x", "type": "total_cap", "limit": 1, "period": "day",
                        "scope": {"level": "channel", "value": "web", "values": ["app"]}}])  # fmt: skip
