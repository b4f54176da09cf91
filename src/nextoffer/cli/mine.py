"""``nextoffer mine``: association rules from transactions, to a file and to proposals."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer
from rich.table import Table

from ..core.learning.mining import STATISTICS, MinedRule, MiningError, MiningResult
from ..core.learning.mining import mine as run_mining
from ..jobs.transactions import (
    Filters,
    Format,
    Transactions,
    TransactionsError,
    read_transactions,
    write_baskets,
)
from .engines import Master, check_engine
from .ledger import ArchiveDir, archive_note
from .output import (
    check_table_file,
    err,
    fail,
    option_message,
    out,
    progress,
    write_csv,
    write_table,
)

if TYPE_CHECKING:
    from ..core.learning.significance import Significance
    from ..jobs.mining import Examples

__all__ = ["export_baskets", "mine", "rule_columns", "rule_row"]

# the options that read a transactions file, as ``mine`` and ``export-baskets`` take them
_FormatOption = Annotated[
    str, typer.Option(help="auto, baskets (one per line) or lines (line items).")
]
_Exclude = Annotated[
    list[str] | None, typer.Option(help="An item code to drop (repeatable), e.g. POST.")
]
_ExcludePattern = Annotated[
    str | None, typer.Option(help="Drop items whose whole code matches this regex.")
]
_CancelPrefix = Annotated[
    str | None, typer.Option(help="Order ids starting with this are cancellations, e.g. C.")
]


FORMATS: tuple[str, ...] = get_args(Format)


def _check_source(
    transactions: str | Path | None, ledger: bool, archive: Path | None, format: str
) -> None:
    """Where ``mine`` and ``export-baskets`` read: a transactions file or the ledger (with
    its archive), in a known format; else the command stops naming the option."""
    if (transactions is None) == (not ledger):
        fail("give either --transactions FILE or --ledger")
    if archive is not None and not ledger:
        fail("--archive: only with --ledger (the ledger's archive)")
    if format not in FORMATS:
        fail(f"--format: expected one of {', '.join(FORMATS)}, got {format!r}")


def rule_columns(significance: Significance | None = None) -> list[str]:
    """The names of a rule's fields, in the order ``rule_row`` gives them."""
    tested = ["p_value", "q_value", "significant"] if significance is not None else []
    return ["antecedent", "consequent", *STATISTICS, *tested]


def rule_row(
    rule: MinedRule, significance: Significance | None = None, *, finite: bool = False
) -> dict[str, Any]:
    """One rule as a flat record, fields in the order of ``rule_columns``: the CSV's row
    (conviction ``inf`` at confidence 1, or None when ``finite``)."""
    row: dict[str, Any] = {
        "antecedent": " & ".join(rule.antecedent),
        "consequent": rule.consequent,
        **rule.statistics(finite=finite),
    }
    if significance is not None:
        key = (rule.antecedent, rule.consequent)
        row["p_value"] = significance.p_values.get(key)
        row["q_value"] = significance.q_values.get(key)
        row["significant"] = significance.significant(*key)
    return row


def _write(path: Path, result: MiningResult, significance: Significance | None) -> None:
    columns = rule_columns(significance)
    if path.suffix.lower() != ".json":  # build only the rows the file gets
        write_csv(path, columns, [rule_row(r, significance).values() for r in result.rules])
        return
    json_rows = [{**rule_row(r, significance, finite=True), "antecedent": list(r.antecedent)}
                 for r in result.rules]  # fmt: skip
    document = {"baskets": result.n, "min_count": result.min_count,
                "min_confidence": str(result.min_confidence),
                "itemsets": len(result.itemsets), "rules": json_rows}  # fmt: skip
    write_table(path, [], columns, document)


def _summary(
    source: str, dropped_by: Counter[str], result: MiningResult, seconds: float, engine: str
) -> None:
    by_length = Counter(r.items for r in result.rules)
    lengths = ", ".join(f"{k} items: {v:,}" for k, v in sorted(by_length.items())) or "none"
    dropped = ", ".join(f"{k}: {v:,}" for k, v in dropped_by.items() if v)
    on = " on Spark" if engine == "spark" else ""
    out.print(
        f"{result.n:,} baskets ({source}), {len(result.itemsets):,} frequent "
        f"itemsets at ≥ {result.min_count:,} baskets, {len(result.rules):,} rules "
        f"at confidence ≥ {float(result.min_confidence):g} ({lengths}) in {seconds:.2f} s{on}"
        + (f"; dropped {dropped}" if dropped else ""),
        markup=False,
    )
    if not result.rules:
        return
    table = Table(title="strongest rules (by lift)")
    for column in ("antecedent", "consequent", "support", "confidence", "lift", "count"):
        table.add_column(
            column,
            justify="left" if column.endswith("cedent") or column == "consequent" else "right",
        )
    for rule in result.rules[:10]:
        table.add_row(" & ".join(rule.antecedent), rule.consequent, f"{rule.support:.4f}",
                      f"{rule.confidence:.3f}", f"{rule.lift:.2f}", f"{rule.count:,}")  # fmt: skip
    out.print(table)


