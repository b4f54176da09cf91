from __future__ import annotations

import os

# scikit-learn's OpenMP threads spin while they wait: on a shared 2-core machine, with the
# test servers running beside them, two threads per fit made the learners' tests 5x slower
os.environ.setdefault("OMP_NUM_THREADS", "1")

from collections.abc import Iterator
from pathlib import Path

import pytest

from nextoffer.testing.postgres import ThrowawayPostgres

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    """A real PostgreSQL server on loopback for the whole test session."""
    with ThrowawayPostgres(database="nextoffer_test") as server:
        yield server
