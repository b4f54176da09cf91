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
from ..core.decision.snapshot import render
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
            err.print(render(d), markup=False)
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
    request_file: Annotated[Path, typer.Option("--request", help="The request (JSON or YAML).")],
    snapshot: Annotated[
        str | None,
        typer.Option(
            help="Decide offline from a snapshot file or a scenario (bank, checkout) instead of "
            "the configured database's live snapshot (which also writes the ledger)."
        ),
    ] = None,
    state: Annotated[
        Path | None, typer.Option(help="Offline only: the customer's state (JSON/YAML).")
    ] = None,
    table: Annotated[bool, typer.Option("--table", help="Print a table and the trace.")] = False,
) -> None:
    """Decide which offers to show where for one request, and print the decision as JSON."""
    raw: Any = read_document(request_file, "request")
    try:
        request = Request.model_validate(raw)
    except ValidationError as exc:
        fail_validation("request", exc)
    if snapshot is None:
        if state is not None:
            fail("--state is for offline decisions (with --snapshot); the database has the state")
        _decide_from_database(request, table)
        return
    built = load_snapshot(snapshot)
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
    if not table:
        out.print(json.dumps(decision.to_dict(), indent=2, default=str), markup=False)
        return
    title = f"decision on {decision.channel} (snapshot {decision.snapshot_version})"
    if decision.control:
        title += f": control group of {decision.experiment}, shown nothing; would have got"
    out.print(decision_table(decision, title))
    if decision.cascade:
        out.print(decision.cascade, markup=False)
    print_trace(decision)


def _decide_from_database(request: Request, table: bool) -> None:
    """The same code path as ``POST /v1/decisions``: live snapshot, ledger state, ledger write."""
    from ..service.catalog.service import SnapshotCache
    from ..service.decisions import service
    from ..service.errors import ServiceError
    from ..service.uplift.service import ModelCache
    from .service import open_database

    db = open_database()
    try:
        with db.transaction() as session:
            result = service.decide(session, SnapshotCache(db), request, None, ModelCache(db))
    except ServiceError as exc:
        fail(f"request: {exc.message}")
    finally:
        db.dispose()
    if not table:
        out.print(json.dumps(result, indent=2, default=str), markup=False)
        return
    shown = [(p["placement"], s["offer"]) for p in result["placements"] for s in p["offers"]]
    out.print(
        f"decision {result['id']} on {result['channel']} (snapshot {result['snapshot_version']})"
    )
    for placement, offer in shown:
        out.print(f"  {placement}: {offer}", markup=False)
