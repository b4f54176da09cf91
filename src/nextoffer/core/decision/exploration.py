"""Exploration: how a channel chooses in each slot among the candidates left for it, and
with which probability. With the scoring, it makes the channel's **strategy**.

Exploration acts only in the place stage, among the candidates that passed every filter
(qualification, contact policies, scoring, gates): it never brings back a candidate that
left, it respects placements, mutual exclusion and the request's ``limit``, and the
holdout's control group still gets the fallback (the counterfactual it logs is what the
strategy chose). The slot's candidates (the **arms**) come in rank order: priority, then
score, then attach rate, then offer id.

- ``greedy``: the first arm, with probability 1 (the engine's own path: no chooser runs
  and nothing more is recorded).
- ``epsilon_greedy``: the first arm with probability 1 − ε, otherwise one of the k arms
  uniformly: the first arm's probability is 1 − ε + ε ÷ k, every other's ε ÷ k. With a
  ``floor`` f, every other arm gets max(ε ÷ k, min(f, 1 ÷ k)) and the first the rest.
  This is the one kind that crosses priorities: its uniform share gives every eligible
  candidate a chance, and off-policy estimates their support.
- ``softmax``: among the arms of the highest priority present (a lower priority is chosen
  only when none of a higher one is left, as in the greedy rank), probability
  ∝ exp(score ÷ T), T the ``temperature`` in the scores' unit (money for
  ``expected_value`` and ``incremental_value``, [0, 1] for ``prie``). As T → 0 it is greedy.
- ``thompson``: each slot ranks the arms on one draw of their attach rates from their
  Beta posteriors (``AttachRate.posterior``: the counts and the prior the snapshot's
  estimates are made of) and of their τ, where the strategy reads τ and the customer's
  state gives its 95% interval (``CustomerState.cate_intervals``: τ ~ Normal(τ,
  (upper − lower) ÷ 3.92), clipped to [−1, 1]; without an interval τ stays fixed at its
  estimate): the arms are rescored with the draw and ranked as the greedy rank ranks the
  estimates (priority first, then the drawn score; a tie goes to the higher-ranked arm),
  and the first is chosen. With no uncertainty left it is greedy.

  **Probabilities by Monte Carlo.** The snapshot keeps ``draws`` draws (default 200) of
  each attach-rate estimate's posterior (``AttachDraws``: made when first needed, seeded
  with its version and the estimate). A slot's probability of each arm is its share of the
  ``draws`` rows in which it wins (a Monte Carlo estimate of the Thompson probability,
  standard error √(q(1 − q) ÷ draws)), and the slot chooses with one of those rows, taken
  uniformly at random from the decision's seed (with τ drawn for the decision, one value
  per row). So the probability logged is exactly the probability with which the arm was
  chosen, an arm is chosen only with a probability of at least 1 ÷ draws (an importance
  weight is at most ``draws``), and a decision makes no Beta draw once the snapshot has
  those of its arms. An arm alone at the top priority is chosen without a draw. With six
  arms or more, only those that can win a row are scored: an arm whose best score over
  its draws is below another's worst cannot (a score is monotone in the attach rate); an
  arm whose τ is drawn always can.

**Seeds.** Every random number of a decision comes from one ``numpy.random.Generator``
(PCG64) whose state is the BLAKE2b hash of the seed the caller gives: the decision's id on
the live path (a snapshot's attach-rate draws, from its version and the estimate). The
same snapshot, state, request and seed give the same decision.

Each kind is one entry of ``EXPLORATIONS`` (an ``Explorer``); adding one is its name in
``spec.py`` (``ExplorationName``, with its settings in ``EXPLORATION_FIELDS``) and its entry
here; importing this module checks that the two agree.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, cast, get_args

import numpy as np
from numpy.random import SeedSequence
from numpy.random.bit_generator import ISeedSequence
from numpy.typing import NDArray

from ..learning.attach import AttachRates
from ..registry import Registry
from .candidates import NEG_PRIORITY, NEG_SCORE, OFFER, OFFER_ID, Ranked
from .scoring import Floats, ScoringStrategy
from .spec import ExplorationName, ExplorationSpec, ScoringSpec

__all__ = [
    "EXPLORATIONS",
    "Arm",
    "AttachDraws",
    "Belief",
    "Chooser",
    "Context",
    "Explorer",
    "generator",
    "pick",
]

# An arm: a candidate left for a slot, as the engine ranks it (``candidates.Ranked``).
Arm = Ranked[Any]

Z95 = 1.959963984540054  # a 95% interval is ±Z95 standard deviations
# Thompson sampling bounds the arms' scores (to score only those that can win a draw) when
# at least this many contend for a slot; below, scoring them all costs less (the result is
# the same: an arm that cannot win a draw has no share of the draws either way)
_BOUND_FROM = 6


class AttachDraws:
    """``draws`` draws of the posterior of each attach-rate estimate the engine may take
    (offer, rule × offer, offer × channel), made when a decision first asks for them and
    kept: ``of(key)`` gives one estimate's draws with their least and greatest. ``key`` is
    the estimate's level and key: ``("offer", offer)``, ``("rule", rule, offer)``,
    ``("channel", offer, channel)``. Each estimate's draws are seeded with ``seed`` (the
    snapshot's version), the number of draws and the key: the same whichever decision
    makes them, and whenever. A snapshot keeps them for the estimates its decisions use
    (``draws`` × 8 bytes each)."""

    __slots__ = ("_made", "attach", "draws", "seed")

    def __init__(self, attach: AttachRates, draws: int, seed: str) -> None:
        self.attach, self.draws, self.seed = attach, draws, seed
        self._made: dict[tuple[str, ...], tuple[Floats, float, float]] = {}

    def of(self, key: tuple[str, ...]) -> tuple[Floats, float, float]:
        made = self._made.get(key)
        if made is None:
            made = self._made.setdefault(key, self._draw(key))
        return made

    def _draw(self, key: tuple[str, ...]) -> tuple[Floats, float, float]:
        level, *names = key
        attach = self.attach
        rate = (
            attach.offer[names[0]]
            if level == "offer"
            else attach.rule[(names[0], names[1])]
            if level == "rule"
            else attach.channel[(names[0], names[1])]
        )
        a, b = rate.posterior()
        rng = generator("\x1f".join([self.seed, "attach draws", str(self.draws), *key]))
        p = rng.beta(max(a, 1e-9), max(b, 1e-9), size=self.draws)  # a prior of 0 or 1
        p.flags.writeable = False
        return p, float(p.min()), float(p.max())


class Belief(NamedTuple):
    """What Thompson sampling reads of an arm: the key of the attach-rate estimate the
    score stage took (``AttachDraws``), its match multiplier, its τ (None: unknown or not
    read by the strategy) and the standard deviation of τ (None: τ is fixed)."""

    key: tuple[str, ...]
    match: float
    tau: float | None
    tau_sd: float | None


class Context:
    """What a chooser starts with, once per decision: the seed of its random numbers (the
    generator is made when first asked for: a decision that draws nothing pays nothing),
    the channel's scoring and its strategy entry, how to learn an arm's ``Belief``, and the
    snapshot's attach-rate draws (by their number)."""

    __slots__ = ("_rng", "attach_draws", "belief", "scoring", "seed", "strategy")

    def __init__(
        self,
        seed: str,
        scoring: ScoringSpec,
        strategy: ScoringStrategy,
        belief: Callable[[Arm], Belief],
        attach_draws: Callable[[int], AttachDraws],
    ) -> None:
        self.seed, self.scoring, self.strategy, self.belief = seed, scoring, strategy, belief
        self.attach_draws = attach_draws
        self._rng: np.random.Generator | None = None

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = generator(self.seed)
        return self._rng


