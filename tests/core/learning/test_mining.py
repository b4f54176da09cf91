"""The miner against published figures, a brute-force reference and exact thresholds."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nextoffer.core.learning.mining import MinedRule, MiningError, min_count, mine


@pytest.mark.parametrize(
    ("support", "confidence", "max_len", "rules", "by_length"),
    [
        (0.006, 0.25, None, 463, {2: 150, 3: 297, 4: 16}),
        (0.001, 0.5, None, 5668, {2: 11, 3: 1461, 4: 3211, 5: 939, 6: 46}),
        (0.001, 0.8, None, 410, None),
        (0.001, 0.8, 3, 29, None),
    ],
)
def test_reproduces_the_published_groceries_rule_counts(
    groceries: list[frozenset[str]],
    support: float,
    confidence: float,
    max_len: int | None,
    rules: int,
    by_length: dict[int, int] | None,
) -> None:
    result = mine(groceries, min_support=support, min_confidence=confidence, max_len=max_len)
    assert len(result.rules) == rules
    if by_length is not None:
        assert dict(Counter(r.items for r in result.rules)) == by_length
    assert all(r.items <= (max_len or 99) for r in result.rules)


@pytest.mark.parametrize(("support", "itemsets"), [(0.006, 747), (0.001, 13492)])
def test_groceries_frequent_itemsets(
    groceries: list[frozenset[str]], support: float, itemsets: int
) -> None:
    assert len(mine(groceries, min_support=support, min_confidence=1).itemsets) == itemsets


def test_groceries_example_rules_and_top_items(groceries: list[frozenset[str]]) -> None:
    result = mine(groceries, min_support=0.006, min_confidence=0.25)
    rules = {(r.antecedent, r.consequent): r for r in result.rules}
    plants = rules[(("pot plants",), "whole milk")]
    assert (plants.count, plants.support, plants.confidence) == (
        68,
        pytest.approx(0.006914082),
        0.4,
    )
    assert plants.lift == pytest.approx(1.565460, abs=1e-6)
    pasta = rules[(("pasta",), "whole milk")]
    assert (pasta.count, pasta.confidence) == (60, pytest.approx(0.4054054))
    assert pasta.lift == pytest.approx(1.586614, abs=1e-6)
    assert result.itemsets[("whole milk",)] == 2513
    assert result.itemsets[("other vegetables",)] == 1903
    assert result.itemsets[("rolls/buns",)] == 1809
    assert result.min_count == 60  # ⌈0.006 × 9835⌉ = ⌈59.01⌉


@pytest.mark.parametrize(
    ("support", "itemsets", "rules"), [(0.02, 220, 32), (0.01, 1087, 359), (0.005, 7538, 6223)]
)
def test_reproduces_the_online_retail_consensus(
    online_retail: list[frozenset[str]], support: float, itemsets: int, rules: int
) -> None:
    result = mine(online_retail, min_support=support, min_confidence=0.5)
    assert (len(result.itemsets), len(result.rules)) == (itemsets, rules)


def test_support_threshold_is_an_exact_count() -> None:
    # 0.07 × 100 is 7.000000000000001 in floating point: a float miner demands 8 baskets
    assert min_count(0.07, 100) == 7
    baskets = [{"a", "b"}] * 7 + [{"c"}] * 93
    result = mine(baskets, min_support=0.07, min_confidence=1)
    assert [(r.antecedent, r.consequent, r.count) for r in result.rules] == [
        (("a",), "b", 7),
        (("b",), "a", 7),
    ]


def test_confidence_is_compared_exactly() -> None:
    # confidence 3/10 against a threshold written 0.3; and 0.1 × 3 (> 0.3 in floating point)
    baskets = [{"x", "y"}] * 3 + [{"x"}] * 7
    at = mine(baskets, min_support=0.1, min_confidence=0.3)
    assert [(r.antecedent, r.consequent) for r in at.rules] == [(("y",), "x"), (("x",), "y")]
    above = mine(baskets, min_support=0.1, min_confidence="0.30000000000000004")
    assert [(r.antecedent, r.consequent) for r in above.rules] == [(("y",), "x")]
    assert at.min_confidence == Fraction(3, 10)


def test_statistics_of_a_rule() -> None:
    rule = MinedRule(("a",), "b", count=20, antecedent_count=40, consequent_count=50, n=100)
    assert rule.support == 0.2
    assert rule.confidence == 0.5
    assert rule.lift == 1.0
    assert rule.leverage == pytest.approx(0.0)
    assert rule.conviction == pytest.approx(1.0)
    sure = MinedRule(("a",), "b", count=40, antecedent_count=40, consequent_count=50, n=100)
    assert math.isinf(sure.conviction)


def test_duplicate_items_in_a_basket_count_once() -> None:
    result = mine([["a", "a", "b"], ["a", "b"]], min_support=1, min_confidence=1)
    assert result.itemsets[("a",)] == 2
    assert result.itemsets[("a", "b")] == 2


def test_example_baskets_hold_every_item_of_the_rule() -> None:
    baskets = [{"a"}, {"a", "b"}, {"b"}, {"a", "b", "c"}, {"a", "b"}]
    result = mine(baskets, min_support=0.2, min_confidence=0.1)
    assert result.baskets_with(("a", "b"), 2) == [1, 3]
    assert result.baskets_with(("a", "b"), 10) == [1, 3, 4]
    assert result.baskets_with(("zzz",), 3) == []


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"min_support": 0, "min_confidence": 0.5}, "min_support", "must be above 0"),
        ({"min_support": 1.5, "min_confidence": 0.5}, "min_support", "between 0 and 1"),
        ({"min_support": "lots", "min_confidence": 0.5}, "min_support", "not a number"),
        ({"min_support": 0.1, "min_confidence": -1}, "min_confidence", "between 0 and 1"),
        ({"min_support": 0.1, "min_confidence": 0.5, "max_len": 1}, "max_len", "at least 2"),
    ],
)
def test_bad_thresholds_name_the_field(kwargs: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(MiningError) as caught:
        mine([{"a"}], **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert message in caught.value.message


def test_no_baskets_is_an_error() -> None:
    with pytest.raises(MiningError, match="no baskets"):
        mine([], min_support=0.1, min_confidence=0.1)


def _reference(
    baskets: list[set[str]], minc: int, confidence: Fraction, max_len: int | None
) -> set[tuple[tuple[str, ...], str, int, int]]:
    """Every itemset counted by brute force, every rule tested with fractions."""
    items = sorted(set().union(*baskets))
    count = {}
    for size in range(1, (max_len or len(items)) + 1):
        for combo in itertools.combinations(items, size):
            c = sum(1 for b in baskets if b.issuperset(combo))
            if c >= minc:
                count[combo] = c
    rules = set()
    for combo, c in count.items():
        for consequent in combo:
            antecedent = tuple(i for i in combo if i != consequent)
            if antecedent and Fraction(c, count[antecedent]) >= confidence:
                rules.add((antecedent, consequent, c, count[antecedent]))
    return rules


@settings(max_examples=60, deadline=None)
@given(
    baskets=st.lists(
        st.sets(st.sampled_from("abcdefg"), min_size=0, max_size=6), min_size=1, max_size=40
    ),
    support=st.sampled_from(["0.05", "0.1", "0.2", "0.3"]),
    confidence=st.sampled_from(["0", "0.25", "0.5", "0.6", "0.75", "1"]),
    max_len=st.sampled_from([None, 2, 3]),
)
def test_agrees_with_brute_force(
    baskets: list[set[str]], support: str, confidence: str, max_len: int | None
) -> None:
    result = mine(baskets, min_support=support, min_confidence=confidence, max_len=max_len)
    got = {(r.antecedent, r.consequent, r.count, r.antecedent_count) for r in result.rules}
    expected = _reference(baskets, min_count(support, len(baskets)), Fraction(confidence), max_len)
    assert got == expected


def test_long_baskets_counted_densely_agree_with_counting_by_hand() -> None:
    # baskets longer than 32 frequent items take the dense (matrix product) path
    rng = random.Random(11)
    items = [f"i{j:02d}" for j in range(60)]
    baskets = [set(rng.sample(items, rng.choice([2, 3, 40, 50, 58]))) for _ in range(300)]
    result = mine(baskets, min_support=0.05, min_confidence=0, max_len=2)
    by_hand = Counter(pair for b in baskets for pair in itertools.combinations(sorted(b), 2))
    assert {k: v for k, v in result.itemsets.items() if len(k) == 2} == {
        pair: c for pair, c in by_hand.items() if c >= min_count(0.05, 300)
    }
