"""Uplift learners: who an offer persuades, as an effect τ(x) per customer (the CATE).

Both learners follow the scikit-learn estimator contract: ``__init__`` only stores its
arguments, ``fit(X, treatment, y)`` validates, clones the base learners and returns
``self``, and learned attributes end in ``_``. ``predict(X)`` gives τ(x) = E[y | treated, x]
− E[y | control, x]; ``predict_control(X)`` the base rate E[y | control, x] (what happens
without the offer); ``predict_interval(X)`` a percentile interval from bootstrap replicas
(``n_bootstrap`` ≥ 2 at fit time).

- **T-learner**: one model per arm; τ(x) = μ₁(x) − μ₀(x).
- **X-learner** (Künzel et al. 2019): the T-learner's models impute each customer's effect
  (treated: y − μ₀(x); control: μ₁(x) − y), one effect model per arm learns those, and
  τ(x) = e(x)·τ₀(x) + (1 − e(x))·τ₁(x). With ``propensity`` given (the known assignment
  probability of a randomized holdout, e.g. 0.9 treated) e is that constant and no
  propensity model is fitted; otherwise ``propensity_learner`` (a logistic regression by
  default) estimates e(x).

The outcome is ``binary`` (conversion: the arm models are classifiers and μ is a
probability) or ``continuous`` (revenue: regressors); ``"auto"`` picks binary when y only
holds 0 and 1. The default base learner is a small, well-regularised gradient-boosted
ensemble (``default_learner``): uplift signals are weak, and deep trees fit noise.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(4000, 2)); t = rng.integers(0, 2, 4000)
>>> y = (rng.random(4000) < 0.2 + 0.2 * t * (X[:, 0] > 0)).astype(int)
>>> tau = TLearner().fit(X, t, y).predict(X)
>>> round(float(tau[X[:, 0] > 0].mean()), 2), round(float(tau[X[:, 0] < 0].mean()), 2)
(0.16, -0.01)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, Literal, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from ..errors import NextofferError

__all__ = [
    "Fits",
    "Outcome",
    "TLearner",
    "UpliftError",
    "XLearner",
    "default_learner",
    "default_propensity",
]

Outcome = Literal["auto", "binary", "continuous"]
Floats = NDArray[np.float64]
Fits = Callable[
    [Callable[[NDArray[np.intp]], "_MetaLearner"], list[NDArray[np.intp]]], Iterable["_MetaLearner"]
]


class UpliftError(NextofferError):
    """Training data an uplift learner cannot use; raised by ``fit``, ``field`` names the
    input at fault."""


def default_learner(
    outcome: Literal["binary", "continuous"], random_state: int = 0, rows: int | None = None
) -> Any:
    """Shallow boosted trees with large leaves and an L2 penalty: 100 rounds at rate 0.05,
    at most 8 leaves of at least 100 samples each (of at least a tenth of ``rows`` when
    fewer than 1,000 rows train it, but never under 20), no early stopping (deterministic).
    Uplift signals are weak: a small arm gets few, large leaves rather than many noisy ones."""
    leaf = 100 if rows is None else int(np.clip(rows // 10, 20, 100))
    params: dict[str, Any] = {
        "learning_rate": 0.05,
        "max_iter": 100,
        "max_leaf_nodes": 8,
        "min_samples_leaf": leaf,
        "l2_regularization": 1.0,
        "early_stopping": False,
        "random_state": random_state,
    }
    if outcome == "binary":
        return HistGradientBoostingClassifier(**params)
    return HistGradientBoostingRegressor(**params)


def default_propensity() -> Any:
    """A logistic regression on standardised features, missing values imputed by the mean."""
    return make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=1000))


def _mean(model: Any, X: Floats, binary: bool) -> Floats:
    if binary:
        proba = model.predict_proba(X)
        return np.asarray(proba[:, list(model.classes_).index(1)], dtype=float)
    return np.asarray(model.predict(X), dtype=float)


class _MetaLearner(BaseEstimator, ABC):  # type: ignore[misc]
    """What both learners share: validation, outcome type, bootstrap replicas."""

    learner: Any
    outcome: Outcome
    n_bootstrap: int
    random_state: int

    def _validate(
        self, X: ArrayLike, treatment: ArrayLike, y: ArrayLike
    ) -> tuple[Floats, NDArray[np.int8], Floats]:
        Xa = np.asarray(X, dtype=float)
        if Xa.ndim != 2:
            raise UpliftError("X", f"needs two dimensions (rows × features), got {Xa.ndim}")
        t = np.asarray(treatment)
        ya = np.asarray(y, dtype=float)
        if t.shape != (len(Xa),) or ya.shape != (len(Xa),):
            raise UpliftError(
                "treatment" if t.shape != (len(Xa),) else "y",
                f"needs one value per row of X ({len(Xa)})",
            )
        if not np.isin(t, (0, 1)).all():
            raise UpliftError("treatment", "must be 0 (control) or 1 (treated)")
        if not np.isfinite(ya).all():
            raise UpliftError("y", "must be finite numbers")
        t8 = t.astype(np.int8)
        for arm, name in ((1, "treated"), (0, "control")):
            if (t8 == arm).sum() < 2:
                raise UpliftError("treatment", f"needs at least 2 {name} rows")
        if self.outcome not in ("auto", "binary", "continuous"):
            raise UpliftError("outcome", "must be auto, binary or continuous")
        binary = bool(np.isin(ya, (0.0, 1.0)).all())
        if self.outcome == "binary" and not binary:
            raise UpliftError("y", "a binary outcome must be 0 or 1")
        self.outcome_ = (
            "binary"
            if self.outcome == "auto" and binary
            else ("continuous" if self.outcome == "auto" else self.outcome)
        )
        if self.outcome_ == "binary":
            for arm, name in ((1, "treated"), (0, "control")):
                if len(np.unique(ya[t8 == arm])) < 2:
                    raise UpliftError("y", f"the {name} rows need both outcomes (0 and 1)")
        if self.n_bootstrap < 0 or self.n_bootstrap == 1:
            raise UpliftError("n_bootstrap", "must be 0 (no intervals) or at least 2")
        self.n_features_in_ = Xa.shape[1]
        return Xa, t8, ya

    def _base(self, rows: int) -> Any:
        binary = self.outcome_ == "binary"
        if self.learner is None:
            return default_learner("binary" if binary else "continuous", self.random_state, rows)
        return clone(self.learner)

    def fit(
        self, X: ArrayLike, treatment: ArrayLike, y: ArrayLike, *, fits: Fits | None = None
    ) -> Self:
        """``fits``: how the bootstrap replicas are fitted, as ``map`` would (the default):
        called with a function of a replica's rows and the rows of every replica, it gives
        the fitted replicas in order (a Spark job runs them on its executors)."""
        Xa, t, ya = self._validate(X, treatment, y)
        self._fit_arms(Xa, t, ya)
        self.replicas_: list[_MetaLearner] = []
        if self.n_bootstrap:
            rng = np.random.default_rng(self.random_state)
            treated, control = np.flatnonzero(t == 1), np.flatnonzero(t == 0)
            draws = [  # resampled within each arm: arm sizes stay
                np.concatenate(
                    [rng.choice(treated, treated.size), rng.choice(control, control.size)]
                )
                for _ in range(self.n_bootstrap)
            ]
            template, outcome, features = clone(self), self.outcome_, self.n_features_in_

            def replica(rows: NDArray[np.intp]) -> _MetaLearner:
                fitted: _MetaLearner = clone(template)
                fitted.outcome_ = outcome
                fitted.n_features_in_ = features
                fitted._fit_arms(Xa[rows], t[rows], ya[rows])
                return fitted

            self.replicas_ = list((fits or map)(replica, draws))
        return self

    @abstractmethod
    def _fit_arms(self, X: Floats, t: NDArray[np.int8], y: Floats) -> None: ...

    @abstractmethod
    def _tau(self, X: Floats) -> Floats: ...

    def _check(self, X: ArrayLike) -> Floats:
        check_is_fitted(self, "outcome_")
        Xa = np.asarray(X, dtype=float)
        if Xa.ndim != 2 or Xa.shape[1] != self.n_features_in_:
            raise UpliftError("X", f"needs {self.n_features_in_} features per row")
        return Xa

    def predict(self, X: ArrayLike) -> Floats:
        """τ(x): the offer's effect on the outcome for each row."""
        return self._tau(self._check(X))

    def predict_control(self, X: ArrayLike) -> Floats:
        """μ₀(x): the outcome without the offer (the base rate, for a binary outcome)."""
        model = self.models_[0]
        return _mean(model, self._check(X), self.outcome_ == "binary")

    def predict_interval(self, X: ArrayLike, confidence: float = 0.95) -> tuple[Floats, Floats]:
        """A percentile interval of τ(x) over the bootstrap replicas."""
        Xa = self._check(X)
        if not self.replicas_:
            raise UpliftError("n_bootstrap", "intervals need a model fitted with n_bootstrap ≥ 2")
        if not 0 < confidence < 1:
            raise UpliftError("confidence", "must be between 0 and 1")
        draws = np.stack([r._tau(Xa) for r in self.replicas_])
        tail = (1 - confidence) / 2 * 100
        lo, hi = np.percentile(draws, [tail, 100 - tail], axis=0)
        return np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)

    models_: list[Any]


