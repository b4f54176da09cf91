from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from nextoffer.jobs.spark.session import spark_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# small and quiet: two cores, a few shuffle partitions, no web UI, loopback only
TEST_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.memory": "1g",
    "spark.sql.session.timeZone": "UTC",
}


@pytest.fixture(scope="session")
def spark(java: Path) -> Iterator[SparkSession]:
    """A ``local[2]`` Spark session for the whole test session (Java installed when absent)."""
    session = spark_session("local[2]", TEST_CONF)
    yield session
    session.stop()
