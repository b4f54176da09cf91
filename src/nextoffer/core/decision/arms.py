"""Strategy experiments (champion / challenger), as plain data: a split of customers among
arms, each arm a strategy for the experiment's channels or a whole snapshot.

    experiment = StrategyExperimentSpec.model_validate(definition)
    arm = arm_of(experiment, customer_id)       # the same customer, the same arm, always
    spec = with_strategy(live.spec, experiment.channels, arm.strategy)

A customer's arm comes from ``assignment("strategy:<id>", customer)`` (the holdout's hash,
keyed apart from any holdout so that the two splits are independent): the arms take
consecutive ranges of [0, 1) in the order they are listed, each as wide as its share.
Who is in the holdout's control group is decided first and stays outside every arm; that
part is the service's (it knows the live holdout).
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .engine import assignment
from .spec import ChannelSpec, ExplorationSpec, ScoringSpec, SnapshotSpec

__all__ = [
    "LIVE",
    "ArmSpec",
    "StrategyExperimentSpec",
    "StrategySpec",
    "arm_of",
    "assignment_key",
    "with_strategy",
]

LIVE = "live"  # an arm's ``snapshot``: the live snapshot as it is (the champion)

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StrategySpec(_Spec):
    """A channel's strategy: its scoring (with weights) and its exploration. What an arm
    leaves out stays as the live channel has it."""

    scoring: ScoringSpec | None = None
    exploration: ExplorationSpec | None = None

    @model_validator(mode="after")
    def _something(self) -> StrategySpec:
        if self.scoring is None and self.exploration is None:
            raise ValueError("a strategy needs 'scoring' or 'exploration' (or both)")
        return self


class ArmSpec(_Spec):
    """One arm: its ``name``, its ``share`` of the customers, and either a ``strategy`` for
    the experiment's channels or a whole ``snapshot`` (a stored version, or ``live``: the
    live snapshot as it is, the champion)."""

    name: Id
    share: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    strategy: StrategySpec | None = None
    snapshot: Id | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ArmSpec:
        if (self.strategy is None) == (self.snapshot is None):
            raise ValueError(
                "an arm has either a 'strategy' or a 'snapshot' (a stored version, or "
                f"{LIVE!r} for the champion), not {'both' if self.strategy else 'neither'}"
            )
        return self

    @property
    def champion(self) -> bool:
        """Whether the arm is the live snapshot as it is."""
        return self.snapshot == LIVE


class StrategyExperimentSpec(_Spec):
    """A strategy experiment: its ``id``, the ``channels`` it runs on, and at least two
    ``arms`` whose shares sum to 1."""

    id: Id
    channels: Annotated[tuple[Id, ...], Field(min_length=1, max_length=100)]
    arms: Annotated[tuple[ArmSpec, ...], Field(min_length=2, max_length=20)]
    description: Annotated[str, Field(max_length=2000)] = ""

    @field_validator("arms")
    @classmethod
    def _shares_and_names(cls, arms: tuple[ArmSpec, ...]) -> tuple[ArmSpec, ...]:
        total = math.fsum(a.share for a in arms)
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"the arms' shares must sum to 1, got {total:g}")
        names = [a.name for a in arms]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"arm names must be unique: {', '.join(twice)} more than once")
        return arms

    @field_validator("channels")
    @classmethod
    def _unique(cls, channels: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({c for c in channels if channels.count(c) > 1})
        if repeated:
            raise ValueError(f"channels must be unique: {', '.join(repeated)} more than once")
        return channels

    def arm(self, name: str) -> ArmSpec | None:
        return next((a for a in self.arms if a.name == name), None)


def assignment_key(experiment: str) -> str:
    """The key of an experiment's split (apart from any holdout's, whatever its name)."""
    return f"strategy:{experiment}"


def arm_of(experiment: StrategyExperimentSpec, customer_id: str) -> ArmSpec:
    """The customer's arm: the arm whose range of [0, 1) holds their assignment number."""
    u = assignment(assignment_key(experiment.id), customer_id)
    upper = 0.0
    for arm in experiment.arms:
        upper += arm.share
        if u < upper:
            return arm
    return experiment.arms[-1]  # shares summing to 1 within rounding


def with_strategy(
    spec: SnapshotSpec, channels: tuple[str, ...], strategy: StrategySpec
) -> SnapshotSpec:
    """``spec`` with ``strategy`` on each of ``channels`` (what it leaves out, kept)."""
    wanted = set(channels)
    out: list[ChannelSpec] = []
    for channel in spec.channels:
        if channel.id in wanted:
            update = {"scoring": strategy.scoring or channel.scoring,
                      "exploration": strategy.exploration or channel.exploration}  # fmt: skip
            channel = channel.model_copy(update=update)
        out.append(channel)
    return spec.model_copy(update={"channels": tuple(out)})
