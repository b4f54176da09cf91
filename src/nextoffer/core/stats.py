"""Statistics for reports: bootstrap intervals, and the comparison of an experiment's arms.

``compare`` sets a treatment arm against its control (a holdout, or a challenger against a
champion): conversion per arm with Wilson 95% intervals, the absolute and relative lift, a
pooled two-proportion z-test (two-sided p), an interval of the lift (Newcombe's, from the
two Wilson intervals), and the incremental revenue per customer with a
Welch interval and a percentile-bootstrap interval, and in total (per customer × the
treatment arm's size). An arm with fewer than ``min_per_arm`` customers flags the
comparison as ``insufficient_data``: the numbers are still shown, but are not to be trusted.

>>> c = compare([1] * 30 + [0] * 170, [10.0] * 30 + [0.0] * 170, [1] * 10 + [0] * 190, [10.0] * 10 + [0.0] * 190)
>>> round(c.absolute_lift, 3), round(c.p_value, 4), c.insufficient_data
(0.1, 0.0009, False)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = ["Arm", "Comparison", "bootstrap_mean", "compare", "two_proportion_z", "wilson"]


def bootstrap_mean(
    values: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """The mean of ``values`` and a percentile bootstrap interval around it.

    Deterministic for a given ``seed``. With fewer than two values the interval is the mean
    itself (there is nothing to resample).
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return 0.0, 0.0, 0.0
    mean = float(data.mean())
    if data.size < 2:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    lo, hi = _percentiles(_resampled_means(rng, data, resamples), confidence)
    return mean, lo, hi


def _resampled_means(
    rng: np.random.Generator, data: NDArray[np.float64], resamples: int
) -> NDArray[np.float64]:
    """The means of ``resamples`` resamples of ``data`` (with replacement)."""
    means: NDArray[np.float64] = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(
        axis=1
    )
    return means


def _percentiles(values: NDArray[np.float64], confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(values, [tail, 1 - tail])
    return float(lo), float(hi)


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (scipy's ``binomtest``); (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """The pooled two-proportion z statistic of x1/n1 − x2/n2 and its two-sided p-value;
    (0, 1) when the pooled rate is 0 or 1 (no variation to test)."""
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 0.0, 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return z, float(2 * stats.norm.sf(abs(z)))


@dataclass(frozen=True)
class Arm:
    """One arm: customers, conversions, the rate with its Wilson interval, revenue."""

    customers: int
    conversions: int
    rate: float
    interval: tuple[float, float]
    revenue: float
    revenue_per_customer: float


@dataclass(frozen=True)
class Comparison:
    treatment: Arm
    control: Arm
    absolute_lift: float
    lift_interval: tuple[float, float]  # Newcombe's hybrid score interval (from the Wilsons)
    relative_lift: float | None  # None when the control never converted
    z: float
    p_value: float
    incremental_revenue_per_customer: float
    welch_interval: tuple[float, float]
    bootstrap_interval: tuple[float, float]
    incremental_revenue: float
    incremental_revenue_interval: tuple[float, float]  # Welch, scaled to the treatment arm
    confidence: float
    insufficient_data: bool

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _arm(converted: NDArray[np.float64], value: NDArray[np.float64], confidence: float) -> Arm:
    n, x = converted.size, int(converted.sum())
    revenue = float(value.sum())
    return Arm(n, x, x / n if n else 0.0, wilson(x, n, confidence), revenue,
               revenue / n if n else 0.0)  # fmt: skip


def _constant(a: NDArray[np.float64]) -> bool:
    return bool(np.all(a == a[0]))


def _welch(
    a: NDArray[np.float64], b: NDArray[np.float64], confidence: float
) -> tuple[float, float]:
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence)
    return float(ci.low), float(ci.high)


def _bootstrap(
    a: NDArray[np.float64], b: NDArray[np.float64], confidence: float, resamples: int, seed: int
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    treated = _resampled_means(rng, a, resamples)  # drawn first, as the seed promises
    return _percentiles(treated - _resampled_means(rng, b, resamples), confidence)


def compare(
    treated_converted: ArrayLike,
    treated_value: ArrayLike,
    control_converted: ArrayLike,
    control_value: ArrayLike,
    *,
    confidence: float = 0.95,
    min_per_arm: int = 50,
    resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Treatment against control, one value per customer (converted 0/1, revenue)."""
    tc, tv = np.asarray(treated_converted, float), np.asarray(treated_value, float)
    cc, cv = np.asarray(control_converted, float), np.asarray(control_value, float)
    if tc.shape != tv.shape or cc.shape != cv.shape:
        raise ValueError("each arm needs one conversion and one value per customer")
    treatment, control = _arm(tc, tv, confidence), _arm(cc, cv, confidence)
    insufficient = min(tc.size, cc.size) < max(min_per_arm, 2)
    if tc.size == 0 or cc.size == 0:
        nothing = (0.0, 0.0)
        return Comparison(treatment, control, 0.0, nothing, None, 0.0, 1.0, 0.0, nothing,
                          nothing, 0.0, nothing, confidence, True)  # fmt: skip
    lift = treatment.rate - control.rate
    (l1, u1), (l2, u2) = treatment.interval, control.interval
    lift_interval = (
        lift - math.hypot(treatment.rate - l1, u2 - control.rate),
        lift + math.hypot(u1 - treatment.rate, control.rate - l2),
    )
    relative = lift / control.rate if control.rate else None
    z, p = two_proportion_z(treatment.conversions, tc.size, control.conversions, cc.size)
    per_customer = treatment.revenue_per_customer - control.revenue_per_customer
    if min(tc.size, cc.size) < 2 or (_constant(tv) and _constant(cv)):
        welch = boot = (per_customer, per_customer)  # nothing varies: no interval to draw
    else:
        welch = _welch(tv, cv, confidence)
        boot = _bootstrap(tv, cv, confidence, resamples, seed)
    return Comparison(
        treatment=treatment,
        control=control,
        absolute_lift=lift,
        lift_interval=lift_interval,
        relative_lift=relative,
        z=z,
        p_value=p,
        incremental_revenue_per_customer=per_customer,
        welch_interval=welch,
        bootstrap_interval=boot,
        incremental_revenue=per_customer * tc.size,
        incremental_revenue_interval=(welch[0] * tc.size, welch[1] * tc.size),
        confidence=confidence,
        insufficient_data=insufficient,
    )
