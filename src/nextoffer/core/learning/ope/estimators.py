"""The off-policy estimators: what a target strategy would have earned on logged decisions.

Notation: n logged rows (x_i, a_i, r_i) chosen by the logging strategy π_b with the logged
propensity π_b(a_i | x_i); the target strategy π_e; the importance weight
w_i = π_e(a_i | x_i) / π_b(a_i | x_i); a reward model q̂(x, a) and its value under the
target, q̂(x_i, π_e) = Σ_a π_e(a | x_i) q̂(x_i, a). V(π_e) is the target's expected reward
per row (acceptance rate for a 0/1 reward, revenue per decision for a value).

==============  =====  =================================================================
name            q̂?     V̂
==============  =====  =================================================================
``ips``         no     (1/n) Σ w_i r_i
``snips``       no     Σ w_i r_i / Σ w_i
``dm``          yes    (1/n) Σ q̂(x_i, π_e)
``dr``          yes    (1/n) Σ [q̂(x_i, π_e) + w_i (r_i − q̂(x_i, a_i))]
``switch_dr``   yes    (1/n) Σ [q̂(x_i, π_e) + w_i 1{w_i ≤ τ} (r_i − q̂(x_i, a_i))]
``dros``        yes    (1/n) Σ [q̂(x_i, π_e) + λ w_i / (w_i² + λ) · (r_i − q̂(x_i, a_i))]
==============  =====  =================================================================

These are the definitions of Open Bandit Pipeline (``obp.ope``: ``InverseProbabilityWeighting``,
``SelfNormalizedInverseProbabilityWeighting``, ``DirectMethod``, ``DoublyRobust``,
``SwitchDoublyRobust``, ``DoublyRobustWithShrinkage``), for one slot per row.

Each estimator is a small frozen class: its constructor only stores its hyperparameters
(τ, λ); ``estimate(data, …)`` checks them and the data's fit (a reward model where one is
needed) and returns an ``Estimate``: the point estimate, an interval (``bootstrap`` by
default, or ``normal``; see ``intervals``), the standard error, the effective sample size
and the largest importance weight, and the support warnings (see ``support``). Every
estimator is a ratio of row sums Σu/Σv (``terms`` gives u and v), which is what makes one
interval code serve them all. ``ESTIMATORS`` is the registry by name; ``evaluate`` runs
several on the same data with the same resamples.

The rewards of decisions the target would never make (w_i = 0) still count in the direct
method's term, and the weights are the logged ones: the estimates are as good as the logged
propensities. A deterministic logging strategy (propensity 1) gives no support to any other
choice: ``support`` says how much of the target's choices fall there.

References: D. G. Horvitz and D. J. Thompson (1952), "A generalization of sampling without
replacement from a finite universe"; A. Beygelzimer and J. Langford (2009), "The offset tree
for learning with partial labels"; M. Dudík, J. Langford and L. Li (2011), "Doubly robust
policy evaluation and learning" (ICML); A. Swaminathan and T. Joachims (2015), "The
self-normalized estimator for counterfactual learning" (NeurIPS); Y.-X. Wang, A. Agarwal and
M. Dudík (2017), "Optimal and adaptive off-policy evaluation in contextual bandits" (ICML);
Y. Su, M. Dimakopoulou, A. Krishnamurthy and M. Dudík (2020), "Doubly robust off-policy
evaluation with shrinkage" (ICML); Y. Saito et al. (2021), "Open Bandit Dataset and
Pipeline" (NeurIPS Datasets and Benchmarks).

>>> data = LoggedDecisions(action=[0, 1, 0], propensity=[0.5, 0.25, 0.8],
...                        reward=[1.0, 0.0, 1.0], target=[[1, 0], [0.5, 0.5], [0, 1]],
...                        reward_model=[[0.6, 0.2], [0.4, 0.3], [0.5, 0.7]])
>>> [round(ESTIMATORS[name]().estimate(data).value, 4) for name in ESTIMATORS]
[0.6667, 0.5, 0.55, 0.6167, 0.6167, 0.6141]
>>> e = DR().estimate(data, interval="normal")
>>> e.effective_sample_size, e.max_weight
(2.0, 2.0)
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from numbers import Real
from typing import ClassVar, get_args

import numpy as np
from numpy.typing import NDArray

from ...registry import Registry
from .data import LoggedDecisions, OpeError
from .intervals import ratio_intervals, ratio_standard_errors
from .spec import EstimatorName, IntervalMethod
from .support import support

__all__ = [
    "DM",
    "DR",
    "ESTIMATORS",
    "IPS",
    "SNIPS",
    "DRos",
    "Estimate",
    "OffPolicyEstimator",
    "SwitchDR",
    "evaluate",
]

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Estimate:
    """One estimator's answer on one set of logged decisions.

    ``value`` is V̂; ``interval`` its ``confidence`` interval by ``method``;
    ``standard_error`` the delta method's (whatever the interval); ``rows`` and
    ``decisions`` what it was computed from; ``effective_sample_size`` and ``max_weight``
    the importance weights' diagnostics, and ``warnings`` the support's (the same for every
    estimator on the same data); ``parameters`` the estimator's hyperparameters.
    """

    estimator: str
    parameters: Mapping[str, float]
    value: float
    interval: tuple[float, float]
    confidence: float
    method: IntervalMethod
    standard_error: float
    rows: int
    decisions: int
    effective_sample_size: float
    max_weight: float
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["parameters"] = dict(self.parameters)
        return out


def _q_target(data: LoggedDecisions) -> Floats:
    assert data.reward_model is not None
    q: Floats = (data.target * data.reward_model).sum(axis=1)
    return q


def _q_logged(data: LoggedDecisions) -> Floats:
    assert data.reward_model is not None
    q: Floats = data.reward_model[np.arange(data.rows), data.action]
    return q


def _doubly_robust(data: LoggedDecisions, weights: Floats) -> Floats:
    """q̂(x_i, π_e) + ŵ_i (r_i − q̂(x_i, a_i)) for the weights ŵ given."""
    out: Floats = _q_target(data) + weights * (data.reward - _q_logged(data))
    return out


def _ones(data: LoggedDecisions) -> Floats:
    return np.ones(data.rows)


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(float(value)):
        raise OpeError(field, f"must be a number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class OffPolicyEstimator(ABC):
    """The contract of every estimator (see the module): ``name`` in the registry,
    ``needs_reward_model``, a one-line ``formula`` for people; ``terms`` gives the row terms
    (u, v) with V̂ = Σu/Σv, ``value`` V̂ alone, ``estimate`` V̂ with its interval and
    diagnostics. Hyperparameters are the dataclass fields, checked when used."""

    name: ClassVar[str]
    needs_reward_model: ClassVar[bool]
    formula: ClassVar[str]

    @property
    def parameters(self) -> dict[str, float]:
        """The hyperparameters by name (``{"tau": 10.0}``; empty for most)."""
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}

    def _check(self) -> None:
        """Refuse unusable hyperparameters (``OpeError`` naming the field); none here."""
        return None

    @abstractmethod
    def _terms(self, data: LoggedDecisions) -> tuple[Floats, Floats]: ...

    def terms(self, data: LoggedDecisions) -> tuple[Floats, Floats]:
        """The row terms (u, v) of V̂ = Σu/Σv, after checking the hyperparameters and that
        ``data`` has a reward model if this estimator needs one."""
        self._check()
        if self.needs_reward_model and data.reward_model is None:
            raise OpeError(
                "reward_model",
                f"{self.name} needs a reward model's estimates q̂(x, a) for every candidate",
            )
        return self._terms(data)

    def value(self, data: LoggedDecisions) -> float:
        """V̂ alone (no interval, no diagnostics)."""
        u, v = self.terms(data)
        return _ratio(self.name, float(u.sum()), float(v.sum()))

    def estimate(
        self,
        data: LoggedDecisions,
        *,
        confidence: float = 0.95,
        interval: IntervalMethod = "bootstrap",
        resamples: int = 1000,
        seed: int = 0,
    ) -> Estimate:
        """V̂ with its ``confidence`` interval by ``interval`` (``bootstrap``: ``resamples``
        resamples of the decisions drawn from ``seed``; ``normal``: V̂ ± z·SE), its
        standard error and the support's diagnostics. Deterministic: the same data and
        arguments give the same estimate."""
        return evaluate(
            data, [self], confidence=confidence, interval=interval, resamples=resamples, seed=seed
        )[0]


def _ratio(name: str, num: float, den: float) -> float:
    if den == 0:
        raise OpeError(
            "target",
            f"{name} is undefined: the target strategy never chooses what the logging "
            f"strategy chose (every importance weight is 0)",
        )
    return num / den


def _check_settings(confidence: float, interval: str, resamples: int, seed: int) -> None:
    if not 0 < _number(confidence, "confidence") < 1:
        raise OpeError("confidence", f"must be between 0 and 1, got {confidence!r}")
    if interval not in get_args(IntervalMethod):
        raise OpeError("interval", f"must be bootstrap or normal, got {interval!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 2:
        raise OpeError("resamples", f"must be a whole number of at least 2, got {resamples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise OpeError("seed", f"must be a whole number ≥ 0, got {seed!r}")


@dataclass(frozen=True)
class IPS(OffPolicyEstimator):
    """Inverse propensity scoring (importance sampling): V̂ = (1/n) Σ w_i r_i.

    Each logged reward counts in proportion to how much more (or less) often the target
    strategy would have made that choice. Unbiased whenever the logged propensities are
    right and every choice of the target had a positive logging probability; its variance
    grows with the weights (a target unlike the logging strategy). Not invariant to adding
    a constant to the rewards unless the weights average exactly 1 (use SNIPS).
    Horvitz & Thompson (1952); Strehl et al. (2010); OBP's ``InverseProbabilityWeighting``
    (without clipping).
    """

    name: ClassVar[str] = "ips"
    needs_reward_model: ClassVar[bool] = False
    formula: ClassVar[str] = "(1/n) Σ w_i r_i"

    def _terms(self, data: LoggedDecisions) -> tuple[Floats, Floats]:
        return data.weights * data.reward, _ones(data)


@dataclass(frozen=True)
class SNIPS(OffPolicyEstimator):
    """Self-normalised IPS: V̂ = Σ w_i r_i / Σ w_i.

    IPS divided by the mean weight (whose expectation is 1), which removes the variance
    that comes from the weights' own noise: biased by O(1/n) but consistent, always within
    the range of the rewards, and equal to the logged mean when the target is the logging
    strategy. Undefined when every weight is 0 (refused, naming ``target``).
    Swaminathan & Joachims (2015); OBP's ``SelfNormalizedInverseProbabilityWeighting``.
    Its bootstrap renormalises in each resample (OBP resamples the terms normalised once).
    """

    name: ClassVar[str] = "snips"
    needs_reward_model: ClassVar[bool] = False
    formula: ClassVar[str] = "Σ w_i r_i / Σ w_i"

    def _terms(self, data: LoggedDecisions) -> tuple[Floats, Floats]:
        w = data.weights
        return w * data.reward, w


@dataclass(frozen=True)
class DM(OffPolicyEstimator):
    """The direct method: V̂ = (1/n) Σ_i Σ_a π_e(a | x_i) q̂(x_i, a).

    The reward model's prediction of the target's choices, averaged over the logged
    contexts; the logged rewards and propensities play no part. Low variance, but exactly
    as biased as the model is where the target chooses (and blind where the logs had no
    support). Beygelzimer & Langford (2009); Dudík et al. (2011); OBP's ``DirectMethod``.
    """

    name: ClassVar[str] = "dm"
    needs_reward_model: ClassVar[bool] = True
    formula: ClassVar[str] = "(1/n) Σ q̂(x_i, π_e)"

    def _terms(self, data: LoggedDecisions) -> tuple[Floats, Floats]:
        return _q_target(data), _ones(data)


@dataclass(frozen=True)
class DR(OffPolicyEstimator):
    """Doubly robust: V̂ = (1/n) Σ [q̂(x_i, π_e) + w_i (r_i − q̂(x_i, a_i))].

    The direct method, corrected by the importance-weighted error of the reward model on
    the logged choices. Unbiased when the propensities are right, whatever the model (the
    correction has the model's bias as its mean), and of lower variance than IPS when the
    model is good; consistent when either the propensities or the model are right.
    Dudík, Langford & Li (2011); OBP's ``DoublyRobust`` (without clipping).
    """

    name: ClassVar[str] = "dr"
    needs_reward_model: ClassVar[bool] = True
    formula: ClassVar[str] = "(1/n) Σ [q̂(x_i, π_e) + w_i (r_i − q̂(x_i, a_i))]"

    def _terms(self, data: LoggedDecisions) -> tuple[Floats, Floats]:
        return _doubly_robust(data, data.weights), _ones(data)


@dataclass(frozen=True)
class SwitchDR(OffPolicyEstimator):
    """Switch doubly robust: V̂ = (1/n) Σ [q̂(x_i, π_e) + w_i 1{w_i ≤ τ} (r_i − q̂(x_i, a_i))].

    Doubly robust where the weight is at most ``tau`` (τ ≥ 0), the direct method alone
    where it is larger: the rare choices that would dominate the variance are left to the
    model, at the price of the model's bias on them. τ = ∞ is DR, τ = 0 (with no weight of
    0 … τ) the direct method. Default τ = 10 (a choice at least ten times likelier under
    the target than in the logs is left to the model); pick τ for the logs at hand.
    Wang, Agarwal & Dudík (2017) switch per candidate, which needs the logging
    probabilities of every candidate; this is the per-row form of Su et al. (2020) and OBP's
    ``SwitchDoublyRobust`` (its ``lambda_`` is τ; ``≤`` as there).
    """

    tau: float = 10.0

    name: ClassVar[str] = "switch_dr"
    needs_reward_model: ClassVar[bool] = True
    formula: ClassVar[str] = "(1/n) Σ [q̂(x_i, π_e) + w_i 1{w_i ≤ τ} (r_i − q̂(x_i, a_i))]"

    def _check(self) -> None:
        if _number(self.tau, "tau") < 0:
            raise OpeError("tau", f"must be at least 0, got {self.tau!r}")

    def _terms(self, data: LoggedDecisions) -> tuple[Floats, Floats]:
        w = data.weights
        return _doubly_robust(data, np.where(w <= self.tau, w, 0.0)), _ones(data)


@dataclass(frozen=True)
class DRos(OffPolicyEstimator):
    """Doubly robust with optimistic shrinkage:
    V̂ = (1/n) Σ [q̂(x_i, π_e) + ŵ_i (r_i − q̂(x_i, a_i))], ŵ_i = λ w_i / (w_i² + λ).

    The weights are shrunk smoothly toward 0, the more the larger they are: ŵ ≈ w for
    w² ≪ λ, at most √λ / 2 (at w = √λ), and ŵ → λ / w beyond. It minimises a bound on
    the mean squared error that trusts the reward model ("optimistic"). λ = ∞ is DR, λ = 0
    the direct method. Default λ = 100 (weights up to about 3 barely change, the largest
    effective weight is 5 at w = 10); pick λ for the logs at hand.
    Su, Dimakopoulou, Krishnamurthy & Dudík (2020); OBP's ``DoublyRobustWithShrinkage``
    (its ``lambda_``).
    """

    lambda_: float = 100.0

    name: ClassVar[str] = "dros"
    needs_reward_model: ClassVar[bool] = True
    formula: ClassVar[str] = "(1/n) Σ [q̂(x_i, π_e) + λ w_i / (w_i² + λ) · (r_i − q̂(x_i, a_i))]"

    def _check(self) -> None:
        if _number(self.lambda_, "lambda_") < 0:
            raise OpeError("lambda_", f"must be at least 0, got {self.lambda_!r}")

    def _terms(self, data: LoggedDecisions) -> tuple[Floats, Floats]:
        w, lam = data.weights, float(self.lambda_)
        if math.isinf(lam):
            shrunk = w
        elif lam == 0:
            shrunk = np.zeros_like(w)
        else:
            shrunk = lam * w / (w * w + lam)
        return _doubly_robust(data, shrunk), _ones(data)


ESTIMATORS: Registry[type[OffPolicyEstimator]] = Registry(
    "estimator", "estimator", ((c.name, c) for c in (IPS, SNIPS, DM, DR, SwitchDR, DRos))
)
ESTIMATORS.agree(get_args(EstimatorName))


def evaluate(
    data: LoggedDecisions,
    estimators: Iterable[str | OffPolicyEstimator] | None = None,
    *,
    confidence: float = 0.95,
    interval: IntervalMethod = "bootstrap",
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[Estimate, ...]:
    """Several estimates of the same target on the same logged decisions, in order.

    ``estimators``: names (built with their default hyperparameters) or estimators; by
    default every registered one defined on ``data``: those that need a reward model only
    when it has one, and SNIPS only when some weight is positive. All use the same
    resamples (the same ``seed``), so their intervals are comparable side by side. An
    unknown name is refused (``UnknownEntryError``, field ``estimator``); an estimator
    named that ``data`` does not allow, with an ``OpeError`` (``reward_model``,
    ``target``).
    """
    _check_settings(confidence, interval, resamples, seed)
    if estimators is None:
        chosen: list[OffPolicyEstimator] = [
            ESTIMATORS[name]()
            for name in ESTIMATORS
            if data.reward_model is not None or not ESTIMATORS[name].needs_reward_model
        ]
    else:
        chosen = [ESTIMATORS[e]() if isinstance(e, str) else e for e in estimators]
    terms = [e.terms(data) for e in chosen]
    if not chosen:
        return ()
    if estimators is None:  # by default, only the estimators defined on these data
        kept = [(e, t) for e, t in zip(chosen, terms, strict=True) if t[1].sum() != 0]
        chosen, terms = [e for e, _ in kept], [t for _, t in kept]
    # one column per estimator, each contiguous: sums as over the column alone
    u = np.asfortranarray(np.column_stack([t[0] for t in terms]))
    v = np.asfortranarray(np.column_stack([t[1] for t in terms]))
    groups, g = data.groups
    if data.decision is not None:  # a decision's rows are resampled together
        u, v = _by_decision(u, groups, g), _by_decision(v, groups, g)
    values = np.array(
        [_ratio(e.name, n, d) for e, n, d in zip(chosen, u.sum(axis=0), v.sum(axis=0), strict=True)]
    )
    errors = ratio_standard_errors(u, v, values)
    intervals = ratio_intervals(
        u, v, values, errors, confidence=confidence, method=interval, resamples=resamples, seed=seed
    )
    diagnostics = support(data)
    return tuple(
        Estimate(
            estimator=e.name,
            parameters=e.parameters,
            value=float(value),
            interval=bounds,
            confidence=confidence,
            method=interval,
            standard_error=float(se),
            rows=data.rows,
            decisions=g,
            effective_sample_size=diagnostics.effective_sample_size,
            max_weight=diagnostics.max_weight,
            warnings=diagnostics.warnings,
        )
        for e, value, se, bounds in zip(chosen, values, errors, intervals, strict=True)
    )


def _by_decision(a: Floats, groups: NDArray[np.intp], g: int) -> Floats:
    out = np.zeros((g, a.shape[1]), order="F")
    np.add.at(out, groups, a)
    return out
