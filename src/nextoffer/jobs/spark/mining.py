"""Association-rule mining on Spark: the same itemsets, counts and rules as ``core.learning.mining``.

The baskets are a Parquet file (or a folder of them) with a list column of items, as
``nextoffer export-baskets`` writes them; an integer ``position`` column, when there is one,
is the order in which they were read (else the order of the rows in the file).

Frequent itemsets come from Spark MLlib's FP-growth, asked for a threshold half a basket
lower than the exact one: MLlib turns ``minSupport`` into a count as ``ceil(minSupport ×
N)`` in floating point, so that 0.07 of 100 baskets asks for 8 (0.07 × 100 is
7.000000000000001) and an itemset in exactly 7 baskets is lost. Here the count is the core's
``⌈min_support × N⌉`` in exact decimals (``min_count``), MLlib gets ``(count − ½) ÷ N``
(whose ceiling is that count whatever the rounding), and the itemsets below the exact count
are filtered out afterwards by their integer counts.

Rules ``A → c`` (``A`` of one item or more, as the core has them) are made in Spark from the
itemsets: every frequent itemset of two items or more, less each of its items in turn,
joined to the count of what is left and of the item left out. The confidence test is the
core's, in integers: ``count × q ≥ count(A) × p`` for ``min_confidence = p / q`` (as
38-digit decimals, which cannot overflow). The rules come back to the driver as the core's
``MinedRule``, so every statistic (support, confidence, lift, …) is computed by the same
code as on the local path, and they are ordered as the core orders them.

The holdout test of ``--propose`` splits the baskets as the core does (its seeded shuffle
of the positions, made on the driver), mines the exploratory half on Spark, and counts each
rule's baskets in the holdout half on Spark (the baskets' items joined to the rules' items);
the p-values and the FDR control are the core's.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...core.learning.mining import MinedRule, MiningError, MiningResult, thresholds
from ...core.learning.significance import Significance, benjamini_hochberg, fisher_greater
from ..mining import EXAMPLES, Examples
from ..transactions import Filters, TransactionsError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkBaskets", "example_baskets", "holdout_test", "mine", "read_baskets"]


@dataclass
class SparkBaskets:
    """Baskets in Spark: ``frame`` has ``position`` (0 … n − 1, the order read) and
    ``items`` (distinct, at least one), cached."""

    frame: DataFrame
    n: int
    source: str
    dropped: Counter[str] = field(default_factory=Counter)


def read_baskets(spark: SparkSession, path: str, filters: Filters | None = None) -> SparkBaskets:
    """The baskets of a Parquet file or folder (its first list column), filtered as the local
    reader filters them: items named or matching the pattern dropped, repeats dropped, and
    baskets left empty dropped and counted."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, IntegralType

    filters = filters or Filters()
    local = Path(path)
    if "://" not in path and local.is_file():  # a clear word before Spark's stack trace
        with local.open("rb") as f:
            if f.read(4) != b"PAR1":
                raise TransactionsError(
                    "transactions", f"cannot read {path} as Parquet: it is not a Parquet file"
                )
    try:
        raw = spark.read.parquet(path)
    except (AnalysisException, Py4JJavaError) as exc:
        raise TransactionsError(
            "transactions", f"cannot read {path} as Parquet: {_first_line(exc)}"
        ) from None
    lists = [f.name for f in raw.schema.fields if isinstance(f.dataType, ArrayType)]
    if not lists:
        raise TransactionsError(
            "transactions",
            f"{path} has no list column of items (the Spark engine reads baskets, as "
            "`nextoffer export-baskets` writes them)",
        )
    positioned = "position" in raw.columns and isinstance(
        raw.schema["position"].dataType, IntegralType
    )
    # the order read: the export's positions, else the rows' order in the file (the ids
    # grow with the partition, and a file's partitions are its consecutive parts)
    row = F.col("position").cast("long") if positioned else F.monotonically_increasing_id()
    rows = raw.select(row.alias("row"), F.col(lists[0]))
    items = F.filter(
        F.transform(F.coalesce(F.col(lists[0]), F.array()), lambda i: i.cast("string")),
        lambda i: i.isNotNull(),
    )
    listed = F.array_distinct(items)  # keeps each item's first place
    kept = listed
    if filters.exclude_items:
        excluded = sorted(filters.exclude_items)
        kept = F.filter(kept, lambda i: ~i.isin(excluded))
    if filters.exclude_pattern:
        pattern = f"^(?:{filters.exclude_pattern})$"  # fullmatch, as the local reader does
        kept = F.filter(kept, lambda i: ~i.rlike(pattern))
    baskets = rows.select("row", listed.alias("listed"), kept.alias("items")).cache()
    tally = baskets.agg(
        F.count(F.when(F.size("items") > 0, 1)).alias("kept"),
        F.count(F.when(F.size("items") == 0, 1)).alias("empty"),
        F.sum(F.size("listed") - F.size("items")).alias("excluded"),
    ).first()
    assert tally is not None
    dropped = Counter[str]()
    if filters.exclude_items or filters.exclude_pattern:
        dropped["excluded items"] = int(tally["excluded"] or 0)
    dropped["empty baskets"] = int(tally["empty"])
    frame = _numbered(baskets.where(F.size("items") > 0).select("row", "items"), "row")
    baskets.unpersist()
    return SparkBaskets(frame, int(tally["kept"]), path, +dropped)


