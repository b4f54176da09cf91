"""``nextoffer experiments list | report | propose | show | start | stop | promote``.

``list`` and ``report`` cover both kinds of experiment: a holdout (the ledger's decisions
name it) and a strategy experiment (champion / challenger). The rest govern strategy
experiments, with the same service code as the API (``/v1/strategy-experiments``): who
acts is the holder of ``--key`` (or ``NEXTOFFER_API_KEY``): an author (or an approver)
proposes, an approver who did not propose it starts it or promotes an arm, any approver
stops it (four eyes, unless an admin allowed self-approval for the install).

A running ``nextoffer serve`` picks a start, stop or promotion made here up within its
snapshot poll interval (its background check compiles the arms again).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..service.errors import InvalidInput
from ..service.strategy_experiments import service
from .governance import JsonOption, KeyOption, acting
from .output import charts_dir, err, fail, out, read_document
from .uplift import Charts, Lookback, Window, experiment_report, experiments_app
from .views import print_json

Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]
ExperimentArg = Annotated[str, typer.Argument(help="The strategy experiment's id.")]


def _refused(exc: InvalidInput) -> None:
    for e in exc.errors:
        err.print("[bold red]error:[/] ", markup=True, end="")
        err.print(f"{e['field']}: {e['message']}", markup=False, highlight=False)
    err.print(f"{len(exc.errors)} problem(s); nothing was stored", markup=False)
    raise typer.Exit(1)


def _show(data: Any, as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    arms = data["definition"]["arms"]
    out.print(f"strategy experiment {data['id']}: {data['status']} on "
              f"{', '.join(data['definition']['channels'])}", markup=False)  # fmt: skip
    for arm in arms:
        what = (f"snapshot {arm['snapshot']}" if "snapshot" in arm
                else "strategy " + json.dumps(arm["strategy"], sort_keys=True))  # fmt: skip
        out.print(f"  {arm['name']}: {100 * arm['share']:g}% — {what}", markup=False)
    out.print(f"  proposed by {data['proposer']} at {data['created_at']}"
              + (f": {data['reason']}" if data["reason"] else ""), markup=False)  # fmt: skip
    if data["started_by"]:
        out.print(f"  started by {data['started_by']} at {data['started_at']}", markup=False)
    if data["stopped_by"]:
        out.print(f"  stopped by {data['stopped_by']} at {data['stopped_at']}: "
                  f"{data['stop_reason'] or ''}", markup=False)  # fmt: skip
    if data["promoted_arm"]:
        out.print(f"  promoted {data['promoted_arm']} by {data['promoted_by']} at "
                  f"{data['promoted_at']}: {data['promotion_reason']}; live in snapshot "
                  f"{data['promoted_version']}", markup=False)  # fmt: skip


@experiments_app.command("propose")
def propose(
    file: Annotated[Path, typer.Argument(help="The definition (JSON/YAML): id, channels, arms.")],
    reason: Reason = "",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Propose a strategy experiment: {id, channels, arms: [{name, share, strategy: {scoring,
    exploration} | snapshot: VERSION or 'live'}]}; an approver who did not propose it
    starts it."""
    definition = read_document(file, "FILE")
    with acting(key, "author", "approver") as (session, who, _db):
        try:
            _show(service.propose(session, who.id, definition, reason), as_json)
        except InvalidInput as exc:
            _refused(exc)


@experiments_app.command("show")
def show(experiment: ExperimentArg, key: KeyOption = None, as_json: JsonOption = False) -> None:
    """A strategy experiment: its arms, its status, who proposed, started, stopped it."""
    with acting(key, "author", "approver", read_only=True) as (session, _, _db):
        _show(service.get(session, experiment), as_json)


