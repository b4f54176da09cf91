"""Statistics for reports: a bootstrap confidence interval of a mean."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["bootstrap_mean"]


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
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return mean, float(lo), float(hi)
