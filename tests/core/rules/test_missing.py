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
