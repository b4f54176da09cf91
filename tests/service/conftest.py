"""Storage fixtures: every storage test runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nextoffer.service.db import Database
from nextoffer.service.migrate import upgrade
from nextoffer.testing.postgres import ThrowawayPostgres

from .server import Server, load_catalog


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


@pytest.fixture
def owner_db(database_url: str, request: pytest.FixtureRequest) -> Iterator[Database]:
    """``db`` as the owner role on PostgreSQL, for the tests of the append-only triggers:
    the application role (``db``'s) is refused such statements before a trigger runs."""
    url = database_url
    if url.startswith("postgresql"):
        server: ThrowawayPostgres = request.getfixturevalue("postgres")
        url = server.owner_url(url)
    database = Database(url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A real ``nextoffer serve`` with the demo's catalog and rules, one per test module."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'api.db'}"
    else:
        pg: ThrowawayPostgres = request.getfixturevalue("postgres")
        url = pg.new_database("api")
    env = getattr(request.module, "SERVER_ENV", None)  # a module may set the server's environment
    srv = (Server(url, env=env) if env is not None else Server(url)).start()
    load_catalog(srv)
    yield srv
    srv.stop()
