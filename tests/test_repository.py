"""The repository stands alone: the data its tests and benchmarks read ship inside it, whole,
and nothing names a folder outside it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests import data

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = {".git", ".venv", "build", "dist", "__pycache__", ".mypy_cache", ".ruff_cache",
           ".pytest_cache", ".hypothesis"}  # fmt: skip
BINARY = (".gz", ".png", ".pyc", ".db", ".db-wal", ".db-shm", ".sqlite", ".pkl", ".parquet")


def test_the_shipped_data_sets_are_whole_and_compressed() -> None:
    """The counts data/README.md gives for each set."""
    for name in ("groceries.csv", "online_retail_baskets.csv", "online_retail_prices.csv",
                 "hillstrom.csv"):  # fmt: skip
        with data.path(name).open("rb") as f:
            assert f.read(2) == b"\x1f\x8b", f"{name}: not gzip-compressed"
    groceries = data.rows("groceries.csv")
    assert (len(groceries), len({i for row in groceries for i in row})) == (9_835, 169)
    retail = data.rows("online_retail_baskets.csv")
    assert (len(retail), len({i for row in retail for i in row})) == (25_900, 4_070)
    prices = data.records("online_retail_prices.csv")
    assert list(prices[0]) == ["StockCode", "description", "median_unit_price", "n_rows"]
    assert len({p["StockCode"] for p in prices}) == 3_168
    assert {p["StockCode"] for p in prices} <= {i for row in retail for i in row}
    hillstrom = data.records("hillstrom.csv")
    arms = {arm: sum(r["segment"] == arm for r in hillstrom)
            for arm in ("Mens E-Mail", "Womens E-Mail", "No E-Mail")}  # fmt: skip
    assert (len(hillstrom), arms) == (
        64_000,
        {"Mens E-Mail": 21_307, "Womens E-Mail": 21_387, "No E-Mail": 21_306},
    )


def _files() -> list[Path]:
    found = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED and not d.endswith(".egg-info")]
        found += [Path(folder, n) for n in names if not n.endswith(BINARY)]
    return found


def test_nothing_in_the_repository_names_a_folder_outside_it() -> None:
    """No path climbs out of the project to a sibling folder (the data and the design used to
    live in one beside it, which a clone does not have)."""
    sibling = "sha" + "red"  # spelled apart, so this file does not find itself
    outside = re.compile(
        rf"\.\./{sibling}\b|[\"']{sibling}[\"']\s*/|/\s*[\"']{sibling}[\"']|/work/{sibling}"
    )
    hits = []
    for path in _files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        hits += [f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(text.splitlines(), 1)
                 if outside.search(line)]  # fmt: skip
    assert hits == []