def _first_line(exc: Exception) -> str:
    """What Spark said, without the JVM's stack."""
    java = getattr(exc, "java_exception", None)
    text = str(java.getMessage()) if java is not None else str(exc)
    return (text.strip().splitlines() or ["(no message)"])[0]


def _numbered(rows: DataFrame, key: str) -> DataFrame:
    """``rows`` as ``position`` (0, 1, 2, … in the order of ``key``) and ``items``, cached.

    All in the JVM: once sorted, a row's id from ``monotonically_increasing_id`` is its
    partition's number × 2³³ plus its place in the partition, so its position is its place
    plus the rows of the partitions before it.
    """
    from pyspark.sql import functions as F

    spark = rows.sparkSession
    ids = rows.orderBy(key).select(F.monotonically_increasing_id().alias("id"), "items")
    ids = ids.withColumn("part", F.shiftright("id", 33)).cache()
    sizes = sorted((r["part"], r["count"]) for r in ids.groupBy("part").count().collect())
    starts, done = [], 0
    for part, size in sizes:
        starts.append((part, done))
        done += size
    offsets = spark.createDataFrame(starts or [(0, 0)], "part long, start long")
    place = F.col("id") - F.shiftleft(F.col("part"), 33)
    frame = ids.join(F.broadcast(offsets), "part").select(
        (F.col("start") + place).alias("position"), "items"
    )
    frame = frame.cache()
    frame.count()  # computed once, while the sorted ids are cached
    ids.unpersist()
    return frame


def _itemsets(frame: DataFrame, n: int, minc: int, max_len: int | None) -> DataFrame:
    """Every itemset in at least ``minc`` of the ``n`` baskets: ``items`` (sorted), ``count``."""
    from pyspark.ml.fpm import FPGrowth
    from pyspark.sql import functions as F

    # MLlib's count is ceil(minSupport × n) in floating point: (minc − ½) / n gives minc
    # exactly (the product is within far less than ½ of minc − ½), never minc + 1
    model = FPGrowth(itemsCol="items", minSupport=(minc - 0.5) / n, minConfidence=1.0).fit(frame)
    found = model.freqItemsets.where(F.col("freq") >= minc)
    if max_len is not None:
        found = found.where(F.size("items") <= max_len)
    return found.select(F.array_sort("items").alias("items"), F.col("freq").alias("count"))


def _rules(itemsets: DataFrame, confidence: Fraction) -> DataFrame:
    """Every rule ``items − {c} → c`` of the itemsets of two items or more that meets the
    confidence, tested in integers: ``antecedent``, ``consequent`` and the three counts."""
    from pyspark.sql import functions as F

    whole = itemsets.where(F.size("items") >= 2).select(
        "items", "count", F.explode("items").alias("consequent")
    )
    candidates = whole.select(
        F.array_remove("items", F.col("consequent")).alias("antecedent"),
        "consequent",
        "count",
    )
    sides = itemsets.select(F.col("items").alias("antecedent"), F.col("count").alias("a_count"))
    singles = itemsets.where(F.size("items") == 1).select(
        F.col("items")[0].alias("consequent"), F.col("count").alias("c_count")
    )
    joined = candidates.join(sides, "antecedent").join(singles, "consequent")
    big = "decimal(38,0)"
    p, q = confidence.numerator, confidence.denominator
    meets = F.col("count").cast(big) * F.lit(q).cast(big) >= F.col("a_count").cast(big) * F.lit(
        p
    ).cast(big)
    return joined.where(meets).select("antecedent", "consequent", "count", "a_count", "c_count")


def mine(
    baskets: SparkBaskets,
    *,
    min_support: float | str | Fraction,
    min_confidence: float | str | Fraction,
    max_len: int | None = None,
) -> MiningResult:
    """``core.learning.mining.mine`` on Spark: the same itemsets, counts and rules, in the
    same order. The result keeps no bit sets (``bits`` is None): the baskets stay in Spark,
    and ``example_baskets`` finds examples there."""
    n = baskets.n
    minc, confidence = thresholds(n, min_support, min_confidence, max_len)
    itemsets_frame = _itemsets(baskets.frame, n, minc, max_len).cache()
    try:
        itemsets = {tuple(r["items"]): int(r["count"]) for r in itemsets_frame.collect()}
        found = _rules(itemsets_frame, confidence).collect()
    finally:
        itemsets_frame.unpersist()
    rules = [
        MinedRule(tuple(r["antecedent"]), r["consequent"], int(r["count"]), int(r["a_count"]),
                  int(r["c_count"]), n)
        for r in found
    ]  # fmt: skip
    # the core's order: by lift, then confidence, then count (highest first), then names
    rules.sort(key=lambda r: (-r.count * n / (r.antecedent_count * r.consequent_count),
                              -r.count / r.antecedent_count, -r.count, r.antecedent, r.consequent))  # fmt: skip
    return MiningResult(n, minc, confidence, itemsets, tuple(rules), None)


