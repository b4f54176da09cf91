"""Properties over random requests and histories: reproducible, and every candidate accounted for."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nextoffer.core.decision import CustomerState, Seen, build_snapshot, decide
from nextoffer.core.request import Request
from nextoffer.scenarios import bank_snapshot, checkout_snapshot

SNAPSHOTS = {"bank": bank_snapshot(), "checkout": checkout_snapshot()}
BUILT = {name: build_snapshot(data) for name, data in SNAPSHOTS.items()}
CHANNELS = {"bank": ["email", "in_app", "branch"], "checkout": ["pos", "kiosk"]}
OFFERS = {name: sorted(s.offers) for name, s in BUILT.items()}
SKUS = [("STEAK-01", "main_course"), ("RED-WINE-01", "wine"), ("DESSERT-01", "dessert"),
        ("COFFEE-01", "drinks"), ("X-1", "misc")]  # fmt: skip
BASE = dt.datetime(2026, 3, 8, 12, 0, tzinfo=dt.UTC)


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, Request, CustomerState]:
    name = draw(st.sampled_from(["bank", "checkout"]))
    at = BASE + dt.timedelta(minutes=draw(st.integers(-3000, 3000)))
    items = draw(st.lists(st.sampled_from(SKUS), max_size=4))
    customer: dict[str, Any] = {
        "id": draw(st.sampled_from(["c-1", "c-2", "c-5", "c-7", "guest"])),
        "attributes": {
            "tier": draw(st.sampled_from(["premium", "gold", "basic"])),
            "tenureMonths": draw(st.integers(0, 60)),
            "hasCreditCard": draw(st.booleans()),
            "balance": draw(st.sampled_from([0.0, 5000.0, 60000.0])),
        }
        if name == "bank"
        else {"loyalty": draw(st.sampled_from(["gold", "none"]))},
        "segments": draw(st.lists(st.sampled_from(["VIP", "young"]), max_size=2, unique=True)),
        "holdings": draw(
            st.lists(
                st.sampled_from(["checking", "mortgage", "credit-card"]), max_size=2, unique=True
            )
        ),
    }
    request = Request.model_validate({
        "customer": customer,
        "cart": {"items": [{"sku": s, "category": c, "price": 100.0 * (i + 1)} for i, (s, c) in enumerate(items)]},
        "channel": draw(st.sampled_from(CHANNELS[name])),
        "store": {"id": "S1", "timezone": draw(st.sampled_from(["America/New_York", "Europe/Paris", "UTC"]))},
        "session_id": draw(st.sampled_from(["s-1", "s-2"])),
        "at": at.isoformat(),
        "limit": draw(st.none() | st.integers(1, 3)),
    })  # fmt: skip
    history = draw(
        st.lists(
            st.fixed_dictionaries({
                "offer": st.sampled_from(OFFERS[name]),
                "channel": st.sampled_from(CHANNELS[name]),
                "outcome": st.sampled_from(["shown", "accepted", "declined"]),
                "session_id": st.sampled_from(["s-1", "s-2"]),
                "at": st.integers(-60 * 24 * 40, 60).map(lambda m: (at + dt.timedelta(minutes=m)).isoformat()),
            }),
            max_size=12,
        )
    )  # fmt: skip
    return name, request, CustomerState.model_validate({"history": history})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_same_snapshot_state_and_request_give_the_same_decision(
    case: tuple[str, Request, CustomerState],
) -> None:
    name, request, state = case
    first = decide(BUILT[name], request, state)
    again = decide(BUILT[name], request, state)
    rebuilt = decide(build_snapshot(SNAPSHOTS[name]), request, state)
    assert first.to_dict(timings=False) == again.to_dict(timings=False)
    assert first.to_dict(timings=False) == rebuilt.to_dict(timings=False)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_every_candidate_is_shown_or_explained(case: tuple[str, Request, CustomerState]) -> None:
    name, request, state = case
    d = decide(BUILT[name], request, state, detail=True)
    placed = [s.offer for p in (d.counterfactual if d.control else d.placements) for s in p.offers]
    assert len(placed) == len(set(placed)), "an offer appears twice on one channel"
    if request.limit is not None:
        assert len(placed) <= request.limit
    channel = BUILT[name].channels[d.channel]
    for p in d.placements:
        spec = channel.placement(p.placement)
        assert spec is not None
        assert len(p.offers) <= spec.slots
    stages = {s.stage: s for s in d.trace.stages}
    explained = {drop.offer for drop in d.trace.drop_list()}
    assert stages["candidates"].entered == len(explained | set(placed)) or d.control
    for before, after in zip(d.trace.stages, d.trace.stages[1:-2], strict=False):
        assert after.entered == before.left


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.randoms(use_true_random=False))
def test_a_state_from_seen_contacts_decides_as_one_from_contacts(
    case: tuple[str, Request, CustomerState], rng: Any
) -> None:
    """The service builds states from the ledger's rows as ``Seen`` tuples, in any order."""
    name, request, state = case
    seen = [Seen(c.offer, c.channel, c.outcome, c.session_id, c.at.timestamp())
            for c in state.history]  # fmt: skip
    rng.shuffle(seen)
    fast = CustomerState.from_seen(seen, id=state.id)
    times = [c.t for c in fast.compact_history.seen]
    assert times == sorted(times)
    assert sorted(fast.compact_history.seen) == sorted(state.compact_history.seen)
    with pytest.raises(TypeError, match="not history"):
        CustomerState.from_seen(seen, history=state.history)
    expected = decide(BUILT[name], request, state).to_dict(timings=False)
    assert decide(BUILT[name], request, fast).to_dict(timings=False) == expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.randoms(use_true_random=False))
def test_a_state_from_the_store_is_the_state_from_seen_contacts(
    case: tuple[str, Request, CustomerState], rng: Any
) -> None:
    """``from_store`` (no validation: the service's own stored values) builds the state
    ``from_seen`` validates, and the engine decides the same with it."""
    name, request, state = case
    seen = [Seen(c.offer, c.channel, c.outcome, c.session_id, c.at.timestamp())
            for c in state.history]  # fmt: skip
    rng.shuffle(seen)
    fields: dict[str, Any] = {
        "id": state.id or "c-1", "attributes": dict(state.attributes),
        "holdings": state.holdings, "segments": state.segments,
        "cate": {"savings-account": -0.04}, "cate_intervals": {"savings-account": (-0.1, 0.0)},
        "uplift_segments": {"savings-account": "sure-thing"},
    }  # fmt: skip
    validated = CustomerState.from_seen(seen, **fields)
    stored = CustomerState.from_store(seen, **fields)
    assert stored == validated
    assert stored.model_fields_set == validated.model_fields_set
    assert stored.compact_history.seen == validated.compact_history.seen
    expected = decide(BUILT[name], request, validated).to_dict(timings=False)
    assert decide(BUILT[name], request, stored).to_dict(timings=False) == expected