def mine(
    transactions: Annotated[
        str | None,
        typer.Option(
            help="CSV (baskets or line items) or Parquet file of transactions; with --engine "
            "spark, Parquet baskets (a file or folder, any URL Spark reads: hdfs://, s3a://)."
        ),
    ] = None,
    ledger: Annotated[
        bool, typer.Option("--ledger", help="Mine the ledger's conversions instead of a file.")
    ] = False,
    archive: ArchiveDir = None,
    min_support: Annotated[
        float,
        typer.Option(help="Least share of baskets holding a rule's items (a count: ⌈S × N⌉)."),
    ] = 0.01,
    min_confidence: Annotated[
        float, typer.Option(help="Least confidence, compared exactly.")
    ] = 0.5,
    max_len: Annotated[
        int | None, typer.Option(help="Most items in a rule (antecedent and consequent).")
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Write the rules here: CSV, or JSON when it ends in .json."),
    ] = None,
    propose: Annotated[
        bool,
        typer.Option("--propose", help="Store the statistically significant rules as proposals."),
    ] = False,
    fdr: Annotated[
        float, typer.Option(help="False discovery rate for --propose (Benjamini–Hochberg).")
    ] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed of the exploratory/holdout split.")] = 0,
    format: _FormatOption = "auto",
    exclude: _Exclude = None,
    exclude_pattern: _ExcludePattern = None,
    cancel_prefix: _CancelPrefix = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key", envvar="NEXTOFFER_API_KEY", help="Your API key (an author's, for --propose)."
        ),
    ] = None,
    engine: Annotated[
        str, typer.Option(help="local (this process) or spark (Apache Spark, same results).")
    ] = "local",
    master: Master = None,
) -> None:
    """Mine association rules (single-item consequent) and summarise, write or propose them."""
    _check_source(transactions, ledger, archive, format)
    check_engine(engine, master)
    check_table_file(out_file)
    if engine == "spark":
        _mine_on_spark(transactions, ledger, master, min_support, min_confidence, max_len,
                       out_file, propose, fdr, seed, format, exclude, exclude_pattern, key,
                       archive)  # fmt: skip
        return
    started = time.perf_counter()
    try:
        filters = Filters(frozenset(exclude or ()), exclude_pattern, cancel_prefix)
        if transactions is not None:
            data = read_transactions(Path(transactions), format=format, filters=filters)  # type: ignore[arg-type]
        else:
            data = _from_ledger(filters, archive)
    except TransactionsError as exc:
        fail(f"--transactions: {exc.message}" if exc.field == "transactions" else str(exc))
    with progress(err) as bar:
        task = bar.add_task("mining (itemset sizes done)", total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            result = run_mining(
                data.baskets,
                min_support=min_support,
                min_confidence=min_confidence,
                max_len=max_len,
                progress=report,
            )
        except MiningError as exc:
            fail(f"--{exc.field.replace('_', '-')}: {exc.message}")
        significance = None
        if propose:
            bar.update(task, description="testing on the holdout half", total=None)
            significance = _significance(data, min_support, min_confidence, max_len, fdr, seed)
    _summary(data.source, data.dropped, result, time.perf_counter() - started, engine)
    _results(result, significance, out_file, key, fdr, data)


def _results(
    result: MiningResult,
    significance: Significance | None,
    out_file: Path | None,
    key: str | None,
    fdr: float,
    data: Transactions | tuple[str, Examples],
) -> None:
    """The rules to ``out_file`` and, when tested, the significant ones to proposals."""
    if out_file is not None:
        _write(out_file, result, significance)
        out.print(f"wrote {len(result.rules):,} rules to {out_file}", markup=False)
    if significance is not None:
        from ..service.rules.mining import propose_rules
        from .governance import acting

        with acting(key, "author") as (session, who, _db):
            summary = propose_rules(session, who.id, data, result, significance)
        out.print(
            f"{significance.tested:,} rules tested on the holdout half; "
            f"{summary['significant']:,} significant at FDR {fdr:g}; "
            f"{summary['created']:,} proposals created, {summary['updated']:,} updated, "
            f"{summary['no_offer']:,} skipped (no offer sells the consequent)",
            markup=False,
        )


def _significance(
    data: Transactions, min_support: float, min_confidence: float, max_len: int | None,
    fdr: float, seed: int,
) -> Significance:  # fmt: skip
    from ..core.learning.significance import holdout_test

    try:
        return holdout_test(data.baskets, min_support=min_support, min_confidence=min_confidence,
                          max_len=max_len, fdr=fdr, seed=seed)  # fmt: skip
    except MiningError as exc:
        fail(f"--{exc.field.replace('_', '-')}: {exc.message}")


def _from_ledger(filters: Filters, folder: Path | None = None) -> Transactions:
    """The ledger's baskets (with the archive's in ``folder``, if given); says what it read
    of the archive, or which archived months it did not read."""
    from ..service.archive import service as archive
    from ..service.errors import ServiceError
    from ..service.rules.mining import ledger_transactions
    from .service import open_database

    db = open_database()
    try:
        with db.read() as session:
            view = None if folder is None else archive.open_archive(session, folder)
            data = ledger_transactions(session, filters, view)
            note = archive_note(view, archive.unread(session, view))
    except ServiceError as exc:
        fail(option_message(exc))
    finally:
        db.dispose()
    if note:
        out.print(note, markup=False)
    return data


def _mine_on_spark(
    transactions: str | None, ledger: bool, master: str | None, min_support: float,
    min_confidence: float, max_len: int | None, out_file: Path | None, propose: bool,
    fdr: float, seed: int, format: str, exclude: list[str] | None,
    exclude_pattern: str | None, key: str | None, archive: Path | None = None,
) -> None:  # fmt: skip
    """``mine --engine spark``: the baskets of a Parquet export (the ledger's are exported to
    a temporary file first) mined on Spark; the rules come back here, to the same file and
    proposals as on the local path."""
    import tempfile

    from ..jobs.spark import mining as spark_mining
    from ..jobs.spark.session import SparkUnavailable, spark_session

    if format == "lines":
        fail("--format: the Spark engine reads baskets (a Parquet list column), not line items")
    started = time.perf_counter()
    try:
        filters = Filters(frozenset(exclude or ()), exclude_pattern)
    except TransactionsError as exc:
        fail(str(exc))
    exported = Counter[str]()
    with tempfile.TemporaryDirectory(prefix="nextoffer-baskets-") as folder:
        if ledger:
            path = str(Path(folder) / "ledger-baskets.parquet")
            from_ledger = _from_ledger(Filters(), archive)
            write_baskets(from_ledger, path)
            exported = from_ledger.dropped
        else:
            assert transactions is not None
            path = transactions
            if "://" not in path and not Path(path).exists():
                fail(f"--transactions: no such file {path!r}")
        try:
            spark = spark_session(master)
        except SparkUnavailable as exc:
            fail(f"--engine spark: {exc.message}")
        with progress(err) as bar:
            bar.add_task("mining on Spark", total=None)
            try:
                baskets = spark_mining.read_baskets(spark, path, filters)
                if ledger:
                    baskets.source = "ledger"
                    baskets.dropped.update(exported)
                result = spark_mining.mine(baskets, min_support=min_support,
                                           min_confidence=min_confidence, max_len=max_len)  # fmt: skip
                significance = examples = None
                if propose:
                    significance = spark_mining.holdout_test(
                        baskets, min_support=min_support, min_confidence=min_confidence,
                        max_len=max_len, fdr=fdr, seed=seed,
                    )  # fmt: skip
                    wanted = [(*r.antecedent, r.consequent) for r in result.rules
                              if significance.significant(r.antecedent, r.consequent)]  # fmt: skip
                    examples = spark_mining.example_baskets(baskets, wanted)
            except TransactionsError as exc:
                fail(f"--transactions: {exc.message}")
            except MiningError as exc:
                fail(f"--{exc.field.replace('_', '-')}: {exc.message}")
        _summary(baskets.source, baskets.dropped, result, time.perf_counter() - started, "spark")
        _results(result, significance, out_file, key, fdr,
                 (baskets.source, examples) if examples is not None else (baskets.source, _none))  # fmt: skip


def _none(items: tuple[str, ...]) -> list[Sequence[str]]:
    return []


def export_baskets(
    out_file: Annotated[
        Path, typer.Option("--out", help="The Parquet file to write (position, items).")
    ],
    transactions: Annotated[
        Path | None, typer.Option(help="CSV or Parquet transactions, as `mine` reads them.")
    ] = None,
    ledger: Annotated[
        bool, typer.Option("--ledger", help="Export the ledger's checkout baskets instead.")
    ] = False,
    archive: ArchiveDir = None,
    format: _FormatOption = "auto",
    exclude: _Exclude = None,
    exclude_pattern: _ExcludePattern = None,
    cancel_prefix: _CancelPrefix = None,
) -> None:
    """Export baskets to Parquet for `mine --engine spark` (or any Parquet reader)."""
    _check_source(transactions, ledger, archive, format)
    if out_file.suffix.lower() not in (".parquet", ".pq"):
        fail("--out: expected a .parquet file")
    try:
        filters = Filters(frozenset(exclude or ()), exclude_pattern, cancel_prefix)
        if transactions is not None:
            data = read_transactions(transactions, format=format, filters=filters)  # type: ignore[arg-type]
        else:
            data = _from_ledger(filters, archive)
    except TransactionsError as exc:
        fail(f"--transactions: {exc.message}" if exc.field == "transactions" else str(exc))
    try:
        written = write_baskets(data, out_file)
    except OSError as exc:
        fail(f"--out: cannot write {out_file}: {exc.strerror or exc}")
    dropped = ", ".join(f"{k}: {v:,}" for k, v in data.dropped.items() if v)
    out.print(f"wrote {written:,} baskets ({data.source}) to {out_file}"
              + (f"; dropped {dropped}" if dropped else ""), markup=False)  # fmt: skip
