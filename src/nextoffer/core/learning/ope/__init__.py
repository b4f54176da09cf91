"""Off-policy evaluation: what a target strategy would have earned on the logged decisions.

A strategy that explores logs, for each choice, the probability with which it made it. From
those logs the estimators here say what another strategy (a draft, another snapshot's)
would have earned per decision, without showing it to anyone:

- ``LoggedDecisions`` (``data``): the logs as plain arrays, validated (the chosen
  candidate, its logged propensity, the reward, the target's probabilities over the
  candidates, optionally a reward model's estimates, the candidate set, the slot and the
  decision a row belongs to);
- the estimators (``estimators``): IPS, SNIPS, the direct method, doubly robust, switch-DR
  (τ) and DR with optimistic shrinkage (λ), one small class each, registered by name in
  ``ESTIMATORS`` (``spec.EstimatorName``); ``estimate`` gives an ``Estimate`` (the value,
  an interval, the standard error, the effective sample size, the largest weight,
  warnings), ``evaluate`` runs several side by side;
- ``intervals``: one interval code for all (every estimator is a ratio of row sums):
  percentile bootstrap over resampled decisions from a seed, or the normal approximation;
- ``support``: how much the logs can say about the target (effective sample size, largest
  weight, decisions logged deterministically and the target's choices they cannot judge).
- ``logs`` (imported on its own: it reads the decision engine): the ledger's logged
  decisions replayed on a target snapshot, with the decision's id as the seed, into
  ``LoggedDecisions`` for acceptance and revenue, with what was skipped and the choices the
  logs do not support.

Everything is pure: arrays in, numbers out; the only randomness is the bootstrap's, from its
seed.
"""

from .data import LoggedDecisions, OpeError
from .estimators import (
    DM,
    DR,
    ESTIMATORS,
    IPS,
    SNIPS,
    DRos,
    Estimate,
    OffPolicyEstimator,
    SwitchDR,
    evaluate,
)
from .spec import EstimatorName, IntervalMethod
from .support import LOW_SUPPORT, Support, support

__all__ = [
    "DM",
    "DR",
    "ESTIMATORS",
    "IPS",
    "LOW_SUPPORT",
    "SNIPS",
    "DRos",
    "Estimate",
    "EstimatorName",
    "IntervalMethod",
    "LoggedDecisions",
    "OffPolicyEstimator",
    "OpeError",
    "Support",
    "SwitchDR",
    "evaluate",
    "support",
]