class Chooser(Protocol):
    def choose(self, arms: Sequence[Arm]) -> tuple[int, list[float]]:
        """The index of the arm chosen for this slot among ``arms`` (in rank order, at
        least one), and the probability of every arm (summing to 1)."""


@dataclass(frozen=True, slots=True)
class Explorer:
    """One exploration kind: the registry's entry. ``start`` makes the chooser of one
    decision (None for ``greedy``: the engine places in rank order itself)."""

    name: str
    explanation: str
    start: Callable[[ExplorationSpec, Context], Chooser] | None


class _Digest(ISeedSequence):
    """A seed sequence whose state words are the BLAKE2b hash of the seed: already well
    mixed, so PCG64 takes them as they are (a ``SeedSequence`` would mix them again, at
    four times the cost of the generator)."""

    __slots__ = ("seed",)

    def __init__(self, seed: str) -> None:
        self.seed = seed.encode()

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> NDArray[Any]:
        size = n_words * np.dtype(dtype).itemsize
        if size > 64:  # pragma: no cover - PCG64 asks for 4 words of 64 bits
            raise ValueError("at most 64 bytes of state")
        return np.frombuffer(hashlib.blake2b(self.seed, digest_size=size).digest(), dtype=dtype)


def generator(seed: str) -> np.random.Generator:
    """Random numbers: PCG64 whose state is the BLAKE2b hash of ``seed`` (stable, unlike
    Python's ``hash``, which changes from one process to the next)."""
    return np.random.Generator(np.random.PCG64(cast(SeedSequence, _Digest(seed))))


