"""``nextoffer campaign run``: an outbound campaign on the configured database.

One decision for every customer of a list (``--customers``: a CSV or Parquet file of
customer ids) or a segment (``--segment``: a condition over the stored customers), through
the decision path, written to the ledger a page at a time, and the send list exported
(``--out``: Parquet or CSV). Each decision is keyed by the campaign's name and the
customer: run again after a crash (or a kill), the same command decides only the customers
not decided yet. The same service code as ``POST /v1/campaigns``; with ``--engine spark``,
the decisions are made on Spark's executors (``service.campaigns.on_spark``), the same ones.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ..jobs.spark.session import SparkUnavailable, spark_session
from ..service.campaigns import on_spark, service
from ..service.campaigns.schemas import NAME_PATTERN, CampaignRun
from ..service.errors import InvalidInput, NotFound, ServiceError
from .engines import Master, check_engine
from .output import err, fail, out, progress, write_csv

campaign_app = typer.Typer(help="Outbound campaigns: decide for a list or segment.",
                           no_args_is_help=True)  # fmt: skip

OUT_SUFFIXES = (".parquet", ".csv")
ID_COLUMNS = ("customer_id", "customer", "id")


def read_customers(path: Path) -> list[str]:
    """The customer ids of a CSV or Parquet file: its ``customer_id`` (or ``customer``, or
    ``id``) column, else its only column; a clear error naming ``--customers`` otherwise."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        fail(f"--customers: expected a .csv or .parquet file, got {str(path)!r}")
    if not path.is_file():
        fail(f"--customers: no such file {str(path)!r}")
    try:
        if suffix == ".csv":
            table = pcsv.read_csv(
                path, convert_options=pcsv.ConvertOptions(strings_can_be_null=False,
                                                          column_types={c: pa.string() for c in ID_COLUMNS}),
            )  # fmt: skip
        else:
            table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        fail(f"--customers: cannot read {str(path)!r}: {str(exc).splitlines()[0]}")
    names = [c for c in ID_COLUMNS if c in table.column_names]
    if not names and table.num_columns != 1:
        fail(f"--customers: {str(path)!r} has no customer_id column "
             f"(columns: {', '.join(table.column_names)})")  # fmt: skip
    column = table.column(names[0] if names else 0)
    ids = [None if v is None else str(v) for v in column.to_pylist()]
    for i, value in enumerate(ids):
        if not value or len(value) > 200:
            fail(f"--customers: row {i + 1}: a customer id is 1 to 200 characters, got {value!r}")
    return [v for v in ids if v is not None]


def _default_name(channel: str, placements: list[str], source: str, now: dt.datetime) -> str:
    """The same command on the same day gets the same name (a re-run resumes it); another
    list, segment, channel or day another."""
    digest = hashlib.sha256("\n".join([channel, *placements, source]).encode()).hexdigest()
    return f"{channel[:12]}-{now:%Y%m%d}-{digest[:8]}"


def _source(customers: Path | None, segment: str | None) -> str:
    if customers is None:
        return f"segment:{segment}"
    try:
        return "file:" + hashlib.sha256(customers.read_bytes()).hexdigest()
    except OSError:
        return f"file:{customers}"


def write_sends(path: Path, result: CampaignRun, placements: list[str]) -> None:
    """The send list: a row per customer (id, decision, control, send) and a column of
    offers per placement (Parquet: a list of offer ids; CSV: ids joined by ``;``)."""
    sends = result["sends"]
    columns: dict[str, list[Any]] = {
        "campaign": [result["name"]] * len(sends),
        "customer_id": [s["customer_id"] for s in sends],
        "decision_id": [s["decision_id"] for s in sends],
        "control": [s["control"] for s in sends],
        "send": [s["send"] for s in sends],
    }
    for placement in placements:
        columns[f"offers:{placement}"] = [s["offers"].get(placement, []) for s in sends]
    if path.suffix.lower() == ".csv":
        rows = zip(*(
            [";".join(v) for v in values] if name.startswith("offers:")
            else [str(v).lower() for v in values] if name in ("control", "send") else values
            for name, values in columns.items()
        ), strict=True)  # fmt: skip
        write_csv(path, list(columns), rows)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.write_table(pa.table(columns), path)
    except (OSError, pa.ArrowException) as exc:
        fail(f"--out: cannot write {str(path)!r}: {exc}")


