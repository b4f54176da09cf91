"""``nextoffer evaluate``: what a draft snapshot (or a stored one) would have earned on the
ledger's logged decisions, by off-policy estimation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .ledger import ArchiveDir, archive_note
from .output import charts_dir, err, fail, out, progress, read_document

if TYPE_CHECKING:
    from ..service.evaluation.schemas import Evaluation, Metric

MAX_DAYS = 3650
TITLES = {"acceptance": "acceptance rate (accepted per offer shown)",
          "revenue": "revenue per decision (conversion value)"}  # fmt: skip


def _field(name: str) -> str:
    """An error's field as the command's option names it."""
    for prefix, option in (("draft", "--draft"), ("snapshot", "--snapshot")):
        if name == prefix or name.startswith(f"{prefix}."):
            rest = name[len(prefix) + 1 :]
            return f"{option}: {rest}" if rest else option
    return f"--{name.replace('_', '-')}"


def evaluate(
    draft: Annotated[
        Path | None,
        typer.Option("--draft", help="A draft snapshot file (JSON or YAML) to evaluate."),
    ] = None,
    snapshot: Annotated[
        str | None, typer.Option("--snapshot", help="A stored snapshot version to evaluate.")
    ] = None,
    days: Annotated[int, typer.Option(help="Days of logged decisions to read.")] = 30,
    channel: Annotated[str | None, typer.Option(help="Only this channel's decisions.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap intervals.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    charts: Annotated[
        Path | None, typer.Option("--charts", help="Write the charts (PNG) into this folder.")
    ] = None,
    archive: ArchiveDir = None,
) -> None:
    """Estimate what a target (--draft FILE or --snapshot VERSION; neither: the live
    snapshot) would have earned on the logged decisions of the last --days: acceptance rate
    and revenue per decision by IPS, SNIPS, DM, DR, switch-DR and DRos, each with a 95%
    bootstrap interval, the effective sample size and the largest weight, next to the live
    strategy's observed value."""
    if draft is not None and snapshot is not None:
        fail("--draft and --snapshot: give one of them, not both")
    if not 1 <= days <= MAX_DAYS:
        fail(f"--days: must be from 1 to {MAX_DAYS}, got {days}")
    if seed < 0:
        fail(f"--seed: must be 0 or more, got {seed}")
    data = read_document(draft, "--draft") if draft is not None else None
    folder = charts_dir(charts)
    result, note = _evaluate(data, snapshot, days, channel, seed, archive, quiet=as_json)
    if note:
        (err if as_json else out).print(note, markup=False)
    if as_json:
        from .views import print_json

        print_json(result)
    else:
        _print(result, draft)
    if folder is not None:
        _write_charts(result, folder, err if as_json else out)


def _evaluate(
    data: Any, snapshot: str | None, days: int, channel: str | None, seed: int,
    archive: Path | None, *, quiet: bool,
) -> tuple[Evaluation, str | None]:  # fmt: skip
    """The evaluation, and what it read of the archive (or did not)."""
    from ..service.archive import service as archived
    from ..service.errors import InvalidInput, ServiceError
    from ..service.evaluation import service
    from .service import open_database

    db = open_database()
    kind: service.TargetKind
    try:
        with db.read() as session:
            view = None if archive is None else archived.open_archive(session, archive)
            if data is not None:
                target, kind = service.draft_target(session, data), "draft"
            elif snapshot is not None:
                target, kind = service.stored_target(session, snapshot), "snapshot"
            else:
                target, kind = service.live_target(session), "live"
            with progress(err) as bar:
                task = bar.add_task("replaying the logged decisions on the target", total=None)

                def advance(done: int, total: int) -> None:
                    if not quiet:
                        bar.update(task, completed=done, total=total)

                now = service.ledger_now(session)
                result = service.evaluate(
                    session, target, days=days, channel=channel, now=now, seed=seed,
                    target_kind=kind, progress=advance, archived=view,
                )  # fmt: skip
            unread = archived.unread(session, view, now - dt.timedelta(days=days))
            return result, archive_note(view, unread)
    except InvalidInput as exc:
        fail("; ".join(f"{_field(e['field'])}: {e['message']}" for e in exc.errors))
    except ServiceError as exc:
        fail(exc.message)
    finally:
        db.dispose()


def _metric_table(title: str, metric: Metric, confidence: float) -> Table:
    table = Table(title=title)
    for column in ("estimator", "value", f"{confidence:.0%} interval", "ESS", "largest weight"):
        table.add_column(column, justify="left" if column == "estimator" else "right")
    for e in metric["estimates"]:
        table.add_row(e["estimator"], f"{e['value']:.4f}", f"{e['low']:.4f} – {e['high']:.4f}",
                      f"{e['effective_sample_size']:,.1f}", f"{e['max_weight']:.3g}")  # fmt: skip
    if metric["observed"] is not None:
        table.add_row("live strategy (observed)", f"{metric['observed']:.4f}", "", "", "",
                      style="bold")  # fmt: skip
    return table


def _print(result: Evaluation, draft: Path | None) -> None:
    target = result["target"]
    what = {"draft": f"draft {draft}", "snapshot": f"snapshot {target['version']}",
            "live": f"the live snapshot ({target['version']})"}[target["kind"]]  # fmt: skip
    where = f" on channel {result['channel']}" if result["channel"] else ""
    out.print(f"evaluating {what}{where} on the logged decisions of the last {result['days']} "
              f"days (outcomes within {result['window_days']} days)", markup=False)  # fmt: skip
    for channel, strategy in target["strategies"].items():
        out.print(f"  target strategy on {channel}: {strategy}", markup=False)
    for strategy, slots in result["logging_strategies"].items():
        out.print(f"  logging strategy {strategy}: {slots:,} logged slots", markup=False)
    out.print(f"decisions read {result['decisions_read']:,}, used {result['decisions_used']:,}",
              markup=False)  # fmt: skip
    for reason, n in result["skipped"].items():
        out.print(f"  skipped {n:,}: {reason}", markup=False)
    if result["message"] is not None:
        out.print(result["message"], markup=False)
        return
    for name, metric in result["metrics"].items():
        out.print(_metric_table(TITLES[name], metric, result["confidence"]))
    support = result["support"]
    if support is not None:
        out.print(f"support: {support['rows']:,} logged slots, effective sample size "
                  f"{support['effective_sample_size']:,.1f}, largest weight "
                  f"{support['max_weight']:.3g}, {support['deterministic_rows']:,} logged "
                  f"deterministically", markup=False)  # fmt: skip
    for warning in result["warnings"]:
        out.print("[yellow]warning:[/] ", markup=True, end="")
        out.print(warning, markup=False)


def _write_charts(result: Evaluation, folder: Path, console: Console) -> None:
    from ..charts import estimates_figure, save

    for name, metric in result["metrics"].items():
        if not metric["estimates"]:
            continue
        fig = estimates_figure(metric["estimates"], metric["observed"],
                               f"{result['target']['version']}: {TITLES[name]}",
                               f"{TITLES[name]}, {result['confidence']:.0%} interval")  # fmt: skip
        path = save(fig, folder / f"evaluation-{name}.png")
        console.print(f"wrote {path}", markup=False)
