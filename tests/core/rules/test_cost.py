"""The work a condition can do is bounded when it is written: quantifier nesting and a
worst-case cost on the largest cart a request may carry (issue 17)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nextoffer.core.request import MAX_CART_ITEMS, Request
from nextoffer.core.rules import (
    DEFAULT_LIMITS,
    Environment,
    Limits,
    RuleLimitError,
    RuleTypeError,
    build_context,
)
from nextoffer.core.rules.cost import condition_cost

ISSUE = "count(a in cart.items: count(b in cart.items: a.price > b.price) > 0) >= 0"


@pytest.fixture
def triggers() -> Environment:
    return Environment(offer_names=False)


def test_the_issues_nested_count_is_refused_with_a_caret_under_the_outer_count(
    triggers: Environment,
) -> None:
    with pytest.raises(RuleLimitError) as info:
        triggers.compile(ISSUE)
    assert str(info.value) == (
        "line 1, column 1: 'count' may take up to 752,002 steps on a cart of 500 items"
        " (the most a request may carry), more than the limit of 20,000;"
        " nested quantifiers multiply their work\n"
        f"  {ISSUE}\n"
        "  " + "^" * len("count(a in cart.items: count(b in cart.items: a.price > b.price) > 0)")
    )
    (diag,) = info.value.diagnostics
    assert diag.path == "$.left"


def test_quantifiers_nested_three_deep_are_refused_at_the_third(triggers: Environment) -> None:
    text = "any a in cart.items: any b in cart.items: any c in cart.items: a.price > c.price"
    with pytest.raises(RuleLimitError) as info:
        triggers.compile(text)
    first = info.value.diagnostics[0]
    assert first.render() == (
        "line 1, column 43: quantifiers are nested more than 2 deep ('any' inside another);"
        " each level multiplies the work by the number of cart items\n"
        f"  {text}\n"
        "  " + " " * 42 + "^" * len("any c in cart.items: a.price > c.price")
    )
    assert first.path == "$.condition.condition"
    assert [d.path for d in info.value.diagnostics] == ["$.condition.condition", "$"]


def test_a_quantifier_whose_body_is_too_long_for_the_largest_cart_is_refused(
    triggers: Environment,
) -> None:
    twelve = " and ".join(f"item.price > {j}" for j in range(12))
    triggers.compile(f"count(item in cart.items: {twelve}) >= 1")  # 18,504 steps: allowed
    thirteen = twelve + " and item.price > 12"
    with pytest.raises(RuleLimitError) as info:
        triggers.compile(f"count(item in cart.items: {thirteen}) >= 1")
    (diag,) = info.value.diagnostics
    assert (diag.line, diag.column, diag.path) == (1, 1, "$.left")
    assert diag.message == (
        "'count' may take up to 20,002 steps on a cart of 500 items"
        " (the most a request may carry), more than the limit of 20,000"
    )


def test_many_small_quantifiers_are_refused_together_at_the_whole_condition(
    triggers: Environment,
) -> None:
    one = "(any item in cart.items: item.price > {j} and item.quantity > 1)"
    five = " or ".join(one.format(j=j) for j in range(5))
    triggers.compile(five)
    six = five + " or " + one.format(j=5)
    with pytest.raises(RuleLimitError) as info:
        triggers.compile(six)
    (diag,) = info.value.diagnostics
    assert (diag.path, diag.column) == ("$", 2)
    assert diag.message == (
        "the condition may take up to 21,013 steps on a cart of 500 items"
        " (the most a request may carry), more than the limit of 20,000"
    )


def test_a_costly_json_condition_names_the_path_of_its_quantifier(
    triggers: Environment,
) -> None:
    def name(path: str) -> dict[str, str]:
        return {"kind": "name", "path": path}

    inner = {
        "kind": "any",
        "var": "b",
        "collection": name("cart.items"),
        "condition": {
            "kind": "compare",
            "op": ">",
            "left": name("a.price"),
            "right": name("b.price"),
        },
    }
    condition = {
        "kind": "and",
        "operands": [
            {
                "kind": "compare",
                "op": ">",
                "left": name("cart.total"),
                "right": {"kind": "literal", "value": 1},
            },
            {"kind": "any", "var": "a", "collection": name("cart.items"), "condition": inner},
        ],
    }
    with pytest.raises(RuleLimitError) as info:
        triggers.compile(condition)
    assert str(info.value) == (
        "$.operands[1]: 'any' may take up to 751,002 steps on a cart of 500 items"
        " (the most a request may carry), more than the limit of 20,000;"
        " nested quantifiers multiply their work"
    )


def test_type_errors_and_cost_errors_are_reported_at_once(triggers: Environment) -> None:
    text = 'cart.total > "x" and (count(a in cart.items: any b in cart.items: a.sku == b.sku) > 1)'
    with pytest.raises(RuleTypeError) as info:
        triggers.compile(text)
    assert [(d.column, d.message.split(";")[0]) for d in info.value.diagnostics] == [
        (14, "'>' needs numbers or dates, not string"),
        (23, "'count' may take up to 751,002 steps on a cart of 500 items"
             " (the most a request may carry), more than the limit of 20,000"),
    ]  # fmt: skip


def test_the_shops_cart_rules_are_well_within_the_budget(triggers: Environment) -> None:
    for text, cost in [
        ('any item in cart.items: item.category == "wine" and item.price > 30', 3_502),
        ('count(item in cart.items: item.category == "main_course") >= 2', 1_504),
        ('all item in cart.items: item.category != "kids"', 1_502),
    ]:
        assert condition_cost(triggers.compile(text).ast, DEFAULT_LIMITS) == cost


def test_the_cost_follows_the_cart_size_limit() -> None:
    small_carts = Environment(offer_names=False, limits=Limits(max_cart_items=10))
    compiled = small_carts.compile(ISSUE)
    # (count >= 0): 1 + outer count (2 + 10 × (inner count (2 + 10 × 3) > 0)) + 1
    assert condition_cost(compiled.ast, small_carts.limits) == 1 + (2 + 10 * (1 + 32 + 1)) + 1
    cart = {"items": [{"sku": f"S{i}", "category": "c", "price": float(i)} for i in range(3)]}
    assert compiled(build_context(Request.model_validate({"cart": cart})))


def test_the_cart_size_limit_is_one_number_for_rules_and_requests() -> None:
    assert DEFAULT_LIMITS.max_cart_items == MAX_CART_ITEMS == 500
    item = {"sku": "S", "category": "c", "price": 1.0}
    Request.model_validate({"cart": {"items": [item] * MAX_CART_ITEMS}})
    with pytest.raises(ValidationError) as info:
        Request.model_validate({"cart": {"items": [item] * (MAX_CART_ITEMS + 1)}})
    (error,) = info.value.errors()
    assert error["loc"] == ("cart", "items")
    assert error["msg"] == "Value error, a cart holds at most 500 items, not 501"
