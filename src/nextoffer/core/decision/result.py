"""What a decision returns: offers per placement, the control-group flag, and the trace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..errors import NextofferError

__all__ = [
    "STAGES",
    "Decision",
    "DecisionError",
    "Drop",
    "Exploration",
    "FiredRule",
    "JourneyStep",
    "PlacementResult",
    "Shown",
    "SlotChoice",
    "StageTrace",
    "Trace",
]

STAGES = ("candidates", "qualify", "policies", "score", "gates", "rank", "place", "holdout")


class DecisionError(NextofferError):
    """The request cannot be decided (unknown channel or placement, no time, a value that
    does not fit the schema); raised by ``decide``, naming the field."""


# Shown and StageTrace are made per decision on the hot path: plain slotted dataclasses, as
# a frozen one's __init__ costs three times as much. Treat them as read-only all the same.
@dataclass(slots=True)
class Shown:
    """One offer in a placement.

    ``score`` is in the channel strategy's unit (money for ``expected_value`` and
    ``incremental_value``, [0, 1] for ``prie``); ``ev`` = p × margin; ``p`` the attach rate;
    ``tau`` the uplift estimate where known. ``probability`` is the probability with which
    this offer was chosen for this slot (1.0: the choice is deterministic, as a greedy
    strategy's and a fallback's are). ``rank`` is its place in the rank (an exploring
    strategy may choose another than the first). ``rules`` are the rule revisions that
    nominated it (empty for an open offer or a fallback).
    """

    offer: str
    rank: int
    score: float | None
    ev: float | None
    p: float | None
    tau: float | None
    uplift_segment: str | None
    probability: float
    rules: tuple[str, ...] = ()
    fallback: bool = False


@dataclass(frozen=True, slots=True)
class PlacementResult:
    placement: str
    offers: tuple[Shown, ...]


class Drop(NamedTuple):
    """A candidate that left the pipeline: at which stage, and why (for a person to read)."""

    offer: str
    stage: str
    reason: str


@dataclass(slots=True)
class StageTrace:
    stage: str
    entered: int
    left: int
    micros: float


@dataclass(frozen=True, slots=True)
class Trace:
    """Per stage, how many candidates came in and went out and how long it took; with
    ``detailed``, also every drop with its reason (detail can be sampled down for speed)."""

    stages: tuple[StageTrace, ...]
    drops: tuple[tuple[str, str, str], ...]  # (offer, stage, reason): see ``drop_list``
    detailed: bool
    # the contact-policy type that stopped each candidate a policy stopped (a contact policy
    # at the policies stage, mutual exclusion at place), detailed or not: for the metrics
    blocks: tuple[str, ...] = ()

    def reasons(self, offer: str) -> list[str]:
        return [f"{stage}: {reason}" for who, stage, reason in self.drops if who == offer]

    def drop_list(self) -> list[Drop]:
        """The drops as ``Drop`` records."""
        return [Drop._make(d) for d in self.drops]


@dataclass(frozen=True, slots=True)
class FiredRule:
    id: str
    revision: int


class JourneyStep(NamedTuple):
    """A journey's offer step asking for a decision: the offers it names (``offers``) become
    candidates beside what the rules and the channel's open offers nominate, or, when
    ``only`` (an outbound step, decided by the service), are the only candidates. They then
    pass every stage like any other candidate: qualification, contact policies, scoring,
    gates, holdout. The decision records the step (``Decision.journeys``)."""

    journey: str
    version: int
    step: str
    offers: tuple[str, ...]
    only: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"journey": self.journey, "version": self.version, "step": self.step,
                "offers": list(self.offers), "only": self.only}  # fmt: skip


# SlotChoice and Exploration are made per decision on the hot path, as Shown is: plain
# slotted dataclasses. Treat them as read-only all the same.
@dataclass(slots=True, eq=False)
class SlotChoice:
    """One slot an exploring strategy filled: the offer it chose with its probability, and
    every candidate it chose among, in rank order (``candidates``: ``(offer, score,
    attach rate p, probability)``, the probabilities summing to 1): what off-policy
    estimators read.

    ``arms`` are those candidates as the engine ranked them (its tuples: -priority, -score,
    -p, offer id, …) and ``probabilities`` theirs: ``candidates`` is made of them when read,
    not on the decision path."""

    placement: str
    slot: int  # 1 for the placement's first slot
    offer: str
    probability: float
    arms: Sequence[tuple[Any, ...]] = field(repr=False)
    probabilities: Sequence[float] = field(repr=False)

    @property
    def candidates(self) -> tuple[tuple[str, float, float, float], ...]:
        return tuple([(a[3], -a[1], -a[2], q)
                      for a, q in zip(self.arms, self.probabilities, strict=True)])  # fmt: skip

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SlotChoice):
            return NotImplemented
        return (self.placement, self.slot, self.offer, self.probability, self.candidates) == (
            other.placement, other.slot, other.offer, other.probability, other.candidates
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"placement": self.placement, "slot": self.slot, "offer": self.offer,
                "probability": self.probability,
                "candidates": [{"offer": a[3], "score": -a[1], "p": -a[2], "probability": q}
                               for a, q in zip(self.arms, self.probabilities, strict=True)]}  # fmt: skip


@dataclass(slots=True)
class Exploration:
    """How an exploring strategy chose (``Decision.exploration``; None for a greedy one).

    ``kind`` names the exploration; ``strategy`` the channel's strategy as canonical text
    (``expected_value+epsilon_greedy(epsilon=0.1,floor=0)``) and ``strategy_version`` the
    snapshot version with a digest of the channel's scoring and exploration settings
    (``demo-1:4f0c2a9e1b7d``; the digest changes with any setting, and only then). ``seed``
    is what the random numbers were seeded from (the decision's id on the live path).
    ``slots`` are the choices in the order they were made; for a customer in the control
    group they are those of the counterfactual."""

    kind: str
    strategy: str
    strategy_version: str
    seed: str
    slots: tuple[SlotChoice, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "strategy": self.strategy,
                "strategy_version": self.strategy_version, "seed": self.seed,
                "slots": [s.to_dict() for s in self.slots]}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one request.

    ``control``: the customer is in the holdout's control group; ``placements`` then hold
    the fallback and ``counterfactual`` what the customer would have been offered. ``cascade``
    explains an atomic channel that was emptied. ``exploration``: how an exploring strategy
    chose, slot by slot (None for a greedy channel).
    """

    snapshot_version: str
    customer_id: str | None
    channel: str
    session_id: str | None
    placements: tuple[PlacementResult, ...]
    control: bool
    experiment: str | None
    counterfactual: tuple[PlacementResult, ...]
    rules_fired: tuple[FiredRule, ...]
    cascade: str | None
    trace: Trace
    # the journey offer steps that nominated candidates (empty: none)
    journeys: tuple[JourneyStep, ...] = ()
    exploration: Exploration | None = None

    def offers(self) -> list[str]:
        """The offer ids shown, placement by placement, in order."""
        return [s.offer for p in self.placements for s in p.offers]

    def to_dict(self, *, timings: bool = True) -> dict[str, Any]:
        """Plain JSON-ready data; ``timings=False`` leaves out the stage timings.

        Written out field by field (every decision the service makes is stored this way;
        ``dataclasses.asdict`` took twice the time of the decision itself)."""
        trace = self.trace
        stages = [
            {"stage": s.stage, "entered": s.entered, "left": s.left, "micros": s.micros}
            if timings
            else {"stage": s.stage, "entered": s.entered, "left": s.left}
            for s in trace.stages
        ]
        out: dict[str, Any] = {
            "snapshot_version": self.snapshot_version,
            "customer_id": self.customer_id,
            "channel": self.channel,
            "session_id": self.session_id,
            "placements": _placements(self.placements),
            "control": self.control,
            "experiment": self.experiment,
            "counterfactual": _placements(self.counterfactual),
            "rules_fired": [{"id": r.id, "revision": r.revision} for r in self.rules_fired],
            "cascade": self.cascade,
            "trace": {
                "stages": stages,
                "drops": [{"offer": o, "stage": st, "reason": r} for o, st, r in trace.drops],
                "detailed": trace.detailed,
            },
        }
        if self.journeys:
            out["journeys"] = [j.to_dict() for j in self.journeys]
        if self.exploration is not None:
            out["exploration"] = self.exploration.to_dict()
        return out


def _placements(placements: tuple[PlacementResult, ...]) -> list[dict[str, Any]]:
    return [
        {
            "placement": p.placement,
            "offers": [
                {"offer": s.offer, "rank": s.rank, "score": s.score, "ev": s.ev, "p": s.p,
                 "tau": s.tau, "uplift_segment": s.uplift_segment,
                 "probability": s.probability, "rules": list(s.rules), "fallback": s.fallback}
                for s in p.offers
            ],
        }
        for p in placements
    ]  # fmt: skip