@experiments_app.command("start")
def start(
    experiment: ExperimentArg, reason: Reason = "", key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Start a proposed strategy experiment (an approver who did not propose it)."""
    with acting(key, "approver") as (session, who, _db):
        _show(service.start(session, who.id, experiment, reason), as_json)


@experiments_app.command("stop")
def stop(
    experiment: ExperimentArg, reason: Reason = "", key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Stop a running strategy experiment: its customers go back to the live snapshot."""
    with acting(key, "approver") as (session, who, _db):
        _show(service.stop(session, who.id, experiment, reason), as_json)


@experiments_app.command("promote")
def promote(
    experiment: ExperimentArg,
    arm: Annotated[str, typer.Option("--arm", help="The winning arm.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it won (kept in the audit log).")],
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Promote an arm (an approver who did not propose the experiment): its strategy or its
    snapshot is published as the new live snapshot; the experiment ends."""
    with acting(key, "approver") as (session, who, _db):
        try:
            _show(service.promote(session, who.id, experiment, arm, reason), as_json)
        except InvalidInput as exc:
            _refused(exc)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _print_report(report: dict[str, Any]) -> None:
    table = Table(title=f"strategy experiment {report['experiment']} ({report['status']}) on "
                        f"{', '.join(report['channels'])}; champion: {report['champion']}")  # fmt: skip
    for column in ("arm", "decisions", "customers", "acceptance (95%)", "conversion (95%)",
                   "revenue / decision", "vs champion (lift, p)", "vs control (lift, p)",
                   "note"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("arm", "note") else "right")
    rows = [*report["arms"], *([report["control"]] if report["control"] else [])]

    def vs(c: dict[str, Any] | None) -> str:
        if c is None:
            return ""
        return f"{100 * c['absolute_lift']:+.1f} pp, {c['p_value']:.3f}"

    for r in rows:
        a_lo, a_hi = r["acceptance_interval"]
        c_lo, c_hi = r["conversion_interval"]
        table.add_row(
            f"{r['arm']} ({r['kind']})", f"{r['decisions']:,}", f"{r['customers']:,}",
            f"{_pct(r['acceptance'])} ({_pct(a_lo)}–{_pct(a_hi)})",
            f"{_pct(r['conversion'])} ({_pct(c_lo)}–{_pct(c_hi)})",
            f"{r['revenue_per_decision']:.2f}", vs(r["against_champion"]), vs(r["against_control"]),
            "insufficient data" if r["insufficient_data"] else "",
        )  # fmt: skip
    out.print(table)
    if report["control"] is None:
        out.print("no control group: the holdout does not cover these channels, or no "
                  "control decision was made while it ran", markup=False)  # fmt: skip


@experiments_app.command("report")
def report(
    experiment: Annotated[
        str, typer.Argument(help="A strategy experiment's id, or a holdout's experiment.")
    ],
    min_per_arm: Annotated[int, typer.Option(help="Fewer customers per arm: flagged.")] = 50,
    charts: Charts = None,
    as_json: JsonOption = False,
    window_days: Window = 30,
    lookback_days: Lookback = 90,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="A holdout's report: also write it here (CSV, or JSON)."),
    ] = None,
) -> None:
    """A strategy experiment's report per arm (decisions, acceptance and conversion with
    95% intervals, revenue per decision, each arm against the control group and against the
    champion); for a holdout's experiment, treatment against control (``--window-days``,
    ``--lookback-days``, ``--out``)."""
    from .service import open_database

    db = open_database()
    try:
        with db.read() as session:
            known = {e["id"] for e in service.list_experiments(session)}
            result: dict[str, Any] | None = None
            if experiment in known:
                try:
                    result = dict(service.report(session, experiment, min_per_arm=min_per_arm))
                except InvalidInput as exc:
                    fail("; ".join(f"--{e['field'].replace('_', '-')}: {e['message']}"
                                   for e in exc.errors))  # fmt: skip
    finally:
        db.dispose()
    if result is None:  # not a strategy experiment: a holdout's
        if as_json:
            fail(f"no strategy experiment {experiment!r}; a holdout's report is written as "
                 "JSON with --out FILE.json")  # fmt: skip
        experiment_report(experiment, window_days, lookback_days, min_per_arm, out_file, charts)
        return
    folder = charts_dir(charts)
    if as_json:
        print_json(result)
    else:
        _print_report(result)
    if folder is not None:
        from ..charts import save, strategy_arms_figure

        rows = [*result["arms"], *([result["control"]] if result["control"] else [])]
        written = [
            save(strategy_arms_figure(rows, f"{experiment}: conversion per arm"),
                 folder / f"arms-{experiment}.png"),
            save(strategy_arms_figure(rows, f"{experiment}: acceptance per arm", "acceptance"),
                 folder / f"acceptance-{experiment}.png"),
        ]  # fmt: skip
        for path in written:
            (err if as_json else out).print(f"wrote {path}", markup=False)
