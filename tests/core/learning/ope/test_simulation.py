"""On a simulated bandit whose truth is known (``bandit.py``), the unbiased estimators are
unbiased and their 95% intervals cover the truth 95% ± 3% of the time, over 200 seeds.

Each seed logs 1,000 decisions of an exploring strategy (a softmax); the target strategy
differs from it. With a reward model that is wrong (it ignores the context and is off by
0.05), IPS, SNIPS and DR stay on the truth and the direct method does not (which shows the
simulation can tell); with the true model, the direct method and every doubly robust
variant are on it. "On the truth": the mean over the seeds within three standard errors of
that mean. Both intervals are checked: the percentile bootstrap (200 resamples) and the
normal one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats

from nextoffer.core.learning.ope import (
    DM,
    DR,
    IPS,
    SNIPS,
    DRos,
    OffPolicyEstimator,
    SwitchDR,
    evaluate,
)

from .bandit import logs, truth

SEEDS, ROWS, RESAMPLES = 200, 1000, 200
Z = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class Outcome:
    truth: float
    mean: float
    se_of_mean: float  # over the seeds
    bootstrap_coverage: float
    normal_coverage: float

    @property
    def bias_in_se(self) -> float:
        return abs(self.mean - self.truth) / self.se_of_mean


def _simulate(target: str, model: str, estimators: list[OffPolicyEstimator]) -> dict[str, Outcome]:
    v = truth(target)
    values = np.zeros((SEEDS, len(estimators)))
    boot = np.zeros((SEEDS, len(estimators)), dtype=bool)
    normal = np.zeros((SEEDS, len(estimators)), dtype=bool)
    for seed in range(SEEDS):
        data = logs(seed, ROWS, target, model).data
        for j, e in enumerate(evaluate(data, estimators, resamples=RESAMPLES, seed=seed)):
            values[seed, j] = e.value
            boot[seed, j] = e.interval[0] <= v <= e.interval[1]
            normal[seed, j] = abs(e.value - v) <= Z * e.standard_error
    return {
        e.name: Outcome(
            v,
            float(values[:, j].mean()),
            float(values[:, j].std(ddof=1) / np.sqrt(SEEDS)),
            float(boot[:, j].mean()),
            float(normal[:, j].mean()),
        )
        for j, e in enumerate(estimators)
    }


@pytest.fixture(scope="module")
def wrong_model() -> dict[str, Outcome]:
    return _simulate("stochastic", "misspecified", [IPS(), SNIPS(), DM(), DR()])


@pytest.fixture(scope="module")
def true_model() -> dict[str, Outcome]:
    # a deterministic target; small τ and λ, so that the variants differ from DR here
    return _simulate("deterministic", "true", [DM(), DR(), SwitchDR(tau=2.0), DRos(lambda_=4.0)])


def _covers(rate: float) -> bool:
    return abs(rate - 0.95) <= 0.03 + 1e-12


@pytest.mark.parametrize("name", ["ips", "snips", "dr"])
def test_with_a_wrong_reward_model_ips_snips_and_dr_are_unbiased_and_cover(
    wrong_model: dict[str, Outcome], name: str
) -> None:
    outcome = wrong_model[name]
    assert outcome.bias_in_se <= 3, outcome
    assert _covers(outcome.bootstrap_coverage), outcome
    assert _covers(outcome.normal_coverage), outcome


def test_with_a_wrong_reward_model_the_direct_method_is_biased(
    wrong_model: dict[str, Outcome],
) -> None:
    outcome = wrong_model["dm"]
    assert outcome.bias_in_se > 10, outcome
    assert outcome.bootstrap_coverage < 0.5


def test_dr_beats_ips_on_variance_even_with_a_wrong_model(wrong_model: dict[str, Outcome]) -> None:
    assert wrong_model["dr"].se_of_mean < wrong_model["ips"].se_of_mean


@pytest.mark.parametrize("name", ["dm", "dr", "switch_dr", "dros"])
def test_with_the_true_reward_model_every_model_based_estimator_is_unbiased_and_covers(
    true_model: dict[str, Outcome], name: str
) -> None:
    outcome = true_model[name]
    assert outcome.bias_in_se <= 3, outcome
    assert _covers(outcome.bootstrap_coverage), outcome
    assert _covers(outcome.normal_coverage), outcome


def test_shrinking_the_weights_lowers_the_variance(true_model: dict[str, Outcome]) -> None:
    assert true_model["dros"].se_of_mean < true_model["dr"].se_of_mean
    assert true_model["switch_dr"].se_of_mean < true_model["dr"].se_of_mean


def main() -> None:
    """The figures behind these tests, as a table:
    ``python -m tests.core.learning.ope.test_simulation`` (seconds)."""
    runs = {
        "wrong reward model, stochastic target": _simulate(
            "stochastic", "misspecified", [IPS(), SNIPS(), DM(), DR()]
        ),
        "true reward model, deterministic target": _simulate(
            "deterministic", "true", [DM(), DR(), SwitchDR(tau=2.0), DRos(lambda_=4.0)]
        ),
    }
    print(f"{SEEDS} seeds × {ROWS} logged decisions, {RESAMPLES} bootstrap resamples")
    print(f"{'run':42} {'estimator':10} {'truth':>7} {'mean':>7} {'|bias|/se':>9}"
          f" {'se':>7} {'boot cov':>8} {'normal cov':>10}")  # fmt: skip
    for run, outcomes in runs.items():
        for name, o in outcomes.items():
            print(f"{run:42} {name:10} {o.truth:7.4f} {o.mean:7.4f} {o.bias_in_se:9.2f}"
                  f" {o.se_of_mean:7.5f} {o.bootstrap_coverage:8.3f} {o.normal_coverage:10.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
