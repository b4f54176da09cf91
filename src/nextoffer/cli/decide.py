"""``nextoffer decide``: one decision from a snapshot, a request and (optionally) a state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from ..core.decision import (
    CustomerState,
    Decision,
    DecisionError,
    Snapshot,
    SnapshotError,
    build_snapshot,
)
from ..core.decision import decide as run_decision
from ..core.request import Request
from ..scenarios import bank_snapshot, checkout_snapshot
from .output import err, fail, fail_validation, out, read_document

SCENARIOS = {"bank": bank_snapshot, "checkout": checkout_snapshot}


def load_snapshot(source: str) -> Snapshot:
    """A snapshot from a JSON/YAML file, or a built-in scenario (``bank``, ``checkout``)."""
    data = SCENARIOS[source]() if source in SCENARIOS else read_document(Path(source), "snapshot")
    try:
        return build_snapshot(data)
    except SnapshotError as exc:
        for d in exc.diagnostics:
            err.print("[bold red]error:[/] snapshot: ", markup=True, end="")
            err.print(d.render() if d.span is None else f"{d.path}: {d.render()}", markup=False)
        raise typer.Exit(1) from None


def decision_table(decision: Decision, title: str) -> Table:
    table = Table(title=title)
    for column in ("placement", "offer", "score", "p", "EV", "τ", "segment", "rules"):
        table.add_column(column, overflow="fold")
    for placement in decision.counterfactual if decision.control else decision.placements:
        for s in placement.offers:
            table.add_row(
                placement.placement,
                s.offer + (" (fallback)" if s.fallback else ""),
                _num(s.score),
                _num(s.p),
                _num(s.ev),
                _num(s.tau),
                s.uplift_segment or "",
                ", ".join(s.rules),
            )
    return table


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def print_trace(decision: Decision) -> None:
    stages = "  ".join(f"{s.stage} {s.entered}→{s.left}" for s in decision.trace.stages[:-1])
    out.print(f"[dim]stages: {stages}  ({decision.trace.stages[-1].micros:.0f} µs)[/]")
    for offer, stage, reason in decision.trace.drops:
        out.print(f"  [dim]{offer}[/] left at {stage}: ", end="")
        out.print(reason, markup=False)


def decide(
    request_file: Annotated[Path, typer.Argument(help="The request (JSON or YAML).")],
    snapshot: Annotated[
        str, typer.Option(help="Snapshot file (JSON or YAML), or a scenario: bank, checkout.")
    ] = "bank",
    state: Annotated[
        Path | None, typer.Option(help="Customer state: attributes, holdings, history (JSON/YAML).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Decide which offers to show where for one request, and explain every drop."""
    built = load_snapshot(snapshot)
    raw: Any = read_document(request_file, "request")
    try:
        request = Request.model_validate(raw)
    except ValidationError as exc:
        fail_validation("request", exc)
    customer_state = None
    if state is not None:
        try:
            customer_state = CustomerState.model_validate(read_document(state, "state"))
        except ValidationError as exc:
            fail_validation("state", exc)
    try:
        decision = run_decision(built, request, customer_state)
    except DecisionError as exc:
        fail(f"request: {exc.field}: {exc.message}")
    if as_json:
        out.print(json.dumps(decision.to_dict(), indent=2, default=str), markup=False)
        return
    title = f"decision on {decision.channel} (snapshot {decision.snapshot_version})"
    if decision.control:
        title += f": control group of {decision.experiment}, shown nothing; would have got"
    out.print(decision_table(decision, title))
    if decision.cascade:
        out.print(decision.cascade, markup=False)
    print_trace(decision)
