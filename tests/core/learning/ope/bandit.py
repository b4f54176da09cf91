"""A simulated bandit whose truth is known: contexts, candidates, true conversion rates, a
logging strategy that explores (softmax) and target strategies to evaluate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nextoffer.core.learning.ope import LoggedDecisions

Floats = NDArray[np.float64]

CONTEXTS, K = 6, 4
_rng = np.random.default_rng(2024)
SHARE = _rng.dirichlet(np.full(CONTEXTS, 5.0))  # how often each context comes
RATES = _rng.uniform(0.05, 0.6, size=(CONTEXTS, K))  # true conversion rate q(x, a)


def softmax(scores: Floats, temperature: float) -> Floats:
    z = np.exp((scores - scores.max(axis=1, keepdims=True)) / temperature)
    return z / z.sum(axis=1, keepdims=True)


# The logging strategy explores: a softmax over noisy scores (every probability > 0).
LOGGING = softmax(RATES + _rng.normal(0, 0.15, size=RATES.shape), 0.15)
TARGETS = {
    # a better strategy that still hedges
    "stochastic": softmax(RATES, 0.05),
    # a draft that always picks one candidate, often not the logging strategy's favourite
    "deterministic": np.eye(K)[np.argmax(RATES + _rng.normal(0, 0.1, size=RATES.shape), axis=1)],
}
MODELS = {
    "true": RATES,
    # ignores the context and is off by 0.05: the direct method is biased with it
    "misspecified": np.tile(RATES.mean(axis=0) + 0.05, (CONTEXTS, 1)),
}


def truth(target: str) -> float:
    """V(π_e) = Σ_x P(x) Σ_a π_e(a | x) q(x, a)."""
    return float(SHARE @ (TARGETS[target] * RATES).sum(axis=1))


def _draw(rng: np.random.Generator, probabilities: Floats) -> NDArray[np.intp]:
    """One draw per row of a matrix of probabilities."""
    cut = rng.random(probabilities.shape[0])[:, None]
    picks = (probabilities.cumsum(axis=1) < cut).sum(axis=1)
    return np.minimum(picks, probabilities.shape[1] - 1).astype(np.intp)


@dataclass(frozen=True)
class Logs:
    context: NDArray[np.intp]
    data: LoggedDecisions


def logs(
    seed: int,
    n: int,
    target: str | Floats = "stochastic",
    model: str | None = "misspecified",
    *,
    logging: Floats = LOGGING,
) -> Logs:
    """``n`` decisions of ``logging`` (probabilities per context), with ``target``'s
    probabilities (a name of ``TARGETS`` or a table per context) and ``model``'s estimates
    (none when ``model`` is None)."""
    table = TARGETS[target] if isinstance(target, str) else target
    rng = np.random.default_rng(seed)
    x = rng.choice(CONTEXTS, size=n, p=SHARE)
    a = _draw(rng, logging[x])
    r = (rng.random(n) < RATES[x, a]).astype(float)
    data = LoggedDecisions(
        action=a,
        propensity=logging[x, a],
        reward=r,
        target=table[x],
        reward_model=None if model is None else MODELS[model][x],
    )
    return Logs(x, data)


def on_policy(seed: int, n: int) -> LoggedDecisions:
    """The logging strategy evaluated on its own logs, with a reward model that knows each
    row's outcome whatever is chosen (q̂(x_i, a) = r_i)."""
    d = logs(seed, n, target=LOGGING, model=None).data
    return LoggedDecisions(
        action=d.action,
        propensity=d.propensity,
        reward=d.reward,
        target=d.target,
        reward_model=np.repeat(d.reward[:, None], K, axis=1),
    )
