"""The bootstrap interval of a mean, and the comparison of an experiment's arms."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nextoffer.core.stats import bootstrap_mean, compare, two_proportion_z, wilson


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


def _aa_experiments(count: int, n: int, seed: int = 11):
    """A/A experiments: both arms convert at 10% and spend a log-normal amount."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        a, b = rng.random(n) < 0.1, rng.random(n) < 0.1
        yield i, compare(a, a * rng.lognormal(3, 1, n), b, b * rng.lognormal(3, 1, n),
                         resamples=500, seed=i)  # fmt: skip


def test_a_thousand_aa_experiments_keep_the_error_rates() -> None:
    """At α = 0.05 about 5% of A/A tests are significant, and the 95% intervals of the
    conversion rate and of the revenue difference cover the truth about 95% of the time."""
    significant = wilson_covers = welch_covers = bootstrap_covers = lift_covers = 0
    runs = 1000
    for _, c in _aa_experiments(runs, 1000):
        significant += c.p_value < 0.05
        wilson_covers += c.treatment.interval[0] <= 0.1 <= c.treatment.interval[1]
        welch_covers += c.welch_interval[0] <= 0 <= c.welch_interval[1]
        bootstrap_covers += c.bootstrap_interval[0] <= 0 <= c.bootstrap_interval[1]
        lift_covers += c.lift_interval[0] <= 0 <= c.lift_interval[1]
    assert 0.04 <= significant / runs <= 0.06
    for covered in (wilson_covers, welch_covers, bootstrap_covers, lift_covers):
        assert 0.93 <= covered / runs <= 0.97


def test_a_real_difference_is_found_and_measured() -> None:
    rng = np.random.default_rng(2)
    n = 4000
    a, b = rng.random(n) < 0.13, rng.random(n) < 0.10
    c = compare(a, a * 50.0, b, b * 50.0)
    assert c.p_value < 0.001
    assert c.z > 3
    assert c.absolute_lift == pytest.approx(c.treatment.rate - c.control.rate)
    assert c.relative_lift == pytest.approx(c.absolute_lift / c.control.rate)
    assert c.welch_interval[0] < c.incremental_revenue_per_customer < c.welch_interval[1]
    assert c.bootstrap_interval[0] < c.incremental_revenue_per_customer < c.bootstrap_interval[1]
    assert c.welch_interval[0] > 0
    assert c.incremental_revenue == pytest.approx(c.incremental_revenue_per_customer * n)
    assert not c.insufficient_data


def test_small_or_empty_arms_are_flagged() -> None:
    small = compare([1, 0, 0], [5.0, 0, 0], [0] * 100, [0.0] * 100)
    assert small.insufficient_data
    assert small.relative_lift is None  # the control never converted
    assert small.welch_interval[0] <= small.incremental_revenue_per_customer
    empty = compare([], [], [1, 0], [1.0, 0.0])
    assert empty.insufficient_data
    assert empty.p_value == 1.0
    nothing = compare([0] * 60, [0.0] * 60, [0] * 60, [0.0] * 60)
    assert (nothing.z, nothing.p_value, nothing.welch_interval) == (0.0, 1.0, (0.0, 0.0))


def test_wilson_and_the_z_test_match_textbook_values() -> None:
    lo, hi = wilson(10, 100)
    assert (round(lo, 4), round(hi, 4)) == (0.0552, 0.1744)
    z, p = two_proportion_z(30, 200, 10, 200)
    assert round(z, 3) == 3.333
    assert round(p, 4) == 0.0009
    assert wilson(0, 0) == (0.0, 1.0)


def test_the_hillstrom_mens_email_figures() -> None:
    """The published Hillstrom figures: Men's e-mail vs no e-mail, visits +7.66 pp (z ≈ 22.5),
    spend +$0.77 per customer (95% CI about $0.49–$1.05)."""
    from tests import data

    rows = data.records("hillstrom.csv")
    arms = {arm: [r for r in rows if r["segment"] == arm] for arm in ("Mens E-Mail", "No E-Mail")}
    mens, none = arms["Mens E-Mail"], arms["No E-Mail"]
    assert (len(mens), len(none)) == (21_307, 21_306)
    c = compare([int(r["visit"]) for r in mens], [float(r["spend"]) for r in mens],
                [int(r["visit"]) for r in none], [float(r["spend"]) for r in none])  # fmt: skip
    assert round(100 * c.absolute_lift, 2) == 7.66
    assert round(c.z, 1) == 22.5
    assert round(c.incremental_revenue_per_customer, 2) == 0.77
    assert (round(c.welch_interval[0], 2), round(c.welch_interval[1], 2)) == (0.49, 1.05)
    assert 0.45 < c.bootstrap_interval[0] < 0.55
    assert 1.0 < c.bootstrap_interval[1] < 1.1
