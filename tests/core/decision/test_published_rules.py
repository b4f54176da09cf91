"""A snapshot published before the cost bound (issue 17) still builds: a published rule whose
trigger the bound refuses is loaded disabled, never evaluated; anything else is refused."""

from __future__ import annotations

from typing import Any

import pytest

from nextoffer.core.decision import SnapshotError, build_snapshot, decide
from nextoffer.core.request import MAX_CART_ITEMS
from nextoffer.scenarios import checkout_snapshot

from .conftest import request

ISSUE = "count(a in cart.items: count(b in cart.items: a.price > b.price) > 0) >= 0"
CUBIC = (
    "count(a in cart.items: count(b in cart.items: count(c in cart.items:"
    " a.price > b.price and b.price > c.price) > 0) > 0) >= 0"
)
STEAK = {"sku": "STEAK-01", "category": "main_course", "price": 12.0}


def with_rule(trigger: str, rule_id: str = "nested", revision: int = 3) -> dict[str, Any]:
    data = checkout_snapshot()
    data["rules"].append(
        {"id": rule_id, "revision": revision, "trigger": trigger, "offers": ["DESSERT-01"]}
    )
    return data


def test_a_published_rule_over_the_cost_bound_loads_disabled() -> None:
    snapshot = build_snapshot(with_rule(ISSUE), published=True)
    assert "nested" not in snapshot.rules
    assert len(snapshot.index) == 3  # the scenario's rules only
    disabled = snapshot.disabled["nested"]
    assert (disabled.id, disabled.revision, disabled.offers) == ("nested", 3, ("DESSERT-01",))
    assert disabled.trigger == ISSUE
    assert disabled.problems == (
        "'count' may take up to 752,002 steps on a cart of 500 items (the most a request may"
        " carry), more than the limit of 20,000; nested quantifiers multiply their work",
    )
    assert build_snapshot(checkout_snapshot(), published=True).disabled == {}


def test_the_same_rule_not_published_before_is_refused() -> None:
    with pytest.raises(SnapshotError) as info:
        build_snapshot(with_rule(ISSUE))
    assert [d.path for d in info.value.diagnostics] == ["rules[3].trigger.left"]
    with pytest.raises(SnapshotError):  # another revision of it is not the published one
        build_snapshot(with_rule(ISSUE), published={("nested", 2)})
    only = build_snapshot(with_rule(ISSUE), published={("nested", 3)})
    assert set(only.disabled) == {"nested"}


def test_a_published_rule_with_another_problem_is_still_refused() -> None:
    typo = ISSUE.replace("b.price) > 0", "b.prize) > 0")
    with pytest.raises(SnapshotError) as info:
        build_snapshot(with_rule(typo), published=True)
    assert any("unknown name 'b.prize'" in d.message for d in info.value.diagnostics)
    ghost = with_rule(ISSUE)
    ghost["rules"][-1]["offers"] = ["GHOST"]
    with pytest.raises(SnapshotError) as info:
        build_snapshot(ghost, published=True)
    assert [d.message for d in info.value.diagnostics] == ["unknown offer 'GHOST'"]


def test_a_disabled_rule_never_runs_on_the_longest_cart() -> None:
    snapshot = build_snapshot(with_rule(CUBIC), published=True)
    assert "nested" in snapshot.disabled
    lines = [{"sku": f"SKU-{i}", "category": "misc", "price": 1.0 + i}
             for i in range(MAX_CART_ITEMS - 1)]  # fmt: skip
    # 125 million steps if it ran; disabled, it is not evaluated at all
    decision = decide(
        snapshot,
        request(channel="pos", session_id="s", cart={"items": [STEAK, *lines]},
                customer={"id": "c"}),
    )  # fmt: skip
    fired = [f.id for f in decision.rules_fired]
    assert "steak-red-wine" in fired
    assert "nested" not in fired
