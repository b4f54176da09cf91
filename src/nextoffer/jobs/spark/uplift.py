"""Uplift on Spark: bootstrap replicas fitted on the executors, and bulk CATE scoring.

Training (``spark_fits``) runs the core's learner unchanged: its bootstrap resamples are
drawn on the driver from the seeded generator, as locally, and each replica is fitted in
its own Spark task, so a model trained this way predicts what the local one predicts.

Scoring (``score_parquet``) gives a model file's estimates for every row of a Parquet data set.

The fitted model (its feature encoder, learner, bootstrap replicas and segment thresholds)
is broadcast to the executors, and each partition's Arrow batches are scored by the same
``UpliftModel.score`` as on the local path, row values read as the local reader reads them
(``to_pylist`` of Arrow columns): the estimates are the local ones, row for row (the default
learner is boosted trees, whose prediction of a row does not depend on the rows beside it).
The executors need nextoffer installed (the model's classes are nextoffer's).

The rows are checked on the driver first (the first rows scored there), so that a missing
or mistyped column is the local path's clear error rather than a failed Spark task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ...core.learning.uplift import Fits
from ..uplift import UpliftDataError, UpliftModel, check_score_columns

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

__all__ = ["score_parquet", "spark_fits"]

_CHECKED_ROWS = 100


def spark_fits(spark: SparkSession) -> Fits:
    """Bootstrap replicas fitted on Spark: one task per replica, each fitting its resample
    (drawn on the driver, in the core's order) with the same learner and seed as locally,
    so the replicas, and the intervals they give, are the local ones. Every task gets the
    training rows (they are one model's training set, which one machine holds)."""

    def fits(replica: Callable[[Any], Any], draws: list[Any]) -> list[Any]:
        if not draws:
            return []
        tasks = spark.sparkContext.parallelize(list(enumerate(draws)), len(draws))
        fitted = tasks.map(lambda task: (task[0], replica(task[1]))).collect()
        return [model for _, model in sorted(fitted, key=lambda pair: pair[0])]

    return fits


def _columns(batch: pa.RecordBatch | pa.Table) -> dict[str, list[object]]:
    return {name: batch.column(name).to_pylist() for name in batch.schema.names}


def score_parquet(
    spark: SparkSession,
    model: UpliftModel,
    data: str,
    out: str,
    *,
    treatment: str | None = None,
) -> int:
    """Score every row of the Parquet file or folder ``data`` into the Parquet folder ``out``
    (the rows, then ``cate`` [, ``cate_lower``, ``cate_upper``], ``base_rate`` and
    ``uplift_segment``); returns how many rows were written. ``treatment``: a column to
    leave out of the features."""
    import pyarrow as pa
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import AnalysisException

    try:
        frame = spark.read.parquet(data)
    except (AnalysisException, Py4JJavaError) as exc:
        raise UpliftDataError("--data", f"cannot read {data} as Parquet") from exc
    check_score_columns(frame.columns)
    first = frame.limit(_CHECKED_ROWS).toArrow()
    if first.num_rows == 0:
        raise UpliftDataError("--data", f"{data} has no rows")
    model.score({k: v for k, v in _columns(first).items() if k != treatment})  # raises clearly
    intervals = bool(model.learner.replicas_)
    added = [("cate", "double")]
    if intervals:
        added += [("cate_lower", "double"), ("cate_upper", "double")]
    added += [("base_rate", "double"), ("uplift_segment", "string")]
    schema = ", ".join([f"`{f.name}` {f.dataType.simpleString()}" for f in frame.schema.fields]
                       + [f"`{name}` {kind}" for name, kind in added])  # fmt: skip
    payload = spark.sparkContext.broadcast(model.dumps())

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        fitted = UpliftModel.loads(payload.value)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            scores = fitted.score({k: v for k, v in _columns(batch).items() if k != treatment})
            arrays = [*batch.columns, pa.array(scores.tau, pa.float64())]
            if intervals:
                assert scores.lower is not None
                assert scores.upper is not None
                arrays += [pa.array(scores.lower, pa.float64()),
                           pa.array(scores.upper, pa.float64())]  # fmt: skip
            arrays += [pa.array(scores.base_rate, pa.float64()),
                       pa.array(scores.segments, pa.string())]  # fmt: skip
            names = [*batch.schema.names, *(name for name, _ in added)]
            yield pa.RecordBatch.from_arrays(arrays, names=names)

    scored = frame.mapInArrow(score, schema)
    scored.write.mode("overwrite").parquet(out)
    payload.unpersist()
    return int(spark.read.parquet(out).count())
