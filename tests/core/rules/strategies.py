"""Hypothesis strategies: well-typed random conditions and random request contexts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from nextoffer.core.rules import CustomerSchema, Environment, Limits
from nextoffer.core.rules.nodes import (
    Between,
    Call,
    Compare,
    Condition,
    Constant,
    Contains,
    Count,
    DateLiteral,
    Exists,
    In,
    ListLiteral,
    Logic,
    Name,
    Not,
    Quantifier,
    StartsWith,
)

SCHEMA = CustomerSchema(
    attributes={
        "tier": "string",
        "tenureMonths": "int",
        "balance": "float",
        "hasCreditCard": "bool",
        "vip": "bool",
        "since": "date",
        "interests": "list[string]",
    }
)
# Random conditions test meaning, not cost: their quantifier bodies may be larger than a
# written rule's cost limit allows (tests/core/rules/test_cost.py tests that limit).
ENV = Environment(customer=SCHEMA, limits=Limits(max_cost=10**9))

STRING_NAMES = ["customer.tier", "channel", "store.id", "local_time.weekday", "customer.id"]
NUMBER_NAMES = ["customer.tenureMonths", "cart.count", "local_time.hour", "cart.total",
                "customer.balance", "cart.distinct_skus"]  # fmt: skip
BOOL_NAMES = ["customer.hasCreditCard", "customer.vip"]
LIST_NAMES = ["customer.segments", "cart.skus", "cart.categories", "customer.interests"]
DATE_NAMES = ["local_time.date", "customer.since"]

WORDS = ["premium", "gold", "basic", "in_app", "email", "S1", "S2", "VIP", "wine", "STEAK-01",
         "main_course", "sat", "sun", "", "pre", "WINE-1"]  # fmt: skip
NUMBERS = [0, 1, 2, 6, 11, 30, 36, -1, 2.5, 30.0, 2400.0, 1e-3]
DATES = [dt.date(2026, 3, 8), dt.date(2026, 3, 7), dt.date(2020, 1, 1)]

words = st.sampled_from(WORDS) | st.text(max_size=4)
numbers = st.sampled_from(NUMBERS) | st.integers(-50, 50) | st.floats(-100, 100, allow_nan=False)


def _string_value(item: bool) -> st.SearchStrategy[Condition]:
    names = STRING_NAMES + (["item.sku", "item.category"] if item else [])
    return st.one_of(
        st.builds(Constant, value=words), st.sampled_from(names).map(lambda p: Name(path=p))
    )


def _number_value(item: bool) -> st.SearchStrategy[Condition]:
    names = NUMBER_NAMES + (["item.quantity", "item.price"] if item else [])
    return st.one_of(
        st.builds(Constant, value=numbers), st.sampled_from(names).map(lambda p: Name(path=p))
    )


def _date_value() -> st.SearchStrategy[Condition]:
    return st.one_of(
        st.builds(DateLiteral, value=st.sampled_from(DATES)),
        st.sampled_from(DATE_NAMES).map(lambda p: Name(path=p)),
    )


def _leaf(item: bool) -> st.SearchStrategy[Condition]:
    s, n, d = _string_value(item), _number_value(item), _date_value()
    ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
    eq_ops = st.sampled_from(["==", "!="])
    bool_value = st.one_of(
        st.builds(Constant, value=st.booleans()),
        st.sampled_from(BOOL_NAMES).map(lambda p: Name(path=p)),
    )
    string_list = st.one_of(
        st.builds(ListLiteral, values=st.lists(words, max_size=4).map(tuple)),
        st.sampled_from(LIST_NAMES).map(lambda p: Name(path=p)),
    )
    all_names = STRING_NAMES + NUMBER_NAMES + BOOL_NAMES + LIST_NAMES + DATE_NAMES
    return st.one_of(
        st.builds(Compare, op=eq_ops, left=s, right=s),
        st.builds(Compare, op=ops, left=n, right=n),
        st.builds(Compare, op=ops, left=d, right=d),
        st.builds(Compare, op=eq_ops, left=bool_value, right=bool_value),
        st.builds(In, element=s, container=string_list),
        st.builds(
            In,
            element=n,
            container=st.builds(ListLiteral, values=st.lists(numbers, max_size=4).map(tuple)),
        ),
        st.builds(Between, value=n, low=n, high=n),
        st.builds(Between, value=d, low=d, high=d),
        st.builds(Contains, subject=s, value=s),
        st.builds(Contains, subject=string_list, value=s),
        st.builds(StartsWith, subject=s, value=s),
        st.builds(Exists, subject=st.sampled_from(all_names).map(lambda p: Name(path=p))),
        bool_value,
        st.builds(
            Call, function=st.sampled_from(["cart.has_sku", "cart.has_category"]), args=st.tuples(s)
        ),
    )


def conditions(item: bool = False) -> st.SearchStrategy[Condition]:
    def extend(children: st.SearchStrategy[Condition]) -> st.SearchStrategy[Condition]:
        return st.one_of(
            st.builds(
                Logic,
                kind=st.sampled_from(["and", "or"]),
                operands=st.lists(children, min_size=2, max_size=4).map(tuple),
            ),
            st.builds(Not, operand=children),
        )

    base = st.recursive(_leaf(item), extend, max_leaves=12)
    if item:
        return base
    items_body = st.deferred(lambda: conditions(item=True))
    collection = st.just(Name(path="cart.items"))
    quantified = st.one_of(
        st.builds(
            Quantifier,
            kind=st.sampled_from(["any", "all"]),
            var=st.just("item"),
            collection=collection,
            condition=items_body,
        ),
        st.builds(
            Compare,
            op=st.sampled_from(["==", ">=", ">", "<"]),
            left=st.builds(Count, var=st.just("item"), collection=collection, condition=items_body),
            right=st.builds(Constant, value=st.integers(0, 3)),
        ),
    )
    return st.one_of(base, base, st.recursive(quantified, extend, max_leaves=4))


SKUS = ["STEAK-01", "WINE-1", "BREAD", "pre"]
CATEGORIES = ["main_course", "wine", "dessert", ""]


@st.composite
def contexts(draw: st.DrawFn) -> dict[str, Any]:
    """A flat context as build_context makes it, with any name possibly missing."""
    items = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "sku": st.sampled_from(SKUS),
                    "category": st.sampled_from(CATEGORIES),
                    "quantity": st.integers(1, 3),
                    "price": st.sampled_from([5.0, 30.0, 42.0, 1200.0]),
                }
            ),
            max_size=4,
        )
    )
    full: dict[str, Any] = {
        "customer.id": draw(st.sampled_from(["c-1", "pre"])),
        "customer.tier": draw(words),
        "customer.tenureMonths": draw(st.integers(-2, 40)),
        "customer.balance": draw(numbers),
        "customer.hasCreditCard": draw(st.booleans()),
        "customer.vip": draw(st.booleans()),
        "customer.since": draw(st.sampled_from(DATES)),
        "customer.segments": frozenset(draw(st.lists(words, max_size=3))),
        "customer.interests": frozenset(draw(st.lists(words, max_size=3))),
        "channel": draw(st.sampled_from(["in_app", "email", "branch"])),
        "store.id": draw(st.sampled_from(["S1", "S2", "S3"])),
        "local_time.hour": draw(st.integers(0, 23)),
        "local_time.weekday": draw(st.sampled_from(["sat", "sun", "mon"])),
        "local_time.date": draw(st.sampled_from(DATES)),
        "cart.items": tuple(items),
        "cart.total": float(sum(i["price"] * i["quantity"] for i in items)),
        "cart.count": sum(i["quantity"] for i in items),
        "cart.skus": frozenset(i["sku"] for i in items),
        "cart.categories": frozenset(i["category"] for i in items),
        "cart.distinct_skus": len({i["sku"] for i in items}),
    }
    # Any name may be missing, except that the cart's names come together (as build_context
    # makes them): the trigger index reads cart.skus where a rule says "any item ...".
    missing = draw(st.sets(st.sampled_from(sorted(k for k in full if not k.startswith("cart.")))))
    if draw(st.booleans()):
        missing |= {k for k in full if k.startswith("cart.")}
    return {k: v for k, v in full.items() if k not in missing}
