"""Scoring strategies and the attach-rate estimate.

**Attach rate** p: the share of times an offer was accepted when shown, with a Beta prior
for the cold start: ``p = (accepted + a) / (shown + a + b)`` where ``a = prior × strength``
and ``b = (1 − prior) × strength`` (defaults: prior 0.05, strength 20, so an offer with no
evidence has p = 0.05 and 20 showings weigh as much as the prior). An estimate for the
nominating rule and the offer is preferred to one for the offer alone.

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

__all__ = ["attach_rate", "incremental_value", "prie", "uplift_factor"]

_FLOOR = 0.01


def _clip(x: float) -> float:
    return _FLOOR if x < _FLOOR else 1.0 if x > 1.0 else x


def attach_rate(shown: int, accepted: int, prior: tuple[float, float]) -> float:
    a, b = prior
    return (accepted + a) / (shown + a + b)


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
