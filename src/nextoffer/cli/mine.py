"""``nextoffer mine``: association rules from transactions, to a file and to proposals."""

from __future__ import annotations

import time
from collections import Counter
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
)
from .output import check_table_file, err, fail, out, progress, write_csv, write_table

if TYPE_CHECKING:
    from ..core.learning.significance import Significance

__all__ = ["mine", "rule_columns", "rule_row"]

FORMATS: tuple[str, ...] = get_args(Format)


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


def _summary(transactions: Transactions, result: MiningResult, seconds: float) -> None:
    by_length = Counter(r.items for r in result.rules)
    lengths = ", ".join(f"{k} items: {v:,}" for k, v in sorted(by_length.items())) or "none"
    dropped = ", ".join(f"{k}: {v:,}" for k, v in transactions.dropped.items() if v)
    out.print(
        f"{result.n:,} baskets ({transactions.source}), {len(result.itemsets):,} frequent "
        f"itemsets at ≥ {result.min_count:,} baskets, {len(result.rules):,} rules "
        f"at confidence ≥ {float(result.min_confidence):g} ({lengths}) in {seconds:.2f} s"
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
        Path | None,
        typer.Option(help="CSV (baskets or line items) or Parquet file of transactions."),
    ] = None,
    ledger: Annotated[
        bool, typer.Option("--ledger", help="Mine the ledger's conversions instead of a file.")
    ] = False,
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
    format: Annotated[
        str, typer.Option(help="auto, baskets (one per line) or lines (line items).")
    ] = "auto",
    exclude: Annotated[
        list[str] | None, typer.Option(help="An item code to drop (repeatable), e.g. POST.")
    ] = None,
    exclude_pattern: Annotated[
        str | None, typer.Option(help="Drop items whose whole code matches this regex.")
    ] = None,
    cancel_prefix: Annotated[
        str | None, typer.Option(help="Order ids starting with this are cancellations, e.g. C.")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key", envvar="NEXTOFFER_API_KEY", help="Your API key (an author's, for --propose)."
        ),
    ] = None,
) -> None:
    """Mine association rules (single-item consequent) and summarise, write or propose them."""
    if (transactions is None) == (not ledger):
        fail("give either --transactions FILE or --ledger")
    if format not in FORMATS:
        fail(f"--format: expected one of {', '.join(FORMATS)}, got {format!r}")
    check_table_file(out_file)
    started = time.perf_counter()
    try:
        filters = Filters(frozenset(exclude or ()), exclude_pattern, cancel_prefix)
        if transactions is not None:
            data = read_transactions(transactions, format=format, filters=filters)  # type: ignore[arg-type]
        else:
            data = _from_ledger(filters)
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
    _summary(data, result, time.perf_counter() - started)
    if out_file is not None:
        _write(out_file, result, significance)
        out.print(f"wrote {len(result.rules):,} rules to {out_file}", markup=False)
    if propose and significance is not None:
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


def _from_ledger(filters: Filters) -> Transactions:
    from ..service.rules.mining import ledger_transactions
    from .service import open_database

    db = open_database()
    try:
        with db.read() as session:
            return ledger_transactions(session, filters)
    finally:
        db.dispose()
