"""Transactions for mining, from files (CSV, Parquet) or the ledger's conversions.

Two shapes are read:

- **baskets**: one basket per line (CSV: the items of a line, comma-separated, no header;
  Parquet: a list column such as ``items``);
- **line items**: one row per item sold, with a header naming at least the order and the
  item (``order_id``/``invoice``/``InvoiceNo`` … and ``sku``/``item``/``StockCode`` …), and
  optionally ``quantity``, ``price``, ``time``, ``customer`` and ``store`` columns. The rows
  of one order make one basket.

The baskets come coded (``CodedBaskets``): the miner takes them as they are.

A CSV file may be gzip-compressed (``baskets.csv.gz``): it is read as it decompresses.

``format="auto"`` picks line items when the first row names an order and an item column.
**Filters** drop cancellations (orders whose id starts with a prefix, such as Online
Retail's ``C``, and lines with a quantity ≤ 0) and non-product codes (listed items, or items
matching a pattern); what they dropped is counted.
"""

from __future__ import annotations

import csv
import gzip
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Literal

from ..core.errors import NextofferError
from ..core.learning.baskets import BasketCoder

__all__ = [
    "COLUMN_NAMES",
    "Basket",
    "Filters",
    "Transactions",
    "TransactionsError",
    "basket_of",
    "read_transactions",
    "write_baskets",
]

Format = Literal["auto", "baskets", "lines"]

# role: accepted header names, compared lower-case without "_", " " or "-"
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "order": ("orderid", "order", "invoice", "invoiceno", "transactionid", "transaction", "basket"),
    "item": ("sku", "item", "itemid", "product", "productid", "stockcode"),
    "quantity": ("quantity", "qty"),
    "price": ("price", "unitprice"),
    "time": ("time", "timestamp", "invoicedate", "date", "orderedat"),
    "customer": ("customer", "customerid"),
    "store": ("store", "storeid"),
}


class TransactionsError(NextofferError):
    """The file cannot be read as transactions; ``field`` names what is wrong."""


@dataclass(frozen=True)
class Filters:
    exclude_items: frozenset[str] = frozenset()
    exclude_pattern: str | None = None  # a regular expression over the whole item code
    cancel_prefix: str | None = None  # orders whose id starts with it are cancellations
    drop_returns: bool = True  # line items with a quantity ≤ 0

    def __post_init__(self) -> None:
        if self.exclude_pattern is not None:
            try:
                re.compile(self.exclude_pattern)
            except re.error as exc:
                raise TransactionsError(
                    "exclude_pattern", f"not a regular expression: {exc}"
                ) from None

    def item_filter(self) -> Callable[[str], bool]:
        pattern = re.compile(self.exclude_pattern) if self.exclude_pattern else None
        excluded = self.exclude_items

        def keep(item: str) -> bool:
            return item not in excluded and not (pattern is not None and pattern.fullmatch(item))

        return keep


Basket = tuple[str, ...]  # distinct items, in the order first listed


def basket_of(items: Iterable[str]) -> Basket:
    return tuple(dict.fromkeys(items))


@dataclass
class Transactions:
    baskets: Sequence[Basket]
    source: str
    dropped: Counter[str] = field(default_factory=Counter)  # reason → count


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.strip().lower())


def _roles(header: Iterable[str]) -> dict[str, int]:
    roles: dict[str, int] = {}
    for position, name in enumerate(header):
        key = _normalise(name)
        for role, names in COLUMN_NAMES.items():
            if key in names and role not in roles:
                roles[role] = position
    return roles


def read_transactions(
    path: Path | str, *, format: Format = "auto", filters: Filters | None = None
) -> Transactions:
    """The baskets in a CSV (``.csv.gz``: gzip-compressed) or Parquet file (by extension),
    filtered."""
    path = Path(path)
    filters = filters or Filters()
    if not path.is_file():
        raise TransactionsError("transactions", f"no such file {str(path)!r}")
    if path.suffix.lower() in (".parquet", ".pq"):
        return _parquet(path, format, filters)
    compressed = path.suffix.lower() == ".gz"
    try:
        with (
            gzip.open(path, "rt", newline="", encoding="utf-8-sig")
            if compressed
            else path.open(newline="", encoding="utf-8-sig")
        ) as f:
            return _csv(csv.reader(f), str(path), format, filters)
    except UnicodeDecodeError as exc:
        raise TransactionsError("transactions", f"{path} is not UTF-8 text: {exc}") from None
    except csv.Error as exc:
        raise TransactionsError("transactions", f"{path}: {exc}") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise TransactionsError("transactions", f"{path} is not a whole gzip file: {exc}") from None


