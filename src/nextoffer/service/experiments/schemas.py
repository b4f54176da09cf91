"""Experiments as the service gives them: the experiments the ledger names, and a report.

Both are JSON documents that the API, the CLI and the dashboard read as they are, so they
are typed dictionaries, built once in the order the API answers with.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = ["Comparison", "ExperimentRow", "Report"]

Comparison = dict[str, Any]
"""A treatment-against-control comparison as ``core.stats.Comparison.to_dict`` gives it."""


class ExperimentRow(TypedDict):
    """An experiment the ledger's decisions name: its decisions, those in the control group,
    and the first and last decision's time (ISO 8601, UTC)."""

    experiment: str
    decisions: int
    control_decisions: int
    first: str
    last: str


class Report(TypedDict):
    """An experiment's report: the windows it used, when it was made, the comparison over
    customers (``overall``) and per offer."""

    experiment: str
    window_days: int
    lookback_days: int
    generated_at: str
    overall: Comparison
    offers: dict[str, Comparison]
