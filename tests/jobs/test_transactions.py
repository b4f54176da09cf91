"""Reading transactions: baskets of distinct, trimmed items, coded for the miner."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from nextoffer.core.learning.baskets import CodedBaskets
from nextoffer.jobs.transactions import Filters, TransactionsError, read_transactions


def test_a_baskets_file_gives_distinct_trimmed_items_in_the_order_listed(tmp_path: Path) -> None:
    path = tmp_path / "baskets.csv"
    path.write_text("\ufeffbeer, chips ,beer\n\n , \nsalsa,,beer\n", encoding="utf-8")
    data = read_transactions(path)
    assert isinstance(data.baskets, CodedBaskets)
    assert list(data.baskets) == [("beer", "chips"), ("salsa", "beer")]
    assert data.dropped == {"empty baskets": 2}


def test_excluded_items_are_counted_once_per_basket(tmp_path: Path) -> None:
    path = tmp_path / "baskets.csv"
    path.write_text("POST,a,POST,b\nPOST\nc,DOT\n", encoding="utf-8")
    data = read_transactions(path, filters=Filters(frozenset({"POST"}), exclude_pattern="D.T"))
    assert list(data.baskets) == [("a", "b"), ("c",)]
    assert data.dropped == {"excluded items": 3, "empty baskets": 1}


def test_line_items_group_into_baskets(tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    path.write_text("order,sku\n1,A\n2,B\n1,C\n1,A\n", encoding="utf-8")
    assert list(read_transactions(path).baskets) == [("A", "C"), ("B",)]


def test_a_gzip_compressed_baskets_file_is_read_as_it_decompresses(tmp_path: Path) -> None:
    path = tmp_path / "baskets.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\ufeffbeer,chips\nsalsa,beer\n")
    assert list(read_transactions(path).baskets) == [("beer", "chips"), ("salsa", "beer")]


def test_a_truncated_or_false_gzip_file_is_a_clear_error(tmp_path: Path) -> None:
    whole = gzip.compress(b"beer,chips\n" * 1000)
    for name, content in (("cut.csv.gz", whole[: len(whole) // 2]), ("plain.csv.gz", b"a,b\n")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(TransactionsError, match="is not a whole gzip file") as info:
            read_transactions(path)
        assert info.value.field == "transactions"
