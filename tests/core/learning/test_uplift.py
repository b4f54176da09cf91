"""The T- and X-learners: the estimator contract, recovering known effects, intervals."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression

from nextoffer.core.learning.uplift import TLearner, UpliftError, XLearner

LEARNERS = [TLearner, XLearner]


def simulated(n: int = 8000, seed: int = 0, continuous: bool = False):
    """Two features; the offer adds 0.25 to conversion where x0 > 0 and takes 0.1 away
    elsewhere (revenue: 40 × that)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    t = rng.integers(0, 2, n)
    true_tau = np.where(X[:, 0] > 0, 0.25, -0.1)
    p = 0.3 + 0.05 * X[:, 1].clip(-2, 2) + t * true_tau
    y = (rng.random(n) < p).astype(float)
    if continuous:
        y = y * 40.0
        true_tau = true_tau * 40
    return X, t, y, true_tau


@pytest.mark.parametrize("cls", LEARNERS)
def test_init_only_stores_parameters_and_fit_returns_self(cls: type) -> None:
    learner = LogisticRegression()
    model = cls(learner, n_bootstrap=3, random_state=7)
    assert model.get_params()["learner"] is learner
    assert not hasattr(model, "outcome_")
    X, t, y, _ = simulated(600)
    assert model.fit(X, t, y) is model
    assert model.models_[0] is not learner  # cloned, the caller's estimator untouched
    assert not hasattr(learner, "coef_")
    assert clone(model).get_params()["random_state"] == 7
    assert len(model.replicas_) == 3


@pytest.mark.parametrize("cls", LEARNERS)
def test_predicting_before_fit_is_an_error(cls: type) -> None:
    with pytest.raises(NotFittedError):
        cls().predict(np.zeros((1, 2)))


@pytest.mark.parametrize("cls", LEARNERS)
@pytest.mark.parametrize("continuous", [False, True])
def test_recovers_a_known_heterogeneous_effect(cls: type, continuous: bool) -> None:
    X, t, y, _true_tau = simulated(continuous=continuous)
    model = cls().fit(X, t, y)
    assert model.outcome_ == ("continuous" if continuous else "binary")
    Xt, _, _, tau_t = simulated(2000, seed=1, continuous=continuous)
    tau = model.predict(Xt)
    scale = 40 if continuous else 1
    assert np.corrcoef(tau, tau_t)[0, 1] > 0.8
    assert abs(tau[tau_t > 0].mean() - 0.25 * scale) < 0.06 * scale
    assert abs(tau[tau_t < 0].mean() + 0.10 * scale) < 0.06 * scale
    base = model.predict_control(Xt)
    assert abs(base.mean() - 0.3 * scale) < 0.05 * scale


def test_x_learner_with_the_known_assignment_probability_fits_no_propensity_model() -> None:
    X, t, y, _ = simulated(3000)
    known = XLearner(propensity=0.5).fit(X, t, y)
    fitted = XLearner().fit(X, t, y)
    assert known.propensity_model_ is None
    assert isinstance(fitted.propensity_model_[-1], LogisticRegression)
    # a randomized 50/50 split: the fitted propensity is about 0.5, so the estimates agree
    assert np.abs(known.predict(X) - fitted.predict(X)).max() < 0.02


def test_x_learner_weighs_the_effect_models_by_the_propensity() -> None:
    X, t, y, _ = simulated(3000)
    model = XLearner(propensity=0.9, effect_learner=LinearRegression()).fit(X, t, y)
    tau0, tau1 = (m.predict(X[:5]) for m in model.effect_models_)
    assert np.allclose(model.predict(X[:5]), 0.9 * tau0 + 0.1 * tau1)


@pytest.mark.parametrize("cls", LEARNERS)
def test_bootstrap_intervals_cover_the_estimate_and_narrow_with_data(cls: type) -> None:
    small = cls(n_bootstrap=20).fit(*simulated(1500)[:3])
    large = cls(n_bootstrap=20).fit(*simulated(12000)[:3])
    Xq = np.array([[1.0, 0.0], [-1.0, 0.0]])
    lo, hi = large.predict_interval(Xq)
    tau = large.predict(Xq)
    assert (lo <= hi).all()
    assert (lo - 0.05 <= tau).all()
    assert (tau <= hi + 0.05).all()
    assert lo[0] > 0.1
    assert hi[1] < 0.0
    slo, shi = small.predict_interval(Xq)
    assert (hi - lo).mean() < (shi - slo).mean()
    with pytest.raises(UpliftError, match="n_bootstrap"):
        cls().fit(*simulated(600)[:3]).predict_interval(Xq)


def test_fits_are_deterministic_for_a_random_state() -> None:
    X, t, y, _ = simulated(2000)
    a = TLearner(n_bootstrap=3, random_state=3).fit(X, t, y)
    b = TLearner(n_bootstrap=3, random_state=3).fit(X, t, y)
    assert np.array_equal(a.predict(X), b.predict(X))
    assert np.array_equal(a.predict_interval(X)[0], b.predict_interval(X)[0])


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((np.zeros(10), np.zeros(10), np.zeros(10)), "X"),
        ((np.zeros((10, 2)), np.zeros(9), np.zeros(10)), "treatment"),
        ((np.zeros((10, 2)), np.full(10, 2), np.zeros(10)), "treatment"),
        ((np.zeros((10, 2)), np.r_[np.ones(9), 0], np.zeros(10)), "treatment"),
        ((np.zeros((10, 2)), np.r_[np.ones(5), np.zeros(5)], np.full(10, np.nan)), "y"),
        ((np.zeros((10, 2)), np.r_[np.ones(5), np.zeros(5)], np.zeros(10)), "y"),
    ],
)
def test_unusable_training_data_names_the_input(args: tuple, field: str) -> None:
    with pytest.raises(UpliftError) as err:
        TLearner().fit(*args)
    assert err.value.field == field


def test_a_binary_outcome_must_be_zero_or_one_and_new_rows_need_the_features() -> None:
    X, t, y, _ = simulated(600)
    with pytest.raises(UpliftError, match="y: a binary outcome"):
        TLearner(outcome="binary").fit(X, t, y * 2.5)
    model = TLearner().fit(X, t, y)
    with pytest.raises(UpliftError, match="X: needs 2 features"):
        model.predict(np.zeros((3, 5)))
    with pytest.raises(UpliftError, match="propensity"):
        XLearner(propensity=1.0).fit(X, t, y)


def test_missing_feature_values_are_handled_by_the_default_models() -> None:
    X, t, y, _ = simulated(2000)
    X[::7, 1] = np.nan
    tau = XLearner().fit(X, t, y).predict(X)
    assert np.isfinite(tau).all()
