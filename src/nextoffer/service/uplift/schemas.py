"""Uplift as the API takes it and the service gives it: a training request, the models,
the report, a customer's estimates, and the rows of the CATE store.

A training request is a Pydantic model (the API checks it); what the service gives back
are JSON documents that the API, the CLI and the dashboard read as they are, so they are
typed dictionaries, built once in the order the API answers with. A training unit
(``Exposure``) and a customer's estimates (``Estimates``) are plain dataclasses: the
experiment reports and the decision path build many of them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ...core.learning.segments import Thresholds

__all__ = [
    "LOOKBACK_DAYS",
    "MIN_PER_ARM",
    "WINDOW_DAYS",
    "CustomerUplift",
    "EstimateRow",
    "Estimates",
    "Exposure",
    "ModelRow",
    "OfferResult",
    "OfferUplift",
    "Report",
    "ReportOffer",
    "StoredModel",
    "TrainIn",
    "Trained",
]

WINDOW_DAYS = 30
LOOKBACK_DAYS = 90
MIN_PER_ARM = 50


# ``POST /v1/uplift/train``'s body: the offer (none: every offer), the learner and the
# outcome, the windows, the fewest customers per arm, the bootstrap replicas and the
# segments' cut-offs. (A comment, not a docstring: a docstring would enter the API's
# OpenAPI document, which stays as it was.)
class TrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offer: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    method: Literal["t-learner", "x-learner"] = "x-learner"
    outcome: Literal["conversion", "value"] = "conversion"
    window_days: Annotated[int, Field(ge=1, le=3650)] = WINDOW_DAYS
    lookback_days: Annotated[int, Field(ge=1, le=3650)] = LOOKBACK_DAYS
    min_per_arm: Annotated[int, Field(ge=2, le=1_000_000)] = MIN_PER_ARM
    bootstrap: Annotated[int, Field(ge=0, le=200)] = 30
    persuade: Annotated[float, Field(ge=-1, le=1, description="τ above it: persuadable.")] = 0.05
    harm: Annotated[
        float, Field(ge=-1, le=1, validate_default=True, description="τ below it: harmed.")
    ] = -0.05
    high_base_rate: Annotated[
        float, Field(ge=0, le=1, description="A base rate at or above it is high.")
    ] = 0.2

    @field_validator("harm")
    @classmethod
    def _ordered(cls, harm: float, info: ValidationInfo) -> float:
        persuade = info.data.get("persuade")
        if persuade is not None and harm > persuade:
            raise ValueError(f"must not exceed persuade ({persuade})")
        return harm

    def thresholds(self) -> Thresholds:
        """The segments' cut-offs this request asks for."""
        return Thresholds(self.persuade, self.harm, self.high_base_rate)


class OfferResult(TypedDict):
    """One offer's training: its customers per arm and whether a model came of it; the
    model's version, held-out Qini and mean τ when it did, the reason when it did not."""

    offer: str
    treated: int
    control: int
    trained: bool
    reason: NotRequired[str]
    version: NotRequired[str]
    qini: NotRequired[float | None]
    mean_tau: NotRequired[float]


class Trained(TypedDict):
    """A stored training: each offer's result and the (customer, offer) estimates written."""

    models: list[OfferResult]
    scored: int


class ModelRow(TypedDict):
    """A stored model with its evaluation (``report``)."""

    version: str
    offer: str
    method: str
    outcome: str
    treated: int
    control: int
    trained_at: str
    report: dict[str, Any]


class ReportOffer(TypedDict):
    """An offer's live model: its evaluation and the scored customers per segment."""

    offer: str
    version: str
    method: str
    outcome: str
    trained_at: str
    treated: int
    control: int
    evaluation: dict[str, Any]
    segments: dict[str, int]


class Report(TypedDict):
    """The live models' report, with the Qini convention it quotes."""

    convention: str
    offers: list[ReportOffer]


class OfferUplift(TypedDict):
    """A customer's τ and segment for one offer; ``scored`` is false while τ is the
    offer's average."""

    offer: str
    tau: float | None
    segment: str | None
    scored: bool


class CustomerUplift(TypedDict):
    """A customer's uplift per offer (``GET /v1/customers/{id}/uplift``)."""

    customer_id: str
    offers: list[OfferUplift]


class StoredModel(TypedDict):
    """A model as the uplift store keeps it: the offer's learner, outcome and customers per
    arm, its evaluation (``report``, JSON), the fitted model (``model``, bytes) and when."""

    version: str
    offer_id: str
    method: str
    outcome: str
    treated: int
    control: int
    report: dict[str, Any]
    model: bytes
    trained_at: dt.datetime


class EstimateRow(TypedDict):
    """A row of the CATE store: τ with its interval, the base rate and the segment of a
    (customer, offer), with the model that scored it and when."""

    customer_id: str
    offer_id: str
    tau: float
    lower: float | None
    upper: float | None
    base_rate: float
    segment: str
    model_version: str
    scored_at: dt.datetime


@dataclass
class Exposure:
    """A customer's first exposure to an offer in the lookback (a training unit): the
    decision, whether it was treated, the customer's features, and the outcome."""

    customer_id: str
    offer_id: str
    decision_id: str
    at: dt.datetime
    treated: bool
    features: dict[str, Any] | None
    converted: int = 0
    value: float = 0.0


@dataclass(frozen=True)
class Estimates:
    """One customer's τ and segment per offer; ``intervals``: the 95% interval (lower,
    upper) of a stored τ, where the model gave one (Thompson sampling draws τ from it);
    ``unscored``: the offers with a live model but no estimate for this customer yet, whose
    τ in ``cate`` is the offer's average (without an interval)."""

    cate: dict[str, float]
    segments: dict[str, str]
    unscored: tuple[str, ...] = ()
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
