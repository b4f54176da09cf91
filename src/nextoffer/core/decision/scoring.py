"""Scoring strategies and the attach-rate estimate.

**Attach rate** p: the share of times an offer was accepted when shown, estimated with
hierarchical shrinkage (global ← category ← offer ← rule × offer or offer × channel; see
``core.learning.attach``). The engine takes the estimate for the nominating rule and the
offer when there is one, else the offer on the request's channel, else the offer.

**Strategies** (per channel):

- ``expected_value``: score = p × margin × m, in money; ``m`` is the match multiplier.
- ``prie``: a weighted geometric mean ``P^Wp · R^Wr · I^Wi · E^We`` with
  P = p, R = m (the match multiplier, in [0.1, 1]), I = margin ÷ the largest margin among
  the snapshot's offers, E = emphasis; each factor is clipped to [0.01, 1] (so the mean is
  defined) and the weights sum to 1. It is then multiplied by the uplift factor ``U^Wu``
  with ``U = (τ + s) ÷ 2s`` clipped to [0.01, 1] (s = ``uplift_scale``, default 0.1, so
  τ = −0.1 → 0.01, τ = 0 → 0.5, τ = +0.1 → 1; an unknown τ counts as 0). With Wu = 0 the
  factor is exactly 1: plain PRIE. Scores are in [0, 1].
- ``incremental_value``: score = τ × margin × m, in money: pay only for the sales an offer
  causes. A candidate without a τ cannot be scored this way and is dropped.
"""

from __future__ import annotations

from .spec import ScoringSpec

__all__ = ["incremental_value", "prie", "uplift_factor"]

_FLOOR = 0.01


def _clip(x: float) -> float:
    return _FLOOR if x < _FLOOR else 1.0 if x > 1.0 else x


def incremental_value(tau: float, margin: float, match: float) -> float:
    return tau * margin * match


def uplift_factor(tau: float | None, scale: float) -> float:
    return _clip(((tau or 0.0) + scale) / (2 * scale))


def prie(
    scoring: ScoringSpec,
    *,
    p: float,
    match: float,
    impact: float,
    emphasis: float,
    tau: float | None,
) -> float:
    w = scoring.weights
    score: float = (
        _clip(p) ** w.propensity
        * _clip(match) ** w.relevance
        * _clip(impact) ** w.impact
        * _clip(emphasis) ** w.emphasis
    )
    if w.uplift:
        score *= uplift_factor(tau, scoring.uplift_scale) ** w.uplift
    return score
