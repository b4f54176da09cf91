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

Each strategy is one entry of ``STRATEGIES`` (a ``ScoringStrategy``): how it scores, its
unit and its explanation, and how it scores arrays of drawn attach rates and τ (Thompson
sampling's draws, ``exploration.py``; the same formula, tested against the scalar one). Adding one is its name in ``spec.py`` (``StrategyName``) and its
entry here; importing this module checks that the two agree, and a channel naming a strategy
without an entry is refused when it is compiled, never scored as another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args

import numpy as np
from numpy.typing import NDArray

from ..registry import Registry
from .offer import Offer
from .spec import ScoringSpec, StrategyName

__all__ = ["STRATEGIES", "Floats", "ScoringStrategy", "incremental_value", "prie",
           "uplift_factor"]  # fmt: skip

Floats = NDArray[np.float64]

# A candidate's score from the channel's scoring spec, the offer, its attach rate p, its
# match multiplier and its τ (None where unknown, or where the strategy does not read it);
# None when the strategy cannot score it.
Score = Callable[[ScoringSpec, Offer, float, float, "float | None"], "float | None"]
# The same over draws, for one candidate the strategy could score: its attach rate in each
# draw, and its τ in each draw or one for all (None where unknown, as above).
ScoreDraws = Callable[[ScoringSpec, Offer, Floats, float, "Floats | float | None"], Floats]

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


@dataclass(frozen=True, slots=True)
class ScoringStrategy:
    """One scoring strategy: the registry's entry.

    ``score`` scores one candidate (None: it cannot, and ``unscored`` is the reason it is
    dropped); ``draws`` scores it over arrays of drawn p and τ (Thompson sampling);
    ``uses_tau``: whether it reads the customer's τ (looked up only then);
    ``unit``: ``money`` (the shop's currency) or ``share`` (a number in [0, 1]), which the
    minimum score is in; ``explanation``: how it scores, for a person.
    """

    name: str
    unit: str
    explanation: str
    score: Score
    draws: ScoreDraws
    uses_tau: bool = False
    unscored: str = ""

    @property
    def unit_text(self) -> str:
        """The unit after a score in the reasons: `` (money)``, or nothing for a share."""
        return " (money)" if self.unit == "money" else ""


def _expected_value(
    scoring: ScoringSpec, offer: Offer, p: float, match: float, tau: float | None
) -> float:
    return p * offer.margin * match


def _prie(scoring: ScoringSpec, offer: Offer, p: float, match: float, tau: float | None) -> float:
    return prie(scoring, p=p, match=match, impact=offer.impact, emphasis=offer.emphasis, tau=tau)


def _incremental_value(
    scoring: ScoringSpec, offer: Offer, p: float, match: float, tau: float | None
) -> float | None:
    return None if tau is None else incremental_value(tau, offer.margin, match)


def _expected_value_draws(
    scoring: ScoringSpec, offer: Offer, p: Floats, match: float, tau: Floats | float | None
) -> Floats:
    return p * (offer.margin * match)


def _prie_draws(
    scoring: ScoringSpec, offer: Offer, p: Floats, match: float, tau: Floats | float | None
) -> Floats:
    w = scoring.weights
    rest = (
        _clip(match) ** w.relevance
        * _clip(offer.impact) ** w.impact
        * _clip(offer.emphasis) ** w.emphasis
    )
    if w.uplift:
        if isinstance(tau, np.ndarray):
            scale = scoring.uplift_scale
            uplift: Floats | float = np.clip((tau + scale) / (2 * scale), _FLOOR, 1.0) ** w.uplift
        else:
            uplift = uplift_factor(tau, scoring.uplift_scale) ** w.uplift
        scores: Floats = np.clip(p, _FLOOR, 1.0) ** w.propensity * rest * uplift
        return scores
    scores = np.clip(p, _FLOOR, 1.0) ** w.propensity * rest
    return scores


def _incremental_value_draws(
    scoring: ScoringSpec, offer: Offer, p: Floats, match: float, tau: Floats | float | None
) -> Floats:
    assert tau is not None  # a candidate without τ is not scored, so never drawn
    return np.broadcast_to(np.multiply(tau, offer.margin * match), p.shape)


STRATEGIES: Registry[ScoringStrategy] = Registry(
    "strategy",
    "strategy",
    (
        (s.name, s)
        for s in (
            ScoringStrategy(
                "expected_value",
                "money",
                "expected value: attach rate × margin × match multiplier",
                _expected_value,
                _expected_value_draws,
            ),
            ScoringStrategy(
                "prie",
                "share",
                "PRIE-U: weighted geometric mean of propensity, relevance, impact and "
                "emphasis, times the uplift factor",
                _prie,
                _prie_draws,
                uses_tau=True,
            ),
            ScoringStrategy(
                "incremental_value",
                "money",
                "incremental value: uplift τ × margin × match multiplier",
                _incremental_value,
                _incremental_value_draws,
                uses_tau=True,
                unscored="incremental_value: no uplift estimate (τ)",
            ),
        )
    ),
)
STRATEGIES.agree(get_args(StrategyName))
