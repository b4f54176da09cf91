"""Mining on Spark gives what the local miner gives: the same itemsets, counts and rules."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nextoffer.core.learning import mining as local
from nextoffer.core.learning.significance import holdout_test as local_holdout_test
from nextoffer.jobs.mining import examples_in
from nextoffer.jobs.spark import mining as spark_mining
from nextoffer.jobs.transactions import Filters, read_transactions, write_baskets
from tests import data

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _same(got: local.MiningResult, want: local.MiningResult) -> None:
    assert (got.n, got.min_count, got.min_confidence) == (want.n, want.min_count,
                                                          want.min_confidence)  # fmt: skip
    assert got.itemsets == want.itemsets
    assert got.rules == want.rules  # the same rules, counts and order


@pytest.fixture(scope="module")
def groceries_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "groceries.parquet"
    write_baskets(read_transactions(data.path("groceries.csv")), path)
    return path


def _boundary(tmp_path: Path) -> Path:
    """100 baskets, 7 of them holding bread and butter; the rest milk, some with bread."""
    baskets = [["bread", "butter", "milk"] if i < 7 else ["milk"] + ["bread"] * (i % 3 == 0)
               for i in range(100)]  # fmt: skip
    path = tmp_path / "boundary.parquet"
    pq.write_table(pa.table({"items": baskets}), path)
    return path


def test_an_itemset_in_exactly_7_of_100_baskets_is_frequent_at_7_percent(
    spark: SparkSession, tmp_path: Path
) -> None:
    from pyspark.ml.fpm import FPGrowth

    path = _boundary(tmp_path)
    baskets = spark_mining.read_baskets(spark, str(path))
    # MLlib alone asks for ceil(0.07 × 100) = 8 baskets in floating point and loses it
    plain = FPGrowth(itemsCol="items", minSupport=0.07).fit(baskets.frame).freqItemsets.collect()
    assert ["bread", "butter"] not in [sorted(r["items"]) for r in plain]
    got = spark_mining.mine(baskets, min_support=0.07, min_confidence=0.5)
    assert got.min_count == 7
    assert got.itemsets[("bread", "butter")] == 7
    assert got.itemsets[("bread", "butter", "milk")] == 7
    assert (("butter",), "bread") in {(r.antecedent, r.consequent) for r in got.rules}
    assert (("bread", "butter"), "milk") in {(r.antecedent, r.consequent) for r in got.rules}
    _same(got, local.mine(read_transactions(path).baskets, min_support=0.07, min_confidence=0.5))
    # one basket fewer and it is gone, on both paths
    above = spark_mining.mine(baskets, min_support=0.08, min_confidence=0.5)
    assert ("bread", "butter") not in above.itemsets


@pytest.mark.parametrize(
    ("support", "confidence", "max_len", "itemsets", "rules"),
    [(0.006, 0.25, None, 747, 463), (0.001, 0.8, 3, None, 29), (0.001, 0.5, None, 13492, 5668)],
)
def test_groceries_gives_what_the_local_miner_gives(
    spark: SparkSession,
    groceries_parquet: Path,
    support: float,
    confidence: float,
    max_len: int | None,
    itemsets: int | None,
    rules: int,
) -> None:
    baskets = spark_mining.read_baskets(spark, str(groceries_parquet))
    assert baskets.n == 9835
    got = spark_mining.mine(baskets, min_support=support, min_confidence=confidence,
                            max_len=max_len)  # fmt: skip
    assert len(got.rules) == rules
    if itemsets is not None:
        assert len(got.itemsets) == itemsets
    want = local.mine(read_transactions(groceries_parquet).baskets, min_support=support,
                      min_confidence=confidence, max_len=max_len)  # fmt: skip
    _same(got, want)
    if support == 0.006:
        plants = next(r for r in got.rules if r.antecedent == ("pot plants",))
        assert (plants.consequent, plants.count, plants.confidence) == ("whole milk", 68, 0.4)
        assert plants.lift == pytest.approx(1.565460, abs=1e-6)
    assert any(len(r.antecedent) > 1 for r in got.rules)


def test_filters_repeats_and_empty_baskets_as_the_local_reader(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = tmp_path / "raw.parquet"  # no position column: the order of the rows
    lists = [["a", "b", "a", "POST"], ["POST"], None, ["b", "c"], [1, 2], ["a", "b", "D7"],
             ["c", "a"], ["a", None, "b"]]  # fmt: skip
    pq.write_table(pa.table({"basket_items": [[str(i) if isinstance(i, int) else i for i in x]
                                              if x else x for x in lists]}), path)  # fmt: skip
    filters = Filters(frozenset({"POST"}), exclude_pattern=r"D\d")
    baskets = spark_mining.read_baskets(spark, str(path), filters)
    want = read_transactions(path, filters=filters)
    assert baskets.n == len(want.baskets) == 6
    assert baskets.dropped == Counter({"empty baskets": 2, "excluded items": 3})
    assert want.dropped["empty baskets"] == 2
    rows = sorted((r["position"], tuple(r["items"])) for r in baskets.frame.collect())
    assert rows == list(enumerate(want.baskets))
    _same(spark_mining.mine(baskets, min_support=0.3, min_confidence=0.5),
          local.mine(want.baskets, min_support=0.3, min_confidence=0.5))  # fmt: skip


def test_holdout_test_and_examples_are_the_local_ones(
    spark: SparkSession, groceries_parquet: Path
) -> None:
    baskets = spark_mining.read_baskets(spark, str(groceries_parquet))
    data_local = read_transactions(groceries_parquet)
    got = spark_mining.holdout_test(baskets, min_support=0.006, min_confidence=0.3, seed=7)
    want = local_holdout_test(data_local.baskets, min_support=0.006, min_confidence=0.3, seed=7)
    assert got.tested == want.tested > 50
    assert got.p_values == want.p_values
    assert got.q_values == want.q_values
    assert 0 < sum(got.significant(*key) for key in got.p_values) < got.tested
    result = local.mine(data_local.baskets, min_support=0.006, min_confidence=0.3)
    sets = [(*r.antecedent, r.consequent) for r in result.rules[:20]]
    found = spark_mining.example_baskets(baskets, sets)
    expected = examples_in(result, data_local)
    for items in sets:
        assert [tuple(b) for b in found(items)] == [tuple(b) for b in expected(items)]
        assert len(found(items)) == 3


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"min_support": 0}, "min_support", "must be above 0"),
        ({"min_support": 1.5}, "min_support", "must be between 0 and 1"),
        ({"min_confidence": "x"}, "min_confidence", "is not a number"),
        ({"max_len": 1}, "max_len", "a rule has at least 2 items"),
    ],
)
def test_bad_thresholds_are_the_local_errors(
    spark: SparkSession, tmp_path: Path, kwargs: dict[str, object], field: str, message: str
) -> None:
    baskets = spark_mining.read_baskets(spark, str(_boundary(tmp_path)))
    args: dict[str, object] = {"min_support": 0.1, "min_confidence": 0.5, **kwargs}
    with pytest.raises(local.MiningError) as raised:
        spark_mining.mine(baskets, **args)  # type: ignore[arg-type]
    assert raised.value.field == field
    assert message in raised.value.message
