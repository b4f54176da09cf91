"""Spurious-rule control: on baskets with no association, (almost) nothing is significant."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from nextoffer.core.learning.mining import MiningError, mine
from nextoffer.core.learning.significance import benjamini_hochberg, fisher_greater, holdout_test


def independent(baskets: list[frozenset[str]], seed: int) -> list[frozenset[str]]:
    """The same items at the same frequencies, each in baskets drawn at random: no item
    says anything about another, so every rule mined from them is a false discovery."""
    rng = random.Random(seed)
    counts = Counter(item for basket in baskets for item in basket)
    out: list[set[str]] = [set() for _ in baskets]
    for item, count in sorted(counts.items()):
        for position in rng.sample(range(len(baskets)), count):
            out[position].add(item)
    return [frozenset(b) for b in out]


def test_false_proposals_stay_within_the_rate_on_shuffled_baskets(
    groceries: list[frozenset[str]],
) -> None:
    runs, fdr = 20, 0.05
    with_false, naive_with_false, mined = 0, 0, 0
    for seed in range(runs):
        noise = independent(groceries, seed)
        result = mine(noise, min_support=0.0005, min_confidence=0.3)
        significance = holdout_test(
            noise, min_support=0.0005, min_confidence=0.3, fdr=fdr, seed=seed
        )
        false = sum(significance.significant(r.antecedent, r.consequent) for r in result.rules)
        with_false += false > 0  # every discovery here is false: the run's FDP is 0 or 1
        mined += len(result.rules)
        # the same test on the data that chose the rules (what the holdout avoids)
        p = fisher_greater(
            np.array([r.count for r in result.rules]),
            np.array([r.antecedent_count for r in result.rules]),
            np.array([r.consequent_count for r in result.rules]),
            len(noise),
        )
        naive_with_false += bool((benjamini_hochberg(p) <= fdr).any())
    assert mined > runs * 1000  # the miner finds plenty of rules in noise
    assert naive_with_false == runs  # testing them on their own data "confirms" them
    assert with_false / runs <= fdr  # the FDR (here: the share of runs with any) is kept


def test_real_associations_are_found(groceries: list[frozenset[str]]) -> None:
    result = mine(groceries, min_support=0.006, min_confidence=0.25)
    significance = holdout_test(groceries, min_support=0.006, min_confidence=0.25)
    found = [r for r in result.rules if significance.significant(r.antecedent, r.consequent)]
    assert len(found) == 396  # of 463 (seed 0)
    assert all(r.lift > 1 for r in found)
    assert significance.significant(("root vegetables",), "other vegetables")
    assert significance.tested == len(significance.p_values) == len(significance.q_values)


def planted(seed: int) -> list[frozenset[str]]:
    """Steak raises the rate of red wine (0.6 against 0.1); 30 noise items go their own way."""
    rng = random.Random(seed)
    baskets = []
    for _ in range(4000):
        basket = {f"noise-{i}" for i in range(30) if rng.random() < 0.1}
        if rng.random() < 0.2:
            basket.add("steak")
            if rng.random() < 0.6:
                basket.add("red wine")
        elif rng.random() < 0.1:
            basket.add("red wine")
        baskets.append(frozenset(basket))
    return baskets


def test_planted_rules_are_found_and_the_false_discovery_rate_is_kept() -> None:
    # {noise, steak} → red wine holds as well: noise items may ride along with the pair
    pair = {"steak", "red wine"}
    shares = []
    for seed in range(10):
        significance = holdout_test(planted(seed), min_support=0.01, min_confidence=0.05, seed=seed)
        assert significance.significant(("steak",), "red wine")
        assert significance.significant(("red wine",), "steak")
        found = [rule for rule, q in significance.q_values.items() if q <= 0.05]
        false = [(a, c) for a, c in found if not (c in pair and (pair - {c}) <= set(a))]
        shares.append(len(false) / len(found))
    assert sum(shares) / len(shares) <= 0.05, shares


def test_benjamini_hochberg_adjusts_as_published() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005])
    assert benjamini_hochberg(p).tolist() == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_fisher_one_sided() -> None:
    # 2×2 table [[3, 1], [1, 3]] (n = 8): P(X ≥ 3) = (16 + 1) / 70
    assert fisher_greater(np.array([3]), np.array([4]), np.array([4]), 8)[0] == pytest.approx(
        17 / 70
    )


@pytest.mark.parametrize("fdr", [0, 1, 1.5])
def test_fdr_must_be_a_rate(fdr: float) -> None:
    with pytest.raises(MiningError, match="fdr"):
        holdout_test([{"a"}] * 10, min_support=0.1, min_confidence=0.1, fdr=fdr)
