"""What the journeys API takes and gives: a proposal, a review, a journey with its versions,
an enrollment and its path, the report, and a simulation."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EnrollmentOut",
    "JourneyOut",
    "JourneyProposal",
    "JourneySummary",
    "Published",
    "Report",
    "ReviewIn",
    "SimulateIn",
    "Simulated",
    "SimulatedEvent",
    "StepReport",
    "TransitionOut",
    "VersionOut",
]


# no docstrings on the models: pydantic would add them to the OpenAPI document
class ReviewIn(BaseModel):  # an approver's (or a rejecter's) reason
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(max_length=2000)] = ""


class SimulatedEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, Field(min_length=1, max_length=64)]
    at: Annotated[str, Field(min_length=1, max_length=64)]
    offer: Annotated[str, Field(max_length=200)] | None = None
    value: Annotated[float, Field(allow_inf_nan=False)] | None = None
    channel: Annotated[str, Field(max_length=200)] | None = None  # a "request": where asked


class SimulateIn(BaseModel):  # a customer and a timed sequence of events; nothing is written
    model_config = ConfigDict(extra="forbid")

    customer: dict[str, Any]
    at: Annotated[str, Field(min_length=1, max_length=64)]
    events: Annotated[list[SimulatedEvent], Field(max_length=1_000)] = Field(default_factory=list)
    until: Annotated[str, Field(max_length=64)] | None = None
    version: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class JourneyProposal(TypedDict):
    """A definition waiting for an approver (or reviewed)."""

    id: str
    journey_id: str
    author: str
    reason: str
    status: str
    reviewer: str | None
    review_reason: str | None
    created_at: str
    definition: dict[str, Any]


class Published(TypedDict):
    """An approver's publish (or restore): the journey's new live version."""

    journey_id: str
    version: int
    live: bool
    proposal: str | None
    restored_from: int | None


class VersionOut(TypedDict):
    """One published version of a journey definition."""

    version: int
    author: str
    reason: str
    source: dict[str, Any]
    created_at: str
    definition: dict[str, Any]


class JourneySummary(TypedDict):
    """A journey in the list: its live version and how many customers are in it."""

    id: str
    name: str
    live_version: int | None
    versions: int
    active: int
    open_proposals: int


class JourneyOut(TypedDict):
    """A journey: its live version's definition, every version, and the open proposals."""

    id: str
    live_version: int | None
    definition: dict[str, Any] | None
    versions: list[VersionOut]
    proposals: list[JourneyProposal]


class TransitionOut(TypedDict):
    """One step of a customer's path through a journey."""

    n: int
    at: str
    kind: str
    from_step: str | None
    to_step: str | None
    reason: str | None
    decision_id: str | None


class EnrollmentOut(TypedDict):
    """Where a customer is in one journey, and the path so far."""

    journey_id: str
    version: int
    status: str
    step: str | None
    holdout: bool
    entered_at: str
    due_at: str | None
    exit_reason: str | None
    path: list[TransitionOut]


class StepReport(TypedDict):
    """One step: entered, waiting there now, advanced, exited from it by reason, and the
    median time spent in it (hours; None before anyone left it)."""

    step: str
    type: str
    entered: int
    waiting: int
    advanced: int
    exited: dict[str, int]
    median_hours: float | None


class Report(TypedDict):
    """The journey's funnel per step, exits by reason, and the holdout comparison."""

    journey_id: str
    entered: int
    holdout: int
    active: int
    exits: dict[str, int]
    steps: list[StepReport]
    comparison: dict[str, Any]


class Simulated(TypedDict):
    """A simulated path: the transitions and the decisions it would make; nothing written."""

    journey_id: str
    version: int
    holdout: bool
    path: list[TransitionOut]
    decisions: list[dict[str, Any]]
    status: str
    exit_reason: str | None
