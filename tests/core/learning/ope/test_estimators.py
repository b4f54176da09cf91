"""The estimators compute Open Bandit Pipeline's formulas: checked by hand on a small example,
against straightforward reference implementations (loops over the rows), and at their
limits; the registry, ``evaluate`` and the support diagnostics."""

from __future__ import annotations

import math
from fractions import Fraction as F
from typing import get_args

import numpy as np
import pytest

from nextoffer.core.errors import NextofferError
from nextoffer.core.learning.ope import (
    DM,
    DR,
    ESTIMATORS,
    IPS,
    LOW_SUPPORT,
    SNIPS,
    DRos,
    EstimatorName,
    LoggedDecisions,
    OpeError,
    SwitchDR,
    evaluate,
    support,
)
from nextoffer.core.registry import UnknownEntryError

from .bandit import logs

# Three logged decisions over two candidates (the example of the estimators' docstring):
#   row  a  π_b(a|x)  r  π_e(·|x)     q̂(x,·)      w = π_e(a|x)/π_b(a|x)  q̂(x,π_e)
#   0    0  1/2       1  (1, 0)       (.6, .2)    1 / (1/2) = 2          .6
#   1    1  1/4       0  (1/2, 1/2)   (.4, .3)    (1/2) / (1/4) = 2      .35
#   2    0  4/5       1  (0, 1)       (.5, .7)    0 / (4/5) = 0          .7
EXAMPLE = LoggedDecisions(
    action=[0, 1, 0],
    propensity=[0.5, 0.25, 0.8],
    reward=[1.0, 0.0, 1.0],
    target=[[1, 0], [0.5, 0.5], [0, 1]],
    reward_model=[[0.6, 0.2], [0.4, 0.3], [0.5, 0.7]],
)
W = [F(2), F(2), F(0)]
R = [F(1), F(0), F(1)]
Q_TARGET = [F(6, 10), F(35, 100), F(7, 10)]
Q_LOGGED = [F(6, 10), F(3, 10), F(5, 10)]


def _dr(weights: list[F]) -> F:
    return (
        sum(
            (q + w * (r - ql) for q, w, r, ql in zip(Q_TARGET, weights, R, Q_LOGGED, strict=True)),
            F(0),
        )
        / 3
    )


@pytest.mark.parametrize(
    ("estimator", "expected"),
    [
        (IPS(), F(2 * 1 + 2 * 0 + 0 * 1, 3)),  # 2/3
        (SNIPS(), F(2 * 1 + 2 * 0 + 0 * 1, 2 + 2 + 0)),  # 1/2
        (DM(), sum(Q_TARGET, F(0)) / 3),  # (.6 + .35 + .7)/3 = .55
        (DR(), _dr(W)),  # (1.4 − .25 + .7)/3 = .61666…
        (SwitchDR(tau=2.0), _dr(W)),  # w ≤ τ: inclusive, as OBP; = DR
        (SwitchDR(tau=1.5), _dr([F(0), F(0), F(0)])),  # both weights of 2 switched off: DM
        (SwitchDR(tau=math.inf), _dr(W)),
        (SwitchDR(tau=0.0), _dr([F(0), F(0), F(0)])),
        (DRos(lambda_=4.0), _dr([F(4 * 2, 4 + 4), F(4 * 2, 4 + 4), F(0)])),  # ŵ = λw/(w²+λ) = 1
        (DRos(lambda_=100.0), _dr([F(200, 104), F(200, 104), F(0)])),
        (DRos(lambda_=math.inf), _dr(W)),
        (DRos(lambda_=0.0), _dr([F(0), F(0), F(0)])),
    ],
    ids=lambda x: repr(x) if not isinstance(x, F) else str(x),
)
def test_the_small_example_by_hand(estimator: object, expected: F) -> None:
    assert estimator.value(EXAMPLE) == pytest.approx(float(expected), abs=1e-12)  # type: ignore[attr-defined]


