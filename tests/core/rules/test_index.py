"""The trigger index finds exactly the rules that evaluating every rule finds."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nextoffer.core.rules import Environment, TriggerIndex, parse_text, requirement
from nextoffer.core.rules.nodes import Condition

from .strategies import ENV, conditions, contexts


def _keys(text: str) -> set[tuple[str, Any]] | None:
    found = requirement(parse_text(text).ast)
    return None if found is None else set(found)


def test_requirements_of_typical_triggers() -> None:
    assert _keys('cart.has_sku("STEAK-01")') == {("cart.skus", "STEAK-01")}
    assert _keys('cart.has_category("wine")') == {("cart.categories", "wine")}
    assert _keys('any item in cart.items: item.category == "wine" and item.price > 30') == {
        ("cart.categories", "wine")
    }
    assert _keys('any item in cart.items: item.sku in ["A", "B"]') == {
        ("cart.skus", "A"),
        ("cart.skus", "B"),
    }
    assert _keys('count(item in cart.items: item.sku == "A") >= 2') == {("cart.skus", "A")}
    assert _keys('count(item in cart.items: item.sku == "A") >= 0') is None
    # of an and's options, the most selective: a sku beats a category beats other names
    assert _keys('channel == "in_app" and cart.has_category("wine") and cart.has_sku("X")') == {
        ("cart.skus", "X")
    }
    assert _keys('store.id in ["S1", "S2"] and channel == "in_app"') == {("channel", "in_app")}
    assert _keys('"VIP" in customer.segments') == {("customer.segments", "VIP")}
    assert _keys("not customer.hasCreditCard") == {("customer.hasCreditCard", False)}
    assert _keys('cart.has_sku("A") or cart.has_category("b")') == {
        ("cart.skus", "A"),
        ("cart.categories", "b"),
    }
    # a range on a small domain becomes its values
    assert _keys("local_time.hour between 6 and 11") == {
        ("local_time.hour", h) for h in range(6, 12)
    }
    assert _keys("local_time.hour >= 22") == {("local_time.hour", 22), ("local_time.hour", 23)}
    assert _keys("20.5 < local_time.hour") == {("local_time.hour", h) for h in (21, 22, 23)}
    assert _keys("local_time.hour > 30") == set()  # can never be true
    # no requirement: must always be checked
    assert _keys('cart.has_sku("A") or cart.total > 10') is None
    assert _keys("cart.total between 6 and 11") is None
    assert _keys('not cart.has_sku("A")') is None
    assert _keys('all item in cart.items: item.sku == "A"') is None


def test_index_matches_in_rule_order_and_skips_rules_that_cannot_match() -> None:
    env = Environment(offer_names=False)
    texts = {
        "steak": 'cart.has_sku("STEAK-01")',
        "wine": 'any item in cart.items: item.category == "wine"',
        "breakfast": "local_time.hour between 6 and 11",
        "app": 'channel == "in_app"',
    }
    index = TriggerIndex([(k, env.compile(v)) for k, v in texts.items()])
    assert index.always_checked == 0
    ctx = {
        "cart.skus": frozenset({"STEAK-01"}),
        "cart.categories": frozenset({"main_course"}),
        "cart.items": (
            {"sku": "STEAK-01", "category": "main_course", "quantity": 1, "price": 9.0},
        ),
        "channel": "in_app",
        "local_time.hour": 12,
    }
    assert index.candidates(ctx) == [0, 3]
    assert index.match(ctx) == ["steak", "app"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(conditions(), min_size=1, max_size=12), st.lists(contexts(), min_size=1, max_size=4)
)
def test_index_agrees_with_evaluating_every_rule(
    rules: list[Condition], ctxs: list[dict[str, Any]]
) -> None:
    compiled = [(i, ENV.compile(rule)) for i, rule in enumerate(rules)]
    index = TriggerIndex(compiled)
    for ctx in ctxs:
        brute = [i for i, c in compiled if c(dict(ctx))]
        assert index.match(dict(ctx)) == brute


_OPS = st.sampled_from([">", ">=", "<", "<="])
_SKU = st.sampled_from(["STEAK-01", "WINE-1", "BREAD"])
_CAT = st.sampled_from(["main_course", "wine", "dessert"])
_NUM = st.sampled_from([0, 5, 29.5, 30, 42, 100, 2400])
# The forms the index decides without evaluating the rule (lookups, a lookup and one more
# lookup or threshold, item ladders), plus near misses that must still be evaluated.
_DECIDED = st.one_of(
    st.builds('cart.has_sku("{}")'.format, _SKU),
    st.builds('cart.has_sku("{}") and cart.total {} {}'.format, _SKU, _OPS, _NUM),
    st.builds('{2} {1} cart.total and cart.has_sku("{0}")'.format, _SKU, _OPS, _NUM),
    st.builds('cart.has_category("{}") and channel == "{}"'.format, _CAT, st.sampled_from(["in_app", "email"])),
    st.builds('cart.has_sku("{}") and cart.has_sku("{}")'.format, _SKU, _SKU),
    st.builds('cart.has_sku("{}") and cart.has_sku("{}") and cart.count >= 2'.format, _SKU, _SKU),
    st.builds("local_time.hour between {} and {} and cart.total {} {}".format,
              st.integers(0, 23), st.integers(0, 23), _OPS, _NUM),
    st.builds('any item in cart.items: item.category == "{}" and item.price {} {}'.format,
              _CAT, _OPS, _NUM),
    st.builds('any item in cart.items: {2} {1} item.quantity and "{0}" == item.sku'.format,
              _SKU, _OPS, st.integers(0, 3)),
    st.builds('any item in cart.items: item.sku == "{}"'.format, _SKU),
    st.builds('any item in cart.items: item.category == "{}" and item.price > cart.total'.format, _CAT),
    st.builds('"VIP" in customer.segments and customer.tier in ["gold", "{}"]'.format, st.sampled_from(["premium", "basic"])),
    st.builds('not (cart.has_sku("{}") and cart.total > {})'.format, _SKU, _NUM),
)  # fmt: skip


@st.composite
def _carts(draw: st.DrawFn) -> dict[str, Any]:
    """A context whose items may lack a category or a price (unknown, not false)."""
    ctx = draw(contexts())
    items = []
    for item in ctx.get("cart.items", ()):
        dropped = draw(st.sets(st.sampled_from(["category", "price"]), max_size=1))
        items.append({k: v for k, v in item.items() if k not in dropped})
    if "cart.items" in ctx:
        ctx["cart.items"] = tuple(items)
        ctx["cart.categories"] = frozenset(i.get("category") for i in items)
    return ctx


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_DECIDED, min_size=1, max_size=15), st.lists(_carts(), min_size=1, max_size=4))
def test_index_decides_lookups_and_thresholds_like_evaluation(
    texts: list[str], ctxs: list[dict[str, Any]]
) -> None:
    compiled = [(i, ENV.compile(text)) for i, text in enumerate(texts)]
    index = TriggerIndex(compiled)
    for ctx in ctxs:
        brute = [i for i, c in compiled if c(dict(ctx))]
        assert index.match(dict(ctx)) == brute
