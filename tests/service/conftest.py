"""Storage fixtures: every storage test runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nextoffer.service.db import Database
from nextoffer.service.migrate import upgrade
from nextoffer.testing.postgres import ThrowawayPostgres


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nextoffer.db'}"
    server: ThrowawayPostgres = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database)
    yield database
    database.dispose()
