"""``nextoffer ledger archive`` and ``verify-archive``: whole old partitions to Parquet with a
manifest, detached only once written and checked; an archive re-read and checked."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from nextoffer.service.db import Database
from nextoffer.service.ledger import repository
from nextoffer.service.migrate import upgrade
from nextoffer.testing.postgres import ThrowawayPostgres, owner_url

from .test_rules_cli import NEXTOFFER

LEDGERS = ("decisions", "events", "journey_transitions")


def run(
    *args: str | Path, url: str | None = None, cwd: Path | None = None, owner: bool = True
) -> subprocess.CompletedProcess[str]:
    """The command with ``url`` as its database (the application role's, from the test
    server), and the owner role's URL beside it as a deployment has it (``owner``)."""
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("NEXTOFFER_DATABASE_URL", None)
    env.pop("NEXTOFFER_OWNER_DATABASE_URL", None)
    if url is not None:
        env["NEXTOFFER_DATABASE_URL"] = url
        if owner and url.startswith("postgresql"):
            env["NEXTOFFER_OWNER_DATABASE_URL"] = owner_url(url)
    return subprocess.run([str(NEXTOFFER), *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=cwd)  # fmt: skip


def _month(now: dt.datetime, back: int) -> dt.datetime:
    """The first day (00:00 UTC) of the month ``back`` months before ``now``'s."""
    index = now.year * 12 + now.month - 1 - back
    return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=dt.UTC)


def _insert(conn: sa.Connection, n: int, at: dt.datetime) -> None:
    params = {"n": n, "at": at, "id": f"x-{n}", "key": f"k-{n}"}
    conn.execute(sa.text("INSERT INTO events (id, idempotency_key, type, payload, occurred_at) "
                         "VALUES (:id, :key, 'click', '{\"n\": 1}', :at)"), params)  # fmt: skip
    conn.execute(sa.text("INSERT INTO decisions (id, channel, snapshot_version, control, shown,"
                         " request, decision, occurred_at) VALUES (:id, 'email', 'v1', false,"
                         " '[\"wine\"]', '{}', '{}', :at)"), params)  # fmt: skip
    conn.execute(sa.text("INSERT INTO journey_transitions (journey_id, customer_id, n, version,"
                         " kind, at, record, occurred_at) VALUES ('j', 'c', :n, 1, 'enter', :at,"
                         " '{}', :at)"), params)  # fmt: skip


