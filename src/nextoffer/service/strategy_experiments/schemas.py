"""Strategy experiments as the API takes them (Pydantic models) and gives them (typed
dictionaries, in the order the API answers with)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["STATUSES", "ActIn", "ArmReport", "ExperimentOut", "PromoteIn", "ProposeIn", "Report",
           "Status"]  # fmt: skip

Status = Literal["proposed", "running", "stopped", "promoted"]
STATUSES: tuple[Status, ...] = ("proposed", "running", "stopped", "promoted")
Reason = Annotated[str, Field(max_length=2000)]


class ProposeIn(BaseModel):
    """A definition (``StrategyExperimentSpec``: id, channels, arms) and why."""

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any]
    reason: Reason = ""


class ActIn(BaseModel):
    """Why an approver starts or stops an experiment (kept in the audit log)."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason = ""


class PromoteIn(BaseModel):
    """The arm an approver promotes, and why."""

    model_config = ConfigDict(extra="forbid")

    arm: Annotated[str, Field(min_length=1, max_length=200)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class ExperimentOut(TypedDict):
    """An experiment: its definition, its status, who proposed, started, stopped or
    promoted it and when (ISO 8601, UTC), the promoted arm and the snapshot it published."""

    id: str
    status: str
    definition: dict[str, Any]
    proposer: str
    reason: str
    created_at: str
    started_by: str | None
    started_at: str | None
    stopped_by: str | None
    stopped_at: str | None
    stop_reason: str | None
    promoted_by: str | None
    promoted_at: str | None
    promotion_reason: str | None
    promoted_arm: str | None
    promoted_version: str | None


class ArmReport(TypedDict):
    """One arm (or the holdout's control group): decisions and customers; acceptance per
    customer and conversion per customer with Wilson intervals; revenue in total and per
    decision; against the control group (``core.stats.compare``, when the holdout covers
    the channels) and, for a challenger, against the champion."""

    arm: str
    kind: str  # champion | strategy | snapshot | control
    share: float | None
    decisions: int
    customers: int
    accepted: int
    acceptance: float
    acceptance_interval: tuple[float, float]
    converted: int
    conversion: float
    conversion_interval: tuple[float, float]
    revenue: float
    revenue_per_decision: float
    insufficient_data: bool
    against_control: dict[str, Any] | None
    against_champion: dict[str, Any] | None


class Report(TypedDict):
    """An experiment's report: its arms, the control group (None: no control decisions on
    its channels while it ran), and the champion arm the challengers are compared with."""

    experiment: str
    status: str
    channels: list[str]
    champion: str
    min_per_arm: int
    arms: list[ArmReport]
    control: ArmReport | None
