"""Which mined rules are more than chance: holdout evaluation with FDR control.

A miner that looks at thousands of item combinations finds rules that clear any support and
confidence threshold by luck alone; testing each with the data that selected it makes
nearly all of them look significant. So the baskets are split at random (Webb, 2007,
"Discovering significant patterns"):

1. the rules are mined on the **exploratory** half, with the same thresholds;
2. each of them is tested on the **holdout** half, which played no part in choosing it:
   Fisher's exact test (one-sided: the antecedent raises the consequent's rate) on its 2×2
   table of baskets, i.e. P(X ≥ count) for X hypergeometric;
3. the Benjamini–Hochberg procedure over all the rules tested keeps the expected share of
   false discoveries at most ``fdr`` (default 5%).

A rule of the full mining is **significant** when it is among those discoveries.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .mining import Bitsets, MiningError, MiningResult, mine

__all__ = ["Significance", "benjamini_hochberg", "fisher_greater", "holdout_test"]

Rule = tuple[tuple[str, ...], str]  # (antecedent, consequent)


@dataclass(frozen=True, slots=True)
class Significance:
    """``p_values``/``q_values`` of every rule tested (BH-adjusted q ≤ fdr: a discovery)."""

    fdr: float
    p_values: dict[Rule, float]
    q_values: dict[Rule, float]

    @property
    def tested(self) -> int:
        return len(self.p_values)

    def significant(self, antecedent: tuple[str, ...], consequent: str) -> bool:
        q = self.q_values.get((antecedent, consequent))
        return q is not None and q <= self.fdr


def holdout_test(
    baskets: Sequence[Sequence[str] | frozenset[str] | set[str]],
    *,
    min_support: float | str | Fraction,
    min_confidence: float | str | Fraction,
    max_len: int | None = None,
    fdr: float = 0.05,
    seed: int = 0,
) -> Significance:
    """Mine the exploratory half, test on the holdout half, control the FDR across them."""
    if not 0 < fdr < 1:
        raise MiningError("fdr", f"must be between 0 and 1 (exclusive), got {fdr}")
    if len(baskets) < 4:
        raise MiningError("transactions", "at least 4 baskets are needed to test rules")
    order = list(range(len(baskets)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    explore = [baskets[i] for i in order[:half]]
    holdout = [baskets[i] for i in order[half:]]
    found: MiningResult = mine(
        explore, min_support=min_support, min_confidence=min_confidence, max_len=max_len
    )
    rules: list[Rule] = [(r.antecedent, r.consequent) for r in found.rules]
    if not rules:
        return Significance(fdr, {}, {})
    items = {item for a, c in rules for item in (*a, c)}
    bits = Bitsets.of(holdout, items)
    n = len(holdout)
    both = np.array([bits.count((*a, c)) for a, c in rules], dtype=np.int64)
    left = np.array([bits.count(a) for a, _ in rules], dtype=np.int64)
    right = np.array([bits.count((c,)) for _, c in rules], dtype=np.int64)
    p = fisher_greater(both, left, right, n)
    q = benjamini_hochberg(p)
    return Significance(
        fdr,
        dict(zip(rules, p.tolist(), strict=True)),
        dict(zip(rules, q.tolist(), strict=True)),
    )


def fisher_greater(both: np.ndarray, left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    """One-sided Fisher exact test: P(X ≥ both), X ~ hypergeometric(n, right, left)."""
    from scipy.stats import hypergeom

    return np.asarray(hypergeom.sf(both - 1, n, right, left), dtype=np.float64)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (q-values): reject every hypothesis with q ≤ the FDR."""
    from scipy.stats import false_discovery_control

    return np.asarray(false_discovery_control(p, method="bh"), dtype=np.float64)
