from __future__ import annotations

import os

# scikit-learn's OpenMP threads spin while they wait: on a shared 2-core machine, with the
# test servers running beside them, two threads per fit made the learners' tests 5x slower
os.environ.setdefault("OMP_NUM_THREADS", "1")

import datetime as dt
import random
import threading
import uuid
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


@pytest.fixture(autouse=True)
def seeded_ids(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random ids drawn in this process come from a generator seeded with the test's name.

    A decision's id seeds its exploration, so with ids from the operating system a test of
    what exploration chose could pass or fail by chance. Still unique within a test and
    across tests (each has its own name); processes a test starts draw their own.
    """
    rng, lock = random.Random(request.node.nodeid), threading.Lock()

    def uuid4() -> uuid.UUID:
        with lock:
            drawn = rng.randbytes(16)
        return uuid.UUID(bytes=drawn, version=4)

    monkeypatch.setattr(uuid, "uuid4", uuid4)


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    """A real PostgreSQL server on loopback for the whole test session."""
    with ThrowawayPostgres(database="nextoffer_test") as server:
        yield server


@pytest.fixture(scope="session")
def java() -> Path:
    """The Java runtime Spark needs (Debian's installed with apt when there is none)."""
    return ensure_java()