def test_the_small_example_standard_errors_by_hand() -> None:
    # IPS: terms (2, 0, 0), mean 2/3, sample variance ((4/3)² + 2·(2/3)²)/2 = 4/3, SE² = 4/9
    assert IPS().estimate(EXAMPLE, interval="normal").standard_error == pytest.approx(2 / 3)
    # SNIPS: residuals w(r − 1/2) = (1, −1, 0), SE² = 3/2 · 2 / (Σw)² = 3/16
    assert SNIPS().estimate(EXAMPLE, interval="normal").standard_error == pytest.approx(
        math.sqrt(3) / 4
    )


def test_the_small_example_support_by_hand() -> None:
    s = support(EXAMPLE)
    assert s.effective_sample_size == pytest.approx((2 + 2) ** 2 / (4 + 4))  # 2
    assert (s.max_weight, s.zero_weight_rows, s.deterministic_rows) == (2.0, 1, 0)
    assert s.unsupported_mass == 0.0


# Reference implementations: one row at a time, as the formulas read.
def _rows(d: LoggedDecisions):  # type: ignore[no-untyped-def]
    for i in range(d.rows):
        a = int(d.action[i])
        w = d.target[i, a] / d.propensity[i]
        q = d.reward_model[i] if d.reward_model is not None else None
        q_target = None if q is None else sum(d.target[i, b] * q[b] for b in range(d.columns))
        q_logged = None if q is None else q[a]
        yield w, float(d.reward[i]), q_target, q_logged