def _csv(rows: Iterator[list[str]], source: str, format: Format, filters: Filters) -> Transactions:
    first = next(rows, None)
    if first is None:
        raise TransactionsError("transactions", f"{source} is empty")
    roles = _roles(first)
    lines = {"order", "item"} <= roles.keys()
    if format == "lines" and not lines:
        raise TransactionsError(
            "transactions",
            f"{source}: the header names no order column and item column "
            f"(order: one of {', '.join(COLUMN_NAMES['order'])}; "
            f"item: one of {', '.join(COLUMN_NAMES['item'])})",
        )
    if format == "lines" or (format == "auto" and lines):
        return _group_lines(rows, roles, source, filters, start=2)
    keep = filters.item_filter()
    coder, dropped = BasketCoder(), Counter[str]()
    add, plain = coder.add, not filters.exclude_items and not filters.exclude_pattern
    for row in chain([first], rows):
        items: Iterable[str] = filter(None, map(str.strip, row))  # blanks trimmed, empty dropped
        if not plain:
            listed = dict.fromkeys(items)
            kept = [i for i in listed if keep(i)]
            dropped["excluded items"] += len(listed) - len(kept)
            items = kept
        if not add(items):
            dropped["empty baskets"] += 1
    return Transactions(coder.baskets(), source, dropped)


def _group_lines(
    rows: Iterable[list[str]] | Iterable[tuple[Any, ...]],
    roles: dict[str, int],
    source: str,
    filters: Filters,
    start: int,
) -> Transactions:
    keep = filters.item_filter()
    order_at, item_at = roles["order"], roles["item"]
    quantity_at = roles.get("quantity")
    orders: dict[str, dict[str, None]] = {}
    out = Transactions((), source)
    width = max(roles.values()) + 1
    for line, row in enumerate(rows, start=start):
        if len(row) < width:
            raise TransactionsError(
                f"line {line}", f"has {len(row)} columns, the header names {width}"
            )
        order = str(row[order_at]).strip()
        item = str(row[item_at]).strip()
        if not order or not item:
            out.dropped["lines without order or item"] += 1
            continue
        if filters.cancel_prefix and order.startswith(filters.cancel_prefix):
            out.dropped["cancellation lines"] += 1
            continue
        if quantity_at is not None and filters.drop_returns:
            try:
                quantity = float(row[quantity_at])
            except (TypeError, ValueError):
                raise TransactionsError(
                    f"line {line}: quantity", f"{row[quantity_at]!r} is not a number"
                ) from None
            if quantity <= 0:
                out.dropped["returned lines (quantity ≤ 0)"] += 1
                continue
        if not keep(item):
            out.dropped["excluded items"] += 1
            continue
        orders.setdefault(order, {})[item] = None
    coder = BasketCoder()
    for items in orders.values():
        coder.add(items)
    out.baskets = coder.baskets()
    return out


def _parquet(path: Path, format: Format, filters: Filters) -> Transactions:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise TransactionsError("transactions", f"{path} is not a Parquet file: {exc}") from None
    lists = [
        f.name for f in table.schema if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)
    ]
    roles = _roles(table.column_names)
    if format == "baskets" or (
        format == "auto" and lists and not {"order", "item"} <= roles.keys()
    ):
        if not lists:
            raise TransactionsError("transactions", f"{path} has no list column of items")
        keep = filters.item_filter()
        coder, dropped = BasketCoder(), Counter[str]()
        for chosen in table.column(lists[0]).to_pylist():
            if not coder.add(str(i) for i in chosen or () if i is not None and keep(str(i))):
                dropped["empty baskets"] += 1
        return Transactions(coder.baskets(), str(path), dropped)
    if not {"order", "item"} <= roles.keys():
        raise TransactionsError(
            "transactions", f"{path}: no list column of items, and no order and item columns"
        )
    columns = [table.column(name).to_pylist() for name in table.column_names]
    return _group_lines(zip(*columns, strict=True), roles, str(path), filters, start=1)


def write_baskets(data: Transactions, path: Path | str) -> int:
    """Export the baskets to a Parquet file that ``read_transactions`` and the Spark engine
    read back as the same baskets: ``position`` (the order read) and ``items`` (a list of
    distinct item names). Returns how many baskets were written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    baskets = data.baskets
    table = pa.table(
        {
            "position": pa.array(range(len(baskets)), pa.int64()),
            "items": pa.array([list(b) for b in baskets], pa.list_(pa.string())),
        }
    )
    pq.write_table(table, path)
    return len(baskets)
