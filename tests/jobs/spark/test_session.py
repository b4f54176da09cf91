from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from nextoffer.jobs.spark import session as spark_session_module
from nextoffer.jobs.spark.session import SparkUnavailable, spark_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def test_local_session_runs_a_job(spark: SparkSession) -> None:
    assert spark.sparkContext.master == "local[2]"
    df = spark.createDataFrame([(i, i % 3) for i in range(100)], "n long, k long")
    counts = {r["k"]: r["count"] for r in df.groupBy("k").count().collect()}
    assert counts == {0: 34, 1: 33, 2: 33}


def test_no_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    monkeypatch.setattr(spark_session_module, "find_java", lambda: None)
    with pytest.raises(SparkUnavailable, match=r"Spark needs Java.*install-java"):
        spark_session("local[1]")
