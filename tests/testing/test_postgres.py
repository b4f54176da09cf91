import psycopg
import pytest

from nextoffer.testing.postgres import ThrowawayPostgres


def test_throwaway_server_is_real_postgres_on_loopback(postgres: ThrowawayPostgres) -> None:
    with psycopg.connect(postgres.dsn) as conn:
        version = conn.execute("show server_version_num").fetchone()
        assert version is not None
        assert int(version[0]) >= 150000
        addr = conn.execute("select inet_server_addr()::text").fetchone()
        assert addr is not None
        assert addr[0].startswith("127.0.0.1")
        conn.execute("create table t (id int primary key, v text)")
        conn.execute("insert into t values (1, 'a'), (2, 'b')")
        rows = conn.execute("select v from t order by id").fetchall()
        assert rows == [("a",), ("b",)]


def test_server_rejects_duplicate_key_like_a_real_database(postgres: ThrowawayPostgres) -> None:
    with psycopg.connect(postgres.dsn) as conn:
        conn.execute("create table u (id int primary key)")
        conn.execute("insert into u values (1)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("insert into u values (1)")
