"""Mining on one machine against mining on Spark (``--engine spark``), on the same baskets.

Run: ``.venv/bin/python bench/spark_mining_bench.py [--file CSV] [--min-support 0.01]
[--min-confidence 0.5] [--master 'local[2]'] [--repeats 3]`` (on a quiet machine: the
numbers mean little while other work holds the cores).

Input: ``data/online_retail_baskets.csv.gz`` (25,900 invoices), read once as ``nextoffer
mine`` reads it and exported to Parquet (``write_baskets``, as ``nextoffer export-baskets``
writes it).

Measured, each the median of ``--repeats`` runs, in this one process:

- local: ``core.learning.mining.mine`` on the baskets in memory (the miner alone);
- Spark: ``jobs.spark.mining.read_baskets`` of the Parquet file and ``mine`` on it, in a
  Spark session started once before the clock (its start, a JVM's, is reported apart);
- Spark's first run apart (the JVM compiles its code as it goes).

Exit code 1 when the two results differ (itemsets, counts, rules or their order); the
times are reported, with no goal: on one machine Spark pays for its scheduling, shuffles and
the JVM, and its reason to exist is the history that one machine cannot hold.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=ROOT / "data" / "online_retail_baskets.csv.gz")
    parser.add_argument("--min-support", default="0.01")
    parser.add_argument("--min-confidence", default="0.5")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from nextoffer.core.learning.mining import mine
    from nextoffer.jobs.spark import mining as spark_mining
    from nextoffer.jobs.spark.session import spark_session
    from nextoffer.jobs.transactions import read_transactions, write_baskets

    data = read_transactions(args.file)
    thresholds = {"min_support": args.min_support, "min_confidence": args.min_confidence}
    local_times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        local = mine(data.baskets, **thresholds)
        local_times.append(time.perf_counter() - started)
    print(f"{len(data.baskets):,} baskets from {args.file.name}; min support "
          f"{args.min_support}, min confidence {args.min_confidence}: "
          f"{len(local.itemsets):,} itemsets, {len(local.rules):,} rules")  # fmt: skip
    print(f"local miner: median {statistics.median(local_times):.2f} s of {args.repeats}")

    with tempfile.TemporaryDirectory(prefix="nextoffer-bench-") as folder:
        path = str(Path(folder) / "baskets.parquet")
        write_baskets(data, path)
        started = time.perf_counter()
        spark = spark_session(args.master, {"spark.sql.shuffle.partitions": "8"})
        print(f"Spark session ({args.master}) started in {time.perf_counter() - started:.2f} s")
        spark_times = []
        try:
            for _ in range(args.repeats + 1):
                started = time.perf_counter()
                baskets = spark_mining.read_baskets(spark, path)
                got = spark_mining.mine(baskets, **thresholds)
                spark_times.append(time.perf_counter() - started)
                baskets.frame.unpersist()
                same = (got.itemsets == local.itemsets and got.rules == local.rules
                        and got.min_count == local.min_count)  # fmt: skip
                if not same:
                    print("DIFFERENT: Spark's result is not the local miner's")
                    sys.exit(1)
        finally:
            spark.stop()
    print(f"Spark (read + mine): first run {spark_times[0]:.2f} s, then median "
          f"{statistics.median(spark_times[1:]):.2f} s of {args.repeats}; the same "
          f"itemsets, counts and rules in the same order as the local miner")  # fmt: skip


if __name__ == "__main__":
    main()