@pytest.mark.postgres
def test_archive_writes_old_partitions_then_detaches_them_and_verify_checks_them(
    postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    url = postgres.new_database()
    db = Database(url)
    upgrade(db)
    now = dt.datetime.now(dt.UTC)
    old, older = _month(now, 2), _month(now, 3)
    with db.transaction() as session:
        repository.create_partitions(session, older, now)
    with db.engine.begin() as conn:
        for n, at in enumerate([older + dt.timedelta(days=1), older + dt.timedelta(days=2),
                                old + dt.timedelta(hours=5), now]):  # fmt: skip
            _insert(conn, n, at)
    folder = tmp_path / "archive"
    before = _month(now, 1)
    done = run("ledger", "archive", "--before", f"{before:%Y-%m-%d}", "--out", folder, url=url)
    assert done.returncode == 0, done.stderr
    assert f"archived 6 partitions before {before:%Y-%m-%d}" in done.stdout
    manifest = json.loads((folder / "manifest.json").read_text())
    entries = {e["partition"]: e for e in manifest["partitions"]}
    assert set(entries) == {f"{t}_p{m:%Y_%m}" for t in LEDGERS for m in (old, older)}
    events_older = entries[f"events_p{older:%Y_%m}"]
    assert (events_older["rows"], events_older["first_seq"], events_older["last_seq"]) == (2, 1, 2)
    table = pq.read_table(folder / events_older["file"])
    assert table.column("id").to_pylist() == ["x-0", "x-1"]
    assert [json.loads(p) for p in table.column("payload").to_pylist()] == [{"n": 1}, {"n": 1}]
    # the archived rows left the hot ledger; this month's stayed
    with db.engine.connect() as conn:
        for ledger in LEDGERS:
            assert conn.execute(sa.text(f"SELECT count(*) FROM {ledger}")).scalar_one() == 1
    with db.transaction() as session:
        attached = {p.name for p in repository.partitions(session)}
    assert not attached & set(entries)
    verified = run("ledger", "verify-archive", folder)
    assert verified.returncode == 0, verified.stderr
    assert "ok: 6 partitions, 9 rows" in verified.stdout
    # nothing more to archive: a second run detaches nothing
    again = run("ledger", "archive", "--before", f"{before:%Y-%m-%d}", "--out", folder, url=url)
    assert again.returncode == 0, again.stderr
    assert "nothing to archive" in again.stdout
    # a changed file and a manifest that lies are found
    with (folder / events_older["file"]).open("ab") as f:
        f.write(b"\0")
    entries[f"decisions_p{old:%Y_%m}"]["rows"] = 5
    (folder / "manifest.json").write_text(json.dumps(manifest))
    broken = run("ledger", "verify-archive", folder)
    assert broken.returncode == 1
    assert f"events/events_p{older:%Y_%m}.parquet: checksum differs" in broken.stdout
    assert f"decisions_p{old:%Y_%m}.parquet: 1 rows, the manifest says 5" in broken.stdout
    assert f"events_p{older:%Y_%m}.parquet: not readable as the ledger's Parquet" in broken.stdout
    assert "3 problems" in broken.stderr
    db.dispose()


@pytest.mark.parametrize(
    ("before", "said"),
    [("2026-13-01", "expected a date YYYY-MM-DD, got '2026-13-01'"),
     ("last month", "expected a date YYYY-MM-DD"), ("2999-01-01", "is in the future")],
)  # fmt: skip
def test_a_bad_before_date_is_a_clear_error_naming_it(
    tmp_path: Path, before: str, said: str
) -> None:
    done = run("ledger", "archive", "--before", before, cwd=tmp_path)
    assert done.returncode == 1
    assert "--before" in done.stderr
    assert said in done.stderr
    assert not (tmp_path / "ledger-archive").exists()


def test_archive_on_sqlite_says_the_ledger_is_not_partitioned(tmp_path: Path) -> None:
    assert run("migrate", cwd=tmp_path).returncode == 0
    done = run("ledger", "archive", "--before", "2020-01-01", cwd=tmp_path)
    assert done.returncode == 1
    assert "database: the ledger is partitioned only on PostgreSQL" in done.stderr


def test_verify_archive_of_a_folder_without_a_manifest_names_it(tmp_path: Path) -> None:
    done = run("ledger", "verify-archive", tmp_path)
    assert done.returncode == 1
    assert "DIR:" in done.stderr
    assert "no manifest.json" in done.stderr


@pytest.mark.postgres
def test_a_partition_whose_file_does_not_check_is_not_detached(
    postgres: ThrowawayPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nextoffer.service.archive import service

    db = Database(owner_url(postgres.new_database()))  # archiving is the owner's
    upgrade(db)
    now = dt.datetime.now(dt.UTC)
    old = _month(now, 2)
    with db.transaction() as session:
        repository.create_partitions(session, old, now)
    with db.engine.begin() as conn:
        _insert(conn, 0, old + dt.timedelta(days=3))
    monkeypatch.setattr(service, "_check", lambda folder, entry: ["a disk that lies"])
    with pytest.raises(RuntimeError, match="does not check: a disk that lies"):
        service.archive(db.transaction, _month(now, 1), tmp_path)
    with db.transaction() as session:
        attached = {p.name for p in repository.partitions(session)}
    assert f"decisions_p{old:%Y_%m}" in attached  # the first one tried: still in the ledger
    assert not (tmp_path / "manifest.json").exists()
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM decisions")).scalar_one() == 1
    db.dispose()


@pytest.mark.postgres
def test_every_command_makes_this_and_next_months_partitions_first(
    postgres: ThrowawayPostgres,
) -> None:
    url = postgres.new_database()
    db = Database(url)
    upgrade(db)
    now = dt.datetime.now(dt.UTC)
    after = _month(now, -1)
    owner = Database(owner_url(url))
    with owner.engine.begin() as conn:  # as if the month had turned with no server running
        for ledger in LEDGERS:
            conn.execute(sa.text(f"DROP TABLE {ledger}_p{after:%Y_%m}"))
    owner.dispose()
    done = run("migrate", url=url, owner=False)  # as the application role
    assert done.returncode == 0, done.stderr
    with db.transaction() as session:
        attached = {p.name for p in repository.partitions(session)}
    assert {f"{t}_p{m:%Y_%m}" for t in LEDGERS for m in (now, after)} <= attached
    db.dispose()


@pytest.mark.postgres
def test_archiving_as_the_application_role_alone_says_it_is_the_owners_work(
    postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    url = postgres.new_database()
    db = Database(url)
    now = dt.datetime.now(dt.UTC)
    old = _month(now, 2)
    with db.transaction() as session:
        repository.create_partitions(session, old, now)
    with db.engine.begin() as conn:
        _insert(conn, 0, old + dt.timedelta(days=3))
    folder = tmp_path / "archive"
    refused = run("ledger", "archive", "--before", f"{_month(now, 1):%Y-%m-%d}", "--out", folder,
                  url=url, owner=False)  # fmt: skip
    assert refused.returncode == 1
    assert "'nextoffer_app' may not detach" in refused.stderr
    assert "NEXTOFFER_OWNER_DATABASE_URL" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (folder / "manifest.json").exists()
    with db.transaction() as session:
        assert f"events_p{old:%Y_%m}" in {p.name for p in repository.partitions(session)}
    db.dispose()
