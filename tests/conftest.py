from __future__ import annotations

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