def pick(probabilities: Sequence[float], u: float) -> int:
    """The index whose share of [0, 1) holds ``u`` (the last arm with a probability above
    0 when rounding leaves ``u`` beyond the sum)."""
    total = 0.0
    last = 0
    for i, q in enumerate(probabilities):
        if q > 0.0:
            total += q
            last = i
            if u < total:
                return i
    return last


def _top(arms: Sequence[Arm]) -> int:
    """How many arms share the first arm's priority (they come first: rank order)."""
    neg_priority = arms[0][NEG_PRIORITY]
    n = 1
    while n < len(arms) and arms[n][NEG_PRIORITY] == neg_priority:
        n += 1
    return n


class _EpsilonGreedy:
    __slots__ = ("context", "epsilon", "floor")

    def __init__(self, spec: ExplorationSpec, context: Context) -> None:
        self.epsilon: float = spec.setting("epsilon")
        self.floor: float = spec.setting("floor")
        self.context = context

    def choose(self, arms: Sequence[Arm]) -> tuple[int, list[float]]:
        k = len(arms)
        if k == 1:
            return 0, [1.0]
        other = max(self.epsilon / k, min(self.floor, 1.0 / k))
        first = 1.0 - (k - 1) * other
        u = self.context.rng.random()
        # pick() over [first, other, …], without walking the arms
        index = 0 if u < first or other == 0.0 else min(k - 1, 1 + int((u - first) / other))
        return index, [first] + [other] * (k - 1)


class _Softmax:
    __slots__ = ("context", "temperature")

    def __init__(self, spec: ExplorationSpec, context: Context) -> None:
        self.temperature: float = spec.setting("temperature")
        self.context = context

    def choose(self, arms: Sequence[Arm]) -> tuple[int, list[float]]:
        n = _top(arms)
        if n == 1:
            return 0, [1.0] + [0.0] * (len(arms) - 1)
        best = -arms[0][NEG_SCORE]
        for arm in arms[1:n]:
            if -arm[NEG_SCORE] > best:
                best = -arm[NEG_SCORE]
        t = self.temperature
        weights = [math.exp((-arm[NEG_SCORE] - best) / t) for arm in arms[:n]]
        total = sum(weights)
        probabilities = [w / total for w in weights] + [0.0] * (len(arms) - n)
        return pick(probabilities, self.context.rng.random()), probabilities


