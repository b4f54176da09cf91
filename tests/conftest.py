from __future__ import annotations

import os

# scikit-learn's OpenMP threads spin while they wait: on a shared 2-core machine, with the
# test servers running beside them, two threads per fit made the learners' tests 5x slower
os.environ.setdefault("OMP_NUM_THREADS", "1")

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from nextoffer.jobs.spark.java import ensure_java
from nextoffer.testing.postgres import ThrowawayPostgres

from .clock import INSTANTS


@pytest.fixture(params=list(INSTANTS.values()), ids=list(INSTANTS))
def instant(request: pytest.FixtureRequest) -> dt.datetime:
    """Each of the fixed instants in turn, for the tests whose answer depends on the time."""
    value: dt.datetime = request.param
    return value


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    """A real PostgreSQL server on loopback for the whole test session."""
    with ThrowawayPostgres(database="nextoffer_test") as server:
        yield server


@pytest.fixture(scope="session")
def java() -> Path:
    """The Java runtime Spark needs (Debian's installed with apt when there is none)."""
    return ensure_java()
