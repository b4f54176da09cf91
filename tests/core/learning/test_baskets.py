"""Coded baskets: what the coder keeps, how a basket decodes, and that the miner takes them
as it takes the names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nextoffer.core.learning.baskets import BasketCoder, CodedBaskets
from nextoffer.core.learning.mining import Bitsets, mine
from nextoffer.core.learning.significance import holdout_test


def coded(baskets: list[list[str]]) -> CodedBaskets:
    coder = BasketCoder()
    for basket in baskets:
        coder.add(basket)
    return coder.baskets()


def test_the_coder_keeps_distinct_items_in_the_order_listed() -> None:
    coder = BasketCoder()
    assert coder.add(["b", "a", "b", "c"]) == 3
    assert coder.add([]) == 0  # not added
    assert coder.add(iter(["c", "d"])) == 2
    baskets = coder.baskets()
    assert len(baskets) == 2
    assert list(baskets) == [("b", "a", "c"), ("c", "d")]
    assert baskets.items == ("b", "a", "c", "d")  # coded in the order first met
    assert baskets.codes.tolist() == [0, 1, 2, 2, 3]
    assert baskets.lengths.tolist() == [3, 2]


def test_a_basket_decodes_by_position_and_slice() -> None:
    baskets = coded([["x"], ["y", "x"], ["z"]])
    assert baskets[1] == ("y", "x")
    assert baskets[-1] == ("z",)
    assert baskets[1:] == [("y", "x"), ("z",)]
    assert ("z",) in baskets
    with pytest.raises(IndexError):
        baskets[3]


def test_no_baskets() -> None:
    baskets = BasketCoder().baskets()
    assert len(baskets) == 0
    assert list(baskets) == []


@settings(max_examples=60, deadline=None)
@given(
    baskets=st.lists(
        st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=8), min_size=1, max_size=40
    ),
    support=st.sampled_from(["0.05", "0.1", "0.2", "0.3"]),
    confidence=st.sampled_from(["0", "0.5", "1"]),
)
def test_coded_baskets_mine_as_their_names(
    baskets: list[list[str]], support: str, confidence: str
) -> None:
    by_name = mine(baskets, min_support=support, min_confidence=confidence)
    by_code = mine(coded(baskets), min_support=support, min_confidence=confidence)
    assert by_code.n == by_name.n
    assert by_code.itemsets == by_name.itemsets
    assert by_code.rules == by_name.rules
    for items in by_name.itemsets:
        assert by_code.baskets_with(items, 5) == by_name.baskets_with(items, 5)


def test_bit_sets_and_the_holdout_test_take_coded_baskets() -> None:
    names = [["a", "b"], ["a", "b", "c"], ["b", "c"], ["a"], ["a", "b"], ["c", "a", "b"]] * 5
    baskets = coded(names)
    assert Bitsets.of(baskets, "abc").count(("a", "b")) == Bitsets.of(names, "abc").count(
        ("a", "b")
    )
    assert holdout_test(baskets, min_support=0.2, min_confidence=0.5) == holdout_test(
        names, min_support=0.2, min_confidence=0.5
    )
