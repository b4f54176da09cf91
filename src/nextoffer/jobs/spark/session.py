"""The Spark session a job runs in: the cluster's when launched by ``spark-submit``, else one
started here (``master``: ``local[2]``, ``spark://host:7077``, ``yarn`` …)."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.errors import NextofferError
from .java import PACKAGE, find_java

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["LOG_CONFIG", "THREAD_STACK", "SparkUnavailable", "master_problem", "spark_session"]

LOG_CONFIG = Path(__file__).with_name("log4j2.properties")
THREAD_STACK = "256m"


class SparkUnavailable(NextofferError):
    """PySpark or Java is missing: ``--engine spark`` cannot run here."""


# the master URLs Spark takes: local, local[4], local[*], local[4,2], local-cluster[2,1,1024],
# spark://host:7077 (a standalone cluster; several masters: host1:7077,host2:7077), yarn,
# k8s://https://host:443, mesos://host:5050
_MASTER = re.compile(
    r"local(\[(\*|[1-9]\d*)(,[1-9]\d*)?\])?|local-cluster\[[1-9]\d*,[1-9]\d*,[1-9]\d*\]"
    r"|spark://[^\s:/,]+:\d+(,[^\s:/,]+:\d+)*|yarn|k8s://\S+|mesos://\S+"
)


def master_problem(master: str) -> str | None:
    """What is wrong with a Spark master URL, None when Spark can take it."""
    if _MASTER.fullmatch(master):
        return None
    return (f"{master!r} is not a Spark master URL (local[2], local[*], spark://host:7077, "
            "yarn, k8s://https://host:443)")  # fmt: skip


def spark_session(master: str | None = None, conf: Mapping[str, str] | None = None) -> SparkSession:
    """The running session (``spark-submit`` made one) or a new one on ``master`` (PySpark's
    default, ``local[*]``, when None). Spark's own log says only errors unless ``conf`` sets
    ``spark.log.level``; in local mode it listens on loopback only and serves no web UI."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable(
            "engine", "PySpark is not installed: install nextoffer with the 'spark' extra"
        ) from None
    launched = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit started the JVM already
    if not launched and find_java() is None:
        raise SparkUnavailable(
            "engine",
            f"Spark needs Java and none was found: run ./scripts/install-java (Debian's "
            f"{PACKAGE}) or set JAVA_HOME",
        )
    builder = SparkSession.builder.appName("nextoffer")
    if master is not None:
        builder = builder.master(master)
    settings = {"spark.log.level": "ERROR", "spark.ui.showConsoleProgress": "false"}
    if not launched:  # the JVM starts here: its log, from the start, is errors only; and
        # deep stacks: MLlib's FP-trees of long baskets (Online Retail's, up to 1,110 items)
        # are (de)serialised recursively, which overflowed the default thread stack once
        settings["spark.driver.extraJavaOptions"] = (
            f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()} -Xss{THREAD_STACK}"
        )
        settings["spark.executor.extraJavaOptions"] = f"-Xss{THREAD_STACK}"
    if not launched and (master is None or master.startswith("local")):
        # one machine: Spark listens on loopback only, and no web UI is served
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings |= {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
                     "spark.ui.enabled": "false"}  # fmt: skip
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers: this Python
    settings |= dict(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