class TLearner(_MetaLearner):
    """Two models, one per arm; τ(x) = μ₁(x) − μ₀(x).

    ``learner``: the base estimator for both arms (cloned; ``None`` = ``default_learner``).
    Learned: ``models_`` (control, treated), ``outcome_``, ``replicas_``.
    """

    def __init__(
        self,
        learner: Any = None,
        *,
        outcome: Outcome = "auto",
        n_bootstrap: int = 0,
        random_state: int = 0,
    ) -> None:
        self.learner = learner
        self.outcome = outcome
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def _fit_arms(self, X: Floats, t: NDArray[np.int8], y: Floats) -> None:
        self.models_ = [
            self._base(int((t == arm).sum())).fit(X[t == arm], y[t == arm]) for arm in (0, 1)
        ]

    def _tau(self, X: Floats) -> Floats:
        binary = self.outcome_ == "binary"
        return _mean(self.models_[1], X, binary) - _mean(self.models_[0], X, binary)


class XLearner(_MetaLearner):
    """The X-learner: imputed effects per arm, weighted by the propensity e(x).

    ``learner``: the arms' outcome models; ``effect_learner``: the effect models (regressors;
    ``None`` = ``default_learner("continuous")``); ``propensity``: the known probability of
    treatment (a randomized holdout), or ``None`` to fit ``propensity_learner`` (``None`` =
    logistic regression). Learned: ``models_`` (control, treated), ``effect_models_``
    (τ₀ from control rows, τ₁ from treated rows), ``propensity_model_`` (or ``None``).
    """

    def __init__(
        self,
        learner: Any = None,
        *,
        effect_learner: Any = None,
        propensity: float | None = None,
        propensity_learner: Any = None,
        outcome: Outcome = "auto",
        n_bootstrap: int = 0,
        random_state: int = 0,
    ) -> None:
        self.learner = learner
        self.effect_learner = effect_learner
        self.propensity = propensity
        self.propensity_learner = propensity_learner
        self.outcome = outcome
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def _fit_arms(self, X: Floats, t: NDArray[np.int8], y: Floats) -> None:
        if self.propensity is not None and not 0 < self.propensity < 1:
            raise UpliftError("propensity", "must be strictly between 0 and 1")
        binary = self.outcome_ == "binary"
        control, treated = t == 0, t == 1
        self.models_ = [
            self._base(int(arm.sum())).fit(X[arm], y[arm]) for arm in (control, treated)
        ]
        imputed = {
            0: _mean(self.models_[1], X[control], binary) - y[control],
            1: y[treated] - _mean(self.models_[0], X[treated], binary),
        }
        effect = self.effect_learner
        self.effect_models_ = [
            (
                default_learner("continuous", self.random_state)
                if effect is None
                else clone(effect)
            ).fit(X[arm], imputed[k])
            for k, arm in ((0, control), (1, treated))
        ]
        self.propensity_model_ = None
        if self.propensity is None:
            model = self.propensity_learner
            model = default_propensity() if model is None else clone(model)
            self.propensity_model_ = model.fit(X, t)

    def _tau(self, X: Floats) -> Floats:
        if self.propensity_model_ is None:
            assert self.propensity is not None  # given, hence no model
            e = np.full(len(X), float(self.propensity))
        else:
            e = _mean(self.propensity_model_, X, True)
        tau0, tau1 = (np.asarray(m.predict(X), dtype=float) for m in self.effect_models_)
        return np.asarray(e * tau0 + (1 - e) * tau1, dtype=float)
