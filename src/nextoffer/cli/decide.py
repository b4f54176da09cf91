"""``nextoffer decide``: one decision from a snapshot, a request and (optionally) a state."""

from __future__ import annotations

import json
from collections.abc import Mapping
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


COLUMNS = ("placement", "offer", "score", "p", "EV", "τ", "segment", "rules")


def decision_table(decision: Decision, title: str) -> Table:
    """The offers of a decision made in process, one row per offer shown (or, for the
    control group, that it would have been shown)."""
    shown = decision.counterfactual if decision.control else decision.placements
    return _table(title, [
        (placement.placement, s.offer, s.fallback, s.score, s.p, s.ev, s.tau,
         s.uplift_segment, s.rules)
        for placement in shown for s in placement.offers
    ])  # fmt: skip


def result_table(result: Mapping[str, Any], title: str) -> Table:
    """The same table for a decision as the service answers it (a JSON-shaped dict)."""
    shown = result["counterfactual"] if result["control"] else result["placements"]
    return _table(title, [
        (p["placement"], s["offer"], s["fallback"], s["score"], s["p"], s["ev"], s["tau"],
         s["uplift_segment"], s["rules"])
        for p in shown for s in p["offers"]
    ])  # fmt: skip


def _table(title: str, rows: list[tuple[Any, ...]]) -> Table:
    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for placement, offer, fallback, score, p, ev, tau, segment, rules in rows:
        table.add_row(placement, offer + (" (fallback)" if fallback else ""), _num(score),
                      _num(p), _num(ev), _num(tau), segment or "", ", ".join(rules))  # fmt: skip
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
    from ..service.decisions import service
    from ..service.errors import ServiceError
    from ..service.snapshots.cache import SnapshotCache
    from ..service.uplift.estimates import ModelCache
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
    title = (
        f"decision {result['id']} on {result['channel']} (snapshot {result['snapshot_version']})"
    )
    if result["control"]:
        title += f": control group of {result['experiment']}, shown nothing; would have got"
    out.print(result_table(result, title))
    if not any(p["offers"] for p in result["placements"]) and not result["control"]:
        out.print("nothing to show", markup=False)
    if result.get("cascade"):
        out.print(result["cascade"], markup=False)
    fired = ", ".join(r["id"] for r in result.get("rules_fired", []))
    if fired:
        out.print(f"rules fired: {fired}", markup=False)
