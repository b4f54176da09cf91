"""Every example of the rule-language issue, evaluated on its example request."""

from __future__ import annotations

import datetime as dt

import pytest

from nextoffer.core.rules import Environment, interpret, parse_text, to_text
from tests.clock import iso

from .conftest import ISSUE_REQUEST, context

EXAMPLES = [
    ('customer.tier in ["premium", "gold"] and not customer.hasCreditCard', True),
    ('customer.tenureMonths >= 36 and "VIP" in customer.segments', True),
    ("cart.count >= 2 and cart.total > 2400", False),  # total is exactly 2400
    ("cart.count >= 2 and cart.total >= 2400", True),
    ('store.id in ["S1", "S2"] and channel == "in_app"', True),
    ("local_time.hour between 6 and 11", True),  # 14:30Z is 10:30 EDT on 2026-03-08
    ('any item in cart.items: item.category == "wine" and item.price > 30', False),
    ('any item in cart.items: item.category == "main_course" and item.price > 30', True),
    ('count(item in cart.items: item.category == "main_course") >= 1', True),
    ('count(item in cart.items: item.category == "wine") >= 1', False),
    ('cart.has_sku("STEAK-01")', True),
    ('cart.has_sku("WINE-01")', False),
    ('cart.has_category("main_course")', True),
    ('channel != "email" and placement is missing', True),
    ("customer.email exists", False),
    ('session_id starts_with "s-"', True),
    ('store.timezone contains "York"', True),
    ('customer.segments contains "VIP"', True),
    ("all item in cart.items: item.quantity >= 2", True),
    ('local_time.weekday == "sun" and local_time.date == date("2026-03-08")', True),
    ('customer.tier not in ["basic", "silver"]', True),
    ('cart.distinct_skus == 1 and "main_course" in cart.categories', True),
]


@pytest.mark.parametrize(("text", "expected"), EXAMPLES)
def test_issue_example_evaluates_correctly(env: Environment, text: str, expected: bool) -> None:
    compiled = env.compile(text)
    ctx = context()
    assert compiled(ctx) is expected
    assert (interpret(compiled.ast, ctx) is True) is expected


@pytest.mark.parametrize(("text", "expected"), EXAMPLES)
def test_issue_example_prints_back_as_written(env: Environment, text: str, expected: bool) -> None:
    assert to_text(parse_text(text).ast) == text


def test_breakfast_rule_is_right_on_both_sides_of_the_dst_change(env: Environment) -> None:
    breakfast = env.compile("local_time.hour between 6 and 11")
    # 14:30 UTC is 09:30 EST the day before the change and 10:30 EDT on the day of it.
    assert breakfast(context(at="2026-03-07T14:30:00Z"))
    assert breakfast(context(at="2026-03-08T14:30:00Z"))
    # 16:30 UTC is 11:30 EST (still breakfast), but 12:30 EDT after the change (not).
    assert breakfast(context(at="2026-03-07T16:30:00Z"))
    assert not breakfast(context(at="2026-03-08T16:30:00Z"))
    # The autumn change (2026-11-01): 10:30 UTC is 06:30 EDT before, 05:30 EST after.
    assert breakfast(context(at="2026-10-31T10:30:00Z"))
    assert not breakfast(context(at="2026-11-01T10:30:00Z"))


def test_local_time_uses_the_store_zone_not_utc(env: Environment) -> None:
    ctx = context(store={"id": "S9", "timezone": "Asia/Kolkata"}, at="2026-03-08T02:00:00Z")
    assert (ctx["local_time.hour"], ctx["local_time.minute"]) == (7, 30)
    assert env.compile("local_time.hour between 6 and 11")(ctx)


def test_context_without_a_store_uses_utc() -> None:
    ctx = context(store=None)
    assert ctx["local_time.hour"] == 14
    assert "store.id" not in ctx


def test_issue_request_is_the_decision_request_shape() -> None:
    from nextoffer.core.request import Request

    request = Request.model_validate(ISSUE_REQUEST)
    assert request.cart is not None
    assert request.cart.items[0].quantity == 2


# New York's local time at each of the suite's fixed instants, worked out by hand
NEW_YORK_LOCAL = {
    "2026-03-08T10:30:00Z": (6, 30, "sun", dt.date(2026, 3, 8)),  # EDT since 02:00 that day
    "2026-11-01T05:30:00Z": (1, 30, "sun", dt.date(2026, 11, 1)),  # the first 01:30, EDT
    "2026-11-01T06:30:00Z": (1, 30, "sun", dt.date(2026, 11, 1)),  # the second, EST
    "2026-07-15T13:00:00Z": (9, 0, "wed", dt.date(2026, 7, 15)),
    "2026-06-01T00:00:00Z": (20, 0, "sun", dt.date(2026, 5, 31)),  # the evening before
    "2026-03-10T19:30:00Z": (15, 30, "tue", dt.date(2026, 3, 10)),
}


def test_local_time_in_new_york_at_each_fixed_instant(
    env: Environment, instant: dt.datetime
) -> None:
    """The store's local time at the suite's instants, both 01:30s of the fall-back night
    and the morning the clocks spring forward included; the breakfast rule follows it."""
    at = iso(instant)
    ctx = context(at=at)
    hour, minute, weekday, date = NEW_YORK_LOCAL[at]
    assert (ctx["local_time.hour"], ctx["local_time.minute"]) == (hour, minute)
    assert (ctx["local_time.weekday"], ctx["local_time.date"]) == (weekday, date)
    assert env.compile("local_time.hour between 6 and 10")(ctx) is (6 <= hour <= 10)