def _sets_frame(spark: SparkSession, sets: Sequence[tuple[str, ...]]) -> DataFrame:
    rows = [(i, item, len(s)) for i, s in enumerate(sets) for item in s]
    return spark.createDataFrame(rows, "set long, item string, size int")


def _holding(frame: DataFrame, sets: DataFrame) -> DataFrame:
    """(set, position) of every basket of ``frame`` holding every item of a set."""
    from pyspark.sql import functions as F

    exploded = frame.select("position", F.explode("items").alias("item"))
    matched = exploded.join(sets, "item").groupBy("set", "position", "size").count()
    return matched.where(F.col("count") == F.col("size")).select("set", "position")


def _counts(frame: DataFrame, sets: Sequence[tuple[str, ...]]) -> list[int]:
    """How many baskets of ``frame`` hold every item of each of ``sets``."""
    if not sets:
        return []
    holding = _holding(frame, _sets_frame(frame.sparkSession, sets))
    counted = {r["set"]: int(r["count"]) for r in holding.groupBy("set").count().collect()}
    return [counted.get(i, 0) for i in range(len(sets))]


def holdout_test(
    baskets: SparkBaskets,
    *,
    min_support: float | str | Fraction,
    min_confidence: float | str | Fraction,
    max_len: int | None = None,
    fdr: float = 0.05,
    seed: int = 0,
) -> Significance:
    """``core.learning.significance.holdout_test`` on Spark: the same split of the baskets
    (the core's seeded shuffle of their positions), the exploratory half mined on Spark, the
    rules counted in the holdout half on Spark."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    if not 0 < fdr < 1:
        raise MiningError("fdr", f"must be between 0 and 1 (exclusive), got {fdr}")
    if baskets.n < 4:
        raise MiningError("transactions", "at least 4 baskets are needed to test rules")
    order = list(range(baskets.n))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    explored = np.zeros(baskets.n, dtype=bool)
    explored[order[:half]] = True
    spark = baskets.frame.sparkSession
    halves = spark.createDataFrame(
        pa.table({"position": pa.array(np.arange(baskets.n, dtype=np.int64)),
                  "explore": pa.array(explored)})
    )  # fmt: skip
    split = baskets.frame.join(F.broadcast(halves), "position").cache()
    try:
        explore = SparkBaskets(split.where("explore").select("position", "items"), half, "")
        found = mine(explore, min_support=min_support, min_confidence=min_confidence,
                     max_len=max_len)  # fmt: skip
        rules = [(r.antecedent, r.consequent) for r in found.rules]
        if not rules:
            return Significance(fdr, {}, {})
        wanted = sorted({s for a, c in rules for s in ((*a, c), a, (c,))})
        holdout = split.where(~F.col("explore")).select("position", "items")
        counts = dict(zip(wanted, _counts(holdout, wanted), strict=True))
    finally:
        split.unpersist()
    key = {s: tuple(sorted(s)) for s in wanted}  # a set's count whatever its items' order
    by_set = {key[s]: counts[s] for s in wanted}
    both = np.array([by_set[tuple(sorted((*a, c)))] for a, c in rules], dtype=np.int64)
    left = np.array([by_set[tuple(sorted(a))] for a, _ in rules], dtype=np.int64)
    right = np.array([by_set[(c,)] for _, c in rules], dtype=np.int64)
    p = fisher_greater(both, left, right, baskets.n - half)
    q = benjamini_hochberg(p)
    return Significance(
        fdr,
        dict(zip(rules, p.tolist(), strict=True)),
        dict(zip(rules, q.tolist(), strict=True)),
    )


def example_baskets(baskets: SparkBaskets, sets: Sequence[tuple[str, ...]]) -> Examples:
    """The first ``EXAMPLES`` baskets holding each of ``sets``, found in one Spark job; the
    ``Examples`` of the proposals (a set not asked for here has none)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    found: dict[tuple[str, ...], list[Sequence[str]]] = {}
    if sets:
        listed = list(dict.fromkeys(tuple(sorted(s)) for s in sets))
        holding = _holding(baskets.frame, _sets_frame(baskets.frame.sparkSession, listed))
        first = holding.withColumn(
            "rank", F.row_number().over(Window.partitionBy("set").orderBy("position"))
        ).where(F.col("rank") <= EXAMPLES)
        rows = first.join(baskets.frame, "position").select("set", "position", "items").collect()
        for row in sorted(rows, key=lambda r: (r["set"], r["position"])):
            found.setdefault(listed[row["set"]], []).append(tuple(row["items"]))

    def examples(items: tuple[str, ...]) -> list[Sequence[str]]:
        return found.get(tuple(sorted(items)), [])

    return examples