class _Thompson:
    __slots__ = ("bank", "beliefs", "bounds", "context", "scores")

    def __init__(self, spec: ExplorationSpec, context: Context) -> None:
        self.context = context
        self.bank = context.attach_draws(spec.setting("draws"))
        self.beliefs: dict[str, Belief] = {}  # offer id → its belief
        # offer id → (its least and greatest score over the draws, whether they hold: τ fixed)
        self.bounds: dict[str, tuple[float, float, bool]] = {}
        self.scores: dict[str, Floats] = {}  # offer id → its score in each draw

    def bound(self, arm: Arm) -> tuple[float, float, bool]:
        """An arm's belief, and the bounds of its score: its scores at the least and the
        greatest draw of its attach rate (a score is monotone in the attach rate, either
        way), and whether those bounds hold (τ is fixed)."""
        context, bank = self.context, self.bank
        belief = self.beliefs[arm[OFFER_ID]] = context.belief(arm)
        _, least, greatest = bank.of(belief.key)
        score, scoring = context.strategy.score, context.scoring
        low = score(scoring, arm[OFFER], least, belief.match, belief.tau)
        high = score(scoring, arm[OFFER], greatest, belief.match, belief.tau)
        assert low is not None  # the arm was scored at its mean: its τ is known
        assert high is not None
        fixed = belief.tau_sd is None or not context.strategy.uses_tau
        bounds = self.bounds[arm[OFFER_ID]] = (
            (low, high, fixed) if low <= high else (high, low, fixed)
        )
        return bounds

    def score(self, arm: Arm) -> Floats:
        """An arm's score in each draw: its attach rate's draws, and τ's where it has a
        spread (drawn for the decision, one value per draw)."""
        context, bank = self.context, self.bank
        belief = self.beliefs.get(arm[OFFER_ID])
        if belief is None:
            belief = self.beliefs[arm[OFFER_ID]] = context.belief(arm)
        tau: Floats | float | None = belief.tau
        if belief.tau is not None and belief.tau_sd is not None and context.strategy.uses_tau:
            drawn = context.rng.normal(belief.tau, belief.tau_sd, size=bank.draws)
            tau = np.clip(drawn, -1.0, 1.0)
        p = bank.of(belief.key)[0]
        scores = self.scores[arm[OFFER_ID]] = context.strategy.draws(
            context.scoring, arm[OFFER], p, belief.match, tau
        )
        return scores

    def choose(self, arms: Sequence[Arm]) -> tuple[int, list[float]]:
        n = _top(arms)
        probabilities = [0.0] * len(arms)
        if n == 1:
            probabilities[0] = 1.0
            return 0, probabilities
        if n < _BOUND_FROM:  # bounding would cost what it saves
            contenders = list(range(n))
        else:
            bounds = self.bounds
            held = [bounds.get(arm[OFFER_ID]) or self.bound(arm) for arm in arms[:n]]
            best = max([low for low, _, fixed in held if fixed], default=-math.inf)
            contenders = [j for j, (_, high, fixed) in enumerate(held) if not fixed or high >= best]
            if len(contenders) == 1:
                probabilities[contenders[0]] = 1.0
                return contenders[0], probabilities
        scores = self.scores
        rows = [scores[arms[j][3]] if arms[j][3] in scores else self.score(arms[j])
                for j in contenders]  # fmt: skip
        m = self.bank.draws
        row = min(m - 1, int(self.context.rng.random() * m))
        if len(rows) == 2:  # the second wins a draw only where it scores above the first
            second = rows[1] > rows[0]
            wins = int(np.count_nonzero(second))
            probabilities[contenders[0]] = (m - wins) / m
            probabilities[contenders[1]] = wins / m
            return contenders[1 if second[row] else 0], probabilities
        winners = np.array(rows).argmax(axis=0)  # the first of equal scores: the higher-ranked
        shares = np.bincount(winners, minlength=len(rows)).tolist()
        for j, wins in zip(contenders, shares, strict=True):
            probabilities[j] = wins / m
        return contenders[int(winners[row])], probabilities


EXPLORATIONS: Registry[Explorer] = Registry(
    "exploration kind",
    "kind",
    (
        (e.name, e)
        for e in (
            Explorer("greedy", "the top of the rank, always", None),
            Explorer(
                "epsilon_greedy",
                "the top of the rank with probability 1 − ε, else any candidate at random",
                _EpsilonGreedy,
            ),
            Explorer(
                "thompson",
                "ranked on a draw of the attach rates (and τ) from their posteriors",
                _Thompson,
            ),
            Explorer(
                "softmax",
                "probability ∝ exp(score ÷ temperature) among the top priority",
                _Softmax,
            ),
        )
    ),
)
EXPLORATIONS.agree(get_args(ExplorationName))
