"""Uplift on Spark: replicas fitted on executors and bulk scoring give the local estimates."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nextoffer.jobs.spark.uplift import score_parquet, spark_fits
from nextoffer.jobs.uplift import UpliftDataError, UpliftModel, fit_model, split_columns

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _customers(n: int, seed: int) -> dict[str, list[object]]:
    """E-mail that works on the young (+0.25) and not on the rest."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    arm = np.where(rng.random(n) < 0.5, "mail", "none")
    p = 0.1 + 0.25 * ((arm == "mail") & (age < 35))
    return {"age": age.tolist(), "region": rng.choice(["north", "south"], n).tolist(),
            "arm": arm.tolist(), "bought": (rng.random(n) < p).astype(int).tolist()}  # fmt: skip


@pytest.fixture(scope="module")
def model() -> UpliftModel:
    columns = _customers(1500, 0)
    features, t, y, _ = split_columns(columns, "arm", "bought", treated="mail", control="none")
    assert y is not None
    return fit_model(features, t, y, method="t-learner", n_bootstrap=3, seed=5)


def test_spark_scores_are_the_local_scores(
    spark: SparkSession, model: UpliftModel, tmp_path: Path
) -> None:
    rows = _customers(2000, 1)
    data = tmp_path / "rows.parquet"
    pq.write_table(pa.table(rows), data)
    # several partitions, so that no partition sees every row
    spark.read.parquet(str(data)).repartition(3).write.parquet(str(tmp_path / "parts"))
    out = tmp_path / "scored.parquet"
    written = score_parquet(spark, model, str(tmp_path / "parts"), str(out), treatment="arm")
    assert written == 2000
    scored = pq.read_table(out).to_pydict()
    assert len(list(out.glob("part-*.parquet"))) >= 2
    features = {k: v for k, v in scored.items() if k in ("age", "region")}
    local = model.score(features)  # the same rows, in the order Spark wrote them
    assert scored["cate"] == local.tau.tolist()
    assert local.lower is not None
    assert local.upper is not None
    assert scored["cate_lower"] == local.lower.tolist()
    assert scored["cate_upper"] == local.upper.tolist()
    assert scored["base_rate"] == local.base_rate.tolist()
    assert scored["uplift_segment"] == local.segments
    young = np.mean([c for c, a in zip(scored["cate"], scored["age"], strict=True) if a < 35])
    assert young > 0.1  # the model found the effect: the comparison is not of two blanks
    assert sorted(zip(scored["age"], scored["region"], scored["arm"], strict=True)) == sorted(
        zip(rows["age"], rows["region"], rows["arm"], strict=True)
    )


def test_missing_feature_and_clashing_column_are_clear_errors(
    spark: SparkSession, model: UpliftModel, tmp_path: Path
) -> None:
    rows = _customers(50, 2)
    without = tmp_path / "without.parquet"
    pq.write_table(pa.table({"age": rows["age"]}), without)
    with pytest.raises(UpliftDataError, match="region"):
        score_parquet(spark, model, str(without), str(tmp_path / "a"))
    clash = tmp_path / "clash.parquet"
    pq.write_table(pa.table({**rows, "cate": [0.0] * 50}), clash)
    with pytest.raises(UpliftDataError, match="'cate'"):
        score_parquet(spark, model, str(clash), str(tmp_path / "b"), treatment="arm")
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("method", ["t-learner", "x-learner"])
def test_replicas_fitted_on_spark_are_the_local_ones(spark: SparkSession, method: str) -> None:
    columns = _customers(1200, 3)
    features, t, y, _ = split_columns(columns, "arm", "bought", treated="mail", control="none")
    assert y is not None
    local = fit_model(features, t, y, method=method, n_bootstrap=4, seed=11)
    on_spark = fit_model(features, t, y, method=method, n_bootstrap=4, seed=11,
                         fits=spark_fits(spark))  # fmt: skip
    rows = {k: v for k, v in _customers(300, 4).items() if k in ("age", "region")}
    want, got = local.score(rows), on_spark.score(rows)
    assert got.tau.tolist() == want.tau.tolist()
    assert want.lower is not None
    assert got.lower is not None
    assert got.lower.tolist() == want.lower.tolist()
    assert got.upper is not None
    assert want.upper is not None
    assert got.upper.tolist() == want.upper.tolist()
    assert len(on_spark.learner.replicas_) == 4
    # the replicas differ from each other (resamples), so their order had to be kept
    X = on_spark.encoder.transform(rows)
    draws = [r.predict(X).tolist() for r in on_spark.learner.replicas_]
    assert draws == [r.predict(X).tolist() for r in local.learner.replicas_]
    assert len({tuple(d) for d in draws}) == 4
