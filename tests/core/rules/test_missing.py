"""The documented rule for missing values: unknown, with three-valued logic."""

from __future__ import annotations

import pytest

from nextoffer.core.rules import Environment, interpret

from .conftest import context

CASES = [
    # (condition, value when customer.email is missing)
    ('customer.email == "a@b.c"', None),
    ('customer.email != "a@b.c"', None),
    ('not (customer.email == "a@b.c")', None),
    ('customer.email == "a@b.c" and channel == "email"', False),  # false and unknown
    ('customer.email == "a@b.c" or channel == "in_app"', True),  # unknown or true
    ('customer.email == "a@b.c" or channel == "email"', None),
    ("customer.email is missing", True),
    ("customer.email exists", False),
    ('customer.email starts_with "a"', None),
    ('customer.email in ["a"]', None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_missing_value_gives_unknown_and_kleene_logic(
    env: Environment, text: str, expected: bool | None
) -> None:
    compiled = env.compile(text)
    ctx = context()
    assert "customer.email" not in ctx
    assert compiled.evaluator(dict(ctx)) is expected
    assert interpret(compiled.ast, ctx) is expected
    assert compiled(ctx) is (expected is True)  # unknown never matches


def test_missing_cart_makes_cart_conditions_unknown(env: Environment) -> None:
    ctx = context(cart=None)
    for text in ('cart.has_sku("STEAK-01")', "any item in cart.items: item.price > 1",
                 "cart.total > 0"):  # fmt: skip
        assert env.compile(text).evaluator(dict(ctx)) is None
    assert env.compile("cart.items is missing")(ctx)


def test_all_over_an_empty_cart_is_true_and_any_is_false(env: Environment) -> None:
    ctx = context(cart={"items": []})
    assert env.compile("all item in cart.items: item.price > 1000000")(ctx)
    assert not env.compile("any item in cart.items: item.price > 0")(ctx)
    assert env.compile("count(item in cart.items: item.price > 0) == 0")(ctx)


@pytest.mark.parametrize(
    "text",
    [
        'any item in cart.items: item.category == "wine"',
        'any item in cart.items: item.category == "wine" and item.price > 30',
        'any item in cart.items: item.category == "wine" and item.price > 30 and item.quantity >= 1',
        'any item in cart.items: item.sku == "A" or item.price > 30',
    ],
)
@pytest.mark.parametrize(
    "items",
    [
        (),
        ({"sku": "A", "price": 40.0, "quantity": 1},),  # category missing, rest true
        ({"sku": "A", "price": 10.0, "quantity": 1},),  # category missing, rest false
        ({"sku": "A", "category": "wine", "quantity": 1},),  # price missing
        (
            {"sku": "A", "category": "beer", "price": 40.0, "quantity": 1},
            {"sku": "B", "category": "wine", "price": 31.0, "quantity": 2},
        ),
        ({"sku": "B", "price": 40.0}, {"sku": "C", "category": "wine", "price": 5.0}),
    ],
)
def test_item_fields_missing_follow_the_reference(
    env: Environment, text: str, items: tuple[dict[str, object], ...]
) -> None:
    compiled = env.compile(text)
    ctx = {"cart.items": items}
    assert compiled.evaluator(dict(ctx)) is interpret(compiled.ast, ctx)
