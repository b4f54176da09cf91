"""``nextoffer attach-rates``: the attach rates the engine uses, recounted from the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from .ledger import ArchiveDir, archive_note
from .output import check_table_file, fail, option_message, out, write_table

if TYPE_CHECKING:
    from ..service.attach.schemas import RateRow, Rates

LEVELS = ("all", "global", "category", "offer", "rule", "channel")


def attach_rates(
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Count the ledger's new events first (publishes when changed).",
        ),
    ] = False,
    recount: Annotated[
        bool,
        typer.Option(
            "--recount",
            help="Recount the whole ledger instead, replacing the stored counts (with"
            " --archive, the archived months too; refused while archived months are not read).",
        ),
    ] = False,
    archive: ArchiveDir = None,
    level: Annotated[
        str, typer.Option(help="all, global, category, offer, rule or channel.")
    ] = "all",
    interval: Annotated[float, typer.Option(help="Credible interval level.")] = 0.9,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write them here: CSV, or JSON (.json).")
    ] = None,
) -> None:
    """Attach rates per pitch: counts, shrunk estimate, credible interval and maturity."""
    from ..service.archive import service as archived
    from ..service.attach import service
    from ..service.errors import ServiceError
    from ..service.snapshots.cache import SnapshotCache
    from .service import open_database

    if refresh and recount:
        fail("--refresh and --recount: give one of them, not both")
    if archive is not None and not recount:
        fail("--archive: only with --recount (a refresh counts only new events)")
    if level not in LEVELS:
        fail(f"--level: expected one of {', '.join(LEVELS)}, got {level!r}")
    if not 0 < interval < 1:
        fail(f"--interval: must be between 0 and 1 (exclusive), got {interval}")
    check_table_file(out_file)
    db = open_database()
    try:
        if refresh or recount:
            view = None
            with db.transaction() as session:
                if recount:
                    try:
                        view = None if archive is None else archived.open_archive(session, archive)
                        done = service.recount(session, view)
                    except ServiceError as exc:
                        fail(option_message(exc))
                else:
                    done = service.refresh(session)
            note = archive_note(view, [])
            if note:
                out.print(note, markup=False)
            out.print(
                f"counted the ledger up to event {done['counted_up_to']:,}: "
                f"{done['pitches']:,} pitches ({done['shown']:,} shown, "
                f"{done['accepted']:,} accepted); "
                + (f"published {done['snapshot']}" if done["snapshot"] else "no change"),
                markup=False,
            )
        try:
            report = service.attach_rates(SnapshotCache(db, 0).get(), interval)
        except ServiceError as exc:
            fail(exc.message)
    finally:
        db.dispose()
    rows = [r for r in report["rates"] if level == "all" or r["level"] == level]
    _print(rows, report)
    if out_file is not None:
        _write(out_file, rows, report)
        out.print(f"wrote {len(rows):,} attach rates to {out_file}", markup=False)


def _print(rows: list[RateRow], report: Rates) -> None:
    pct = f"{report['interval']:.0%}"
    table = Table(title=f"attach rates (snapshot {report['snapshot_version']}, shrinkage strength "
                        f"{report['strength']:g}, {pct} credible intervals)")  # fmt: skip
    for column in ("level", "offer", "rule", "channel", "category", "shown", "accepted", "raw",
                   "p", f"{pct} interval", "maturity"):  # fmt: skip
        table.add_column(
            column, justify="right" if column in ("shown", "accepted", "raw", "p") else "left"
        )
    for r in rows:
        raw = "–" if r["raw"] is None else f"{r['raw']:.3f}"
        table.add_row(r["level"], r["offer"] or "", r["rule"] or "", r["channel"] or "",
                      r["category"] or "", f"{r['shown']:,}", f"{r['accepted']:,}", raw,
                      f"{r['p']:.3f}", f"{r['low']:.3f}–{r['high']:.3f}", r["maturity"])  # fmt: skip
    out.print(table)


def _write(path: Path, rows: list[RateRow], report: Rates) -> None:
    table = [dict(r) for r in rows]
    write_table(path, table, list(rows[0]) if rows else ["level"], {**report, "rates": table})