@campaign_app.command("run")
def run(
    channel: Annotated[str, typer.Option(help="The channel to decide on (e.g. email).")],
    placements: Annotated[
        list[str] | None,
        typer.Option(
            "--placements",
            help="A placement of the channel (repeat it); default: all of the channel's.",
        ),
    ] = None,
    customers: Annotated[
        Path | None,
        typer.Option(help="A CSV or Parquet file of customer ids (a customer_id column)."),
    ] = None,
    segment: Annotated[
        str | None,
        typer.Option(
            help="A condition over the stored customers, e.g. "
            "'customer.tier == \"premium\" and not customer.hasCreditCard'."
        ),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="The send list: a .parquet or .csv file.")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            help="The campaign's name, which keys its decisions (run again with it "
            "to resume); default: from the channel, the input and the day."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="PostgreSQL: processes deciding pages at once "
            "(default: one per core; SQLite: one). Not with --engine spark.",
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="local (this machine) or spark (Apache Spark's executors, same decisions)."
        ),
    ] = "local",
    master: Master = None,
) -> None:
    """Decide for every customer of a list or segment and export the send list."""
    import re

    check_engine(engine, master)
    if workers is not None and engine == "spark":
        fail("--workers: only with --engine local (on Spark, the executors decide)")
    if (customers is None) == (segment is None):
        fail("give either --customers FILE or --segment CONDITION")
    if out_file is not None and out_file.suffix.lower() not in OUT_SUFFIXES:
        fail(f"--out: expected a .parquet or .csv file, got {str(out_file)!r}")
    if name is not None and (not re.fullmatch(NAME_PATTERN.strip("^$"), name) or len(name) > 30):
        fail(f"--name: {name!r}: 1 to 30 letters, digits, '_', '.' or '-'")
    ids = read_customers(customers) if customers is not None else None
    chosen = list(placements or ())

    from ..service.decisions.service import wall_clock
    from ..service.snapshots.cache import SnapshotCache
    from ..service.uplift.estimates import ModelCache
    from .service import open_database

    db = open_database()
    try:
        try:
            if engine == "spark":
                spec, snapshot = on_spark.live_snapshot(db)
            else:
                snapshot = SnapshotCache(db).get()
        except NotFound:
            fail("no live snapshot: publish a catalog first (nextoffer demo, or the API)")
        # what lives until exit (modules, the compiled snapshot) frozen: the garbage
        # collections a run of many pages triggers no longer walk it (a fifth of its CPU)
        gc.collect()
        gc.freeze()
        now = wall_clock()
        name = name or _default_name(channel, chosen, _source(customers, segment), now)
        campaign = service.Campaign(name, channel, tuple(chosen), ids, segment)
        try:
            service.check(snapshot, campaign)
        except InvalidInput as exc:
            _refused(exc)
        total = len(set(ids)) if ids is not None else service.stored_customers(db)
        spark = None
        if engine == "spark":
            try:
                spark = spark_session(master)
            except SparkUnavailable as exc:
                fail(f"--engine spark: {exc.message}")
        with progress(err) as bar:
            task = bar.add_task(f"campaign {name}" + (" on Spark" if spark else ""), total=total)
            try:
                if spark is not None:
                    result = on_spark.run_on_spark(db, spark, spec, snapshot,
                                                   ModelCache(db).live(), campaign, now,
                                                   progress=lambda n: bar.advance(task, n))  # fmt: skip
                else:
                    result = service.run(db, snapshot, ModelCache(db).live(), campaign, now,
                                         progress=lambda n: bar.advance(task, n),
                                         workers=workers or os.cpu_count() or 1)  # fmt: skip
            except InvalidInput as exc:
                _refused(exc)
            except ServiceError as exc:
                fail(exc.message)
    finally:
        db.dispose()
    channel_placements = [p.id for p in snapshot.channels[channel].placements]
    if out_file is not None:
        write_sends(out_file, result, chosen or channel_placements)
    sent = sum(s["send"] for s in result["sends"])
    out.print(
        f"campaign {result['name']} on {result['channel']}: {result['customers']} customers, "
        f"{result['decided']} decided now, {result['already_decided']} decided before; "
        f"{result['control']} in the control group (not sent), {sent} to send"
        + (" (decided on Spark)" if engine == "spark" else "")
        + (f"; send list: {out_file}" if out_file is not None else ""),
        markup=False,
    )


def _refused(exc: InvalidInput) -> None:
    """Every field the campaign was refused for, one per line (as the options name them),
    then exit 1."""
    for e in exc.errors:
        field = "--" + e["field"] if not e["field"].startswith("customers[") else "--customers"
        err.print("[bold red]error:[/] ", markup=True, end="")
        err.print(f"{field}: {e['message']}", markup=False, highlight=False)
    raise typer.Exit(1)
