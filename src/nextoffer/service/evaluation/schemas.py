"""What an evaluation is asked for, and what it answers.

The answer is a JSON document that the API, the CLI and the dashboard read as it is, so it
is a typed dictionary, built once by the service in the order the API answers with.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DAYS",
    "MAX_DAYS",
    "EstimateRow",
    "Evaluation",
    "EvaluationIn",
    "Metric",
    "SupportReport",
    "TargetInfo",
]

DAYS = 30  # the default: the last 30 days of logged decisions
MAX_DAYS = 3650
MAX_DECISIONS = 200_000  # the most logged decisions one evaluation reads (the newest)


# no docstring: pydantic would add it to the OpenAPI document
class EvaluationIn(BaseModel):  # the target (a draft snapshot, a stored version, or the live one)
    model_config = ConfigDict(extra="forbid")

    draft: dict[str, Any] | None = Field(
        None, description="A draft snapshot (its data, as a snapshot file holds it)."
    )
    snapshot: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="A stored snapshot version (not with draft; neither: the live one)."
    )
    days: Annotated[int, Field(ge=1, le=MAX_DAYS)] = DAYS
    channel: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


class TargetInfo(TypedDict):
    """What was evaluated: ``kind`` (draft, snapshot or live), its version, and each
    evaluated channel's strategy (scoring + exploration) as canonical text."""

    kind: Literal["draft", "snapshot", "live"]
    version: str
    strategies: dict[str, str]


class EstimateRow(TypedDict):
    """One estimator's answer for one metric: the value with its bootstrap interval, the
    standard error, the importance weights' diagnostics and the support's warnings."""

    estimator: str
    formula: str
    parameters: dict[str, float]
    value: float
    low: float
    high: float
    standard_error: float
    effective_sample_size: float
    max_weight: float
    warnings: list[str]


class Metric(TypedDict):
    """A metric's estimates, next to the logging strategy's own (observed) value."""

    unit: str
    observed: float | None
    estimates: list[EstimateRow]


class SupportReport(TypedDict):
    """How much the logged decisions say about the target (see ``core.learning.ope.logs``
    and ``support``)."""

    rows: int
    effective_sample_size: float
    max_weight: float
    zero_weight_rows: int
    deterministic_rows: int
    deterministic_differing: int
    outside_rows: int
    outside_mass: float
    empty_rows: int


class Evaluation(TypedDict):
    """An evaluation: the target, the window read, the decisions used and skipped (by
    reason), the logging strategies (by slots), both metrics and the support. ``message``
    says in words why there are no estimates (None: there are)."""

    target: TargetInfo
    days: int
    channel: str | None
    since: str
    until: str
    window_days: int
    confidence: float
    decisions_read: int
    decisions_used: int
    skipped: dict[str, int]
    truncated: bool
    logging_strategies: dict[str, int]
    metrics: dict[str, Metric]
    support: SupportReport | None
    warnings: list[str]
    message: str | None
