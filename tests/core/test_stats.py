"""The bootstrap interval of a mean."""

from __future__ import annotations

import random

from nextoffer.core.stats import bootstrap_mean


def test_bootstrap_interval_covers_the_mean_and_narrows_with_more_data() -> None:
    rng = random.Random(4)
    small = [rng.gauss(10, 3) for _ in range(40)]
    large = [rng.gauss(10, 3) for _ in range(4000)]
    m1, lo1, hi1 = bootstrap_mean(small)
    m2, lo2, hi2 = bootstrap_mean(large)
    assert lo1 < m1 < hi1
    assert lo2 < m2 < hi2
    assert hi2 - lo2 < (hi1 - lo1) / 5  # about 1/sqrt(100) as wide
    assert lo2 < 10 < hi2
    # the normal approximation: mean ± 1.96 σ/√n
    assert abs((hi2 - lo2) - 2 * 1.96 * 3 / 4000**0.5) < 0.05


def test_bootstrap_edge_cases_and_determinism() -> None:
    assert bootstrap_mean([]) == (0.0, 0.0, 0.0)
    assert bootstrap_mean([2.5]) == (2.5, 2.5, 2.5)
    assert bootstrap_mean([1, 2, 3, 9]) == bootstrap_mean([1, 2, 3, 9])
