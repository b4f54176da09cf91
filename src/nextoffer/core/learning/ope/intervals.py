"""Every estimator is a ratio of row sums, V̂ = Σ u_i / Σ v_i; its standard error and
intervals come from that one shape.

(u_i, v_i) are an estimator's row terms: v_i = 1 for the estimators that average per-row
terms (IPS, DM, DR and its variants), v_i = w_i for the self-normalised one (SNIPS). The
rows of one decision are summed first (U_g = Σ_{i ∈ g} u_i, V_g likewise), so that the rows
of a decision that filled several slots are resampled together.

- **Standard error** (the delta method, cluster-robust): with G decisions,
  SE² = G/(G−1) · Σ_g (U_g − V̂·V_g)² / (Σ_g V_g)². For a plain mean this is the sample
  standard deviation over √n; for SNIPS the usual linearisation of a ratio.
- **normal**: V̂ ± z·SE, z the normal quantile of the confidence.
- **bootstrap**: the percentile interval of V̂ recomputed on ``resamples`` resamples of the
  decisions (G drawn with replacement, from ``numpy.random.default_rng(seed)``); a ratio
  estimator is renormalised in each resample. Several estimators on the same data share
  the same resamples. A resample where Σ V_g = 0 (SNIPS: no weight at all) has no estimate
  and is left out; if none has one, the interval is the normal one.

With a single decision there is nothing to resample: the interval is the estimate itself.
The functions take one column per estimator: U and V of shape (G, m).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from .spec import IntervalMethod

__all__ = ["ratio_intervals", "ratio_standard_errors"]

Floats = NDArray[np.float64]
_CELLS = 1_000_000  # resampled decisions drawn at once (8 MB of indices): resamples in chunks


def ratio_standard_errors(u: Floats, v: Floats, values: Floats) -> Floats:
    """The delta-method standard error of each column's Σu/Σv (rows: decisions)."""
    g = u.shape[0]
    if g < 2:
        return np.zeros(u.shape[1])
    residual = u - values * v
    out: Floats = np.sqrt(g / (g - 1) * (residual * residual).sum(axis=0)) / np.abs(v.sum(axis=0))
    return out


def ratio_intervals(
    u: Floats,
    v: Floats,
    values: Floats,
    standard_errors: Floats,
    *,
    confidence: float,
    method: IntervalMethod,
    resamples: int,
    seed: int,
) -> list[tuple[float, float]]:
    """The ``confidence`` interval of each column's Σu/Σv by ``method``."""
    g, m = u.shape
    if g < 2:
        return [(float(x), float(x)) for x in values]
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    normal = [
        (float(x - z * s), float(x + z * s)) for x, s in zip(values, standard_errors, strict=True)
    ]
    if method == "normal":
        return normal
    draws = _bootstrap(u, v, resamples, seed)
    tail = (1 - confidence) / 2
    out = []
    for j in range(m):
        column = draws[:, j]
        column = column[~np.isnan(column)]
        if column.size == 0:
            out.append(normal[j])
            continue
        lo, hi = np.quantile(column, [tail, 1 - tail])
        out.append((float(lo), float(hi)))
    return out


def _bootstrap(u: Floats, v: Floats, resamples: int, seed: int) -> Floats:
    """Σu/Σv of every column on each of ``resamples`` resamples of the decisions (NaN where
    Σv = 0). Sums by gathering one column at a time (no BLAS: no threads), and a column of
    ones is the count of decisions."""
    g, m = u.shape
    rng = np.random.default_rng(seed)
    chunk = max(1, _CELLS // g)
    columns = [np.ascontiguousarray(c) for c in (*u.T, *v.T)]
    ones = [bool((c == 1).all()) for c in columns]
    out: list[Floats] = []
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        picks = rng.integers(0, g, size=(b, g))
        sums = np.column_stack(
            [
                np.full(b, float(g)) if one else c[picks].sum(axis=1)
                for c, one in zip(columns, ones, strict=True)
            ]
        )
        num, den = sums[:, :m], sums[:, m:]
        ratio = np.full_like(num, np.nan)
        np.divide(num, den, out=ratio, where=den != 0)
        out.append(ratio)
    return np.concatenate(out)