def _reference(name: str, d: LoggedDecisions, tau: float = 10.0, lam: float = 100.0) -> float:
    rows = list(_rows(d))
    n = len(rows)
    if name == "ips":
        return sum(w * r for w, r, _, _ in rows) / n
    if name == "snips":
        return sum(w * r for w, r, _, _ in rows) / sum(w for w, _, _, _ in rows)
    if name == "dm":
        return sum(qt for _, _, qt, _ in rows) / n
    shrink = {
        "dr": lambda w: w,
        "switch_dr": lambda w: w if w <= tau else 0.0,
        "dros": lambda w: lam * w / (w * w + lam),
    }[name]
    return sum(qt + shrink(w) * (r - ql) for w, r, qt, ql in rows) / n


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_the_reference_on_random_logs(name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = 40, 5
    candidates = rng.random((n, k)) < 0.7
    candidates[np.arange(n), rng.integers(0, k, n)] = True
    logging = rng.random((n, k)) * candidates
    logging /= logging.sum(axis=1, keepdims=True)
    action = np.array([rng.choice(k, p=p) for p in logging])
    target = rng.random((n, k)) ** 4 * candidates
    target /= target.sum(axis=1, keepdims=True)
    model = np.where(candidates, rng.random((n, k)), np.nan)
    d = LoggedDecisions(
        action=action,
        propensity=logging[np.arange(n), action],
        reward=rng.normal(20, 10, n),
        target=target,
        reward_model=model,
        candidates=candidates,
    )
    estimator = ESTIMATORS[name](*(() if name in ("ips", "snips", "dm", "dr") else (3.0,)))
    expected = _reference(name, d, tau=3.0, lam=3.0)
    assert estimator.value(d) == pytest.approx(expected, rel=1e-12)


def test_the_bootstrap_agrees_with_a_plain_resampling_loop() -> None:
    d = logs(1, 60, "stochastic").data
    e = SNIPS().estimate(d, resamples=300, seed=11)
    rng = np.random.default_rng(11)
    picks = rng.integers(0, d.rows, size=(300, d.rows))
    w, r = d.weights, d.reward
    draws = [float((w[p] * r[p]).sum() / w[p].sum()) for p in picks]
    assert e.interval == pytest.approx(tuple(np.quantile(draws, [0.025, 0.975])), rel=1e-12)


def test_a_decisions_rows_are_resampled_together() -> None:
    # two slots per decision: the standard error is that of the per-decision sums
    d = logs(2, 200, "stochastic").data
    paired = d.take(np.arange(d.rows))
    ids = np.repeat(np.arange(100), 2)
    grouped = LoggedDecisions(
        action=paired.action, propensity=paired.propensity, reward=paired.reward,
        target=paired.target, reward_model=paired.reward_model, decision=ids,
    )  # fmt: skip
    e = DR().estimate(grouped, interval="normal")
    assert (e.rows, e.decisions) == (200, 100)
    u = DR().terms(d)[0].reshape(100, 2).sum(axis=1)  # per decision; each has 2 rows
    v = np.full(100, 2.0)
    value = u.sum() / v.sum()
    se = math.sqrt(100 / 99 * ((u - value * v) ** 2).sum()) / v.sum()
    assert e.value == pytest.approx(value, rel=1e-12)
    assert e.standard_error == pytest.approx(se, rel=1e-12)
    # the bootstrap draws decisions, not rows
    boot = DR().estimate(grouped, resamples=100, seed=4)
    picks = np.random.default_rng(4).integers(0, 100, size=(100, 100))
    draws = [u[p].sum() / v[p].sum() for p in picks]
    assert boot.interval == pytest.approx(tuple(np.quantile(draws, [0.025, 0.975])), rel=1e-12)


def test_ips_and_snips_return_the_logged_mean_on_the_logging_strategys_own_logs() -> None:
    from .bandit import LOGGING

    d = logs(4, 400, LOGGING, model="misspecified").data
    assert np.allclose(d.weights, 1.0)
    assert IPS().value(d) == pytest.approx(d.reward.mean(), abs=1e-12)
    assert SNIPS().value(d) == pytest.approx(d.reward.mean(), abs=1e-12)
    # DR's correction then has mean r − q̂(x, a): on average the logged mean, not exactly
    assert DR().value(d) == pytest.approx(
        d.reward.mean() + (DM().terms(d)[0] - d.reward_model[np.arange(d.rows), d.action]).mean()  # type: ignore[index]
    )


def test_the_registry_and_the_spec_agree() -> None:
    assert list(ESTIMATORS) == list(get_args(EstimatorName))
    assert [ESTIMATORS[n].needs_reward_model for n in ESTIMATORS] == [
        False, False, True, True, True, True,
    ]  # fmt: skip


def test_an_unknown_estimator_is_refused() -> None:
    with pytest.raises(UnknownEntryError) as caught:
        evaluate(EXAMPLE, ["ips", "magic"])
    assert caught.value.field == "estimator"
    assert caught.value.message == (
        "unknown estimator 'magic' (known: dm, dr, dros, ips, snips, switch_dr)"
    )


@pytest.mark.parametrize(
    ("estimator", "field"),
    [
        (SwitchDR(tau=-1.0), "tau"),
        (SwitchDR(tau=float("nan")), "tau"),
        (SwitchDR(tau="big"), "tau"),  # type: ignore[arg-type]
        (DRos(lambda_=-0.5), "lambda_"),
        (DRos(lambda_=float("nan")), "lambda_"),
        (DRos(lambda_=True), "lambda_"),
    ],
    ids=repr,
)
def test_bad_hyperparameters_are_refused_when_used(estimator: object, field: str) -> None:
    with pytest.raises(OpeError) as caught:
        estimator.estimate(EXAMPLE)  # type: ignore[attr-defined]
    assert isinstance(caught.value, NextofferError)
    assert caught.value.field == field


def test_evaluate_runs_what_the_data_allows_by_default() -> None:
    names = [e.estimator for e in evaluate(EXAMPLE, resamples=50)]
    assert names == ["ips", "snips", "dm", "dr", "switch_dr", "dros"]
    bare = LoggedDecisions(
        action=EXAMPLE.action, propensity=EXAMPLE.propensity, reward=EXAMPLE.reward,
        target=EXAMPLE.target,
    )  # fmt: skip
    assert [e.estimator for e in evaluate(bare, resamples=50)] == ["ips", "snips"]
    with pytest.raises(OpeError) as caught:
        evaluate(bare, ["dr"])
    assert caught.value.field == "reward_model"


def test_evaluate_takes_estimators_with_their_settings_and_shares_the_resamples() -> None:
    d = logs(5, 300, "deterministic").data
    out = evaluate(d, [DR(), SwitchDR(tau=1.5), "dros"], resamples=100, seed=9)
    assert [(e.estimator, dict(e.parameters)) for e in out] == [
        ("dr", {}), ("switch_dr", {"tau": 1.5}), ("dros", {"lambda_": 100.0}),
    ]  # fmt: skip
    # the same resamples: an estimator alone gives the same interval as beside the others
    assert out[1] == SwitchDR(tau=1.5).estimate(d, resamples=100, seed=9)


def test_evaluate_with_no_estimators_gives_nothing() -> None:
    assert evaluate(EXAMPLE, []) == ()


def test_without_any_support_snips_is_undefined_and_left_out_by_default() -> None:
    # deterministic logs (probability 1) and a target that always picks the other candidate
    d = LoggedDecisions(
        action=[0, 0, 1],
        propensity=[1.0, 1.0, 1.0],
        reward=[1.0, 0.0, 1.0],
        target=[[0, 1], [0, 1], [1, 0]],
        reward_model=[[0.5, 0.2], [0.5, 0.2], [0.1, 0.9]],
    )
    with pytest.raises(OpeError) as caught:
        SNIPS().estimate(d)
    assert caught.value.field == "target"
    assert caught.value.message.startswith("snips is undefined")
    out = {e.estimator: e for e in evaluate(d, resamples=50)}
    assert "snips" not in out
    assert out["ips"].value == 0.0
    assert out["dr"].value == pytest.approx((0.2 + 0.2 + 0.1) / 3)  # the model alone
    s = support(d)
    assert (s.effective_sample_size, s.deterministic_rows, s.unsupported_mass) == (0.0, 3, 1.0)
    assert s.warnings[0].startswith("no support")
    assert "3 of 3 decisions were logged deterministically" in s.warnings[1]
    assert out["dr"].warnings == s.warnings


def test_deterministic_rows_are_flagged_with_the_choices_they_cannot_judge() -> None:
    d = LoggedDecisions(
        action=[0, 0, 1, 1],
        propensity=[1.0, 0.5, 0.5, 1.0],
        reward=[1.0, 0.0, 1.0, 1.0],
        target=[[0.25, 0.75], [0.5, 0.5], [0.5, 0.5], [0.0, 1.0]],
    )
    s = support(d)
    assert s.deterministic_rows == 2
    assert s.unsupported_mass == pytest.approx(0.75 / 4)  # row 0 puts 3/4 elsewhere; row 3 none
    assert s.warnings == (
        "2 of 4 decisions were logged deterministically (probability 1); on them the target "
        "strategy puts 18.8% of its choices on candidates the logs never showed, which the "
        "weighted estimates count as no reward and the reward-model estimates take from the "
        "model",
    )


def test_little_support_is_a_warning() -> None:
    n = 100
    # one decision in a hundred was the target's rare choice, logged with probability 0.01
    d = LoggedDecisions(
        action=[1] + [0] * (n - 1),
        propensity=[0.01] + [0.99] * (n - 1),
        reward=[1.0] + [0.0] * (n - 1),
        target=[[0.0, 1.0]] * n,
    )
    s = support(d)
    assert s.effective_sample_size == pytest.approx(1.0)
    assert s.effective_sample_size < LOW_SUPPORT * n
    assert s.max_weight == pytest.approx(100.0)
    assert s.zero_weight_rows == n - 1
    assert s.warnings == (
        "little support: the effective sample size is 1.0 of 100 logged decisions (under "
        "10%); the largest weight is 100",
    )
