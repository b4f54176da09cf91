"""The tamper-evident ledger: the sealer chains every ledger table, verification names the
first row a database superuser modified, deleted, inserted or reordered (triggers off), and
signed checkpoints catch a tail cut off or a chain rewritten with its rows."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from nextoffer.core.merkle import chunk_root, inclusion_path, root
from nextoffer.service.archive import service as archive
from nextoffer.service.chain import repository, service
from nextoffer.service.db import Database
from nextoffer.service.errors import Conflict, NotFound
from nextoffer.service.ledger.repository import create_partitions
from nextoffer.service.tables import LEDGER_TABLES
from nextoffer.testing.postgres import ThrowawayPostgres, owner_url, superuser_url

from .test_ledger_chain_api import readme_verify_proof

AT = dt.datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=dt.UTC)
SEQS = (10, 20, 30, 40, 50, 60)  # the decisions' seq: a gap to insert a forged row into
NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def _fill(db: Database, seqs: tuple[int, ...] = SEQS, start: int = 0) -> None:
    """A row in every ledger table per seq (decisions at the given seq), as the service
    would write them, with fixed times."""
    with db.transaction() as s:
        if not db.is_sqlite:
            create_partitions(s, AT, AT)
        # as SQLAlchemy writes a time to SQLite (UTC, no zone)
        at: Any = AT.strftime("%Y-%m-%d %H:%M:%S.%f") if db.is_sqlite else AT
        for i, seq in enumerate(seqs, start):
            p = {"seq": seq, "i": i, "id": f"d-{i}", "c": f"c-{i}", "at": at,
                 "shown": f'["offer-{i}"]', "v": 1.5 + i}  # fmt: skip
            s.execute(sa.text(
                "INSERT INTO decisions (seq, id, customer_id, channel, snapshot_version, control,"
                " shown, request, decision, trace, occurred_at) VALUES (:seq, :id, :c, 'email',"
                " 'v1', false, :shown, '{\"b\": [1, 2.5], \"a\": \"ü\"}', '{\"placements\": []}',"
                " NULL, :at)"), p)  # fmt: skip
            s.execute(sa.text(
                "INSERT INTO events (seq, id, idempotency_key, type, customer_id, decision_id,"
                " value, payload, occurred_at) VALUES (:seq, :id, :id, 'convert', :c, :id, :v,"
                " '{}', :at)"), p)  # fmt: skip
            s.execute(sa.text("INSERT INTO audit (seq, action, actor, subject, details, occurred_at)"
                              " VALUES (:seq, 'approve', 'alice', :id, '{\"n\": 1}', :at)"), p)  # fmt: skip
            s.execute(sa.text("INSERT INTO erasures (seq, customer_id, reason, occurred_at)"
                              " VALUES (:seq, :c, 'request', :at)"), p)  # fmt: skip
            s.execute(sa.text(
                "INSERT INTO rule_revisions (rule_id, revision, trigger, text, offers, priority,"
                " description, author, reason, source, created_at) VALUES ('r', :i, '{}', 't',"
                " '[]', 1, '', 'alice', '', '{}', :at)"), p)  # fmt: skip
            s.execute(sa.text(
                "INSERT INTO journey_versions (journey_id, version, definition, author, reason,"
                " source, created_at) VALUES ('j', :i, '{}', 'alice', '', '{}', :at)"), p)  # fmt: skip
            s.execute(sa.text(
                "INSERT INTO journey_transitions (seq, journey_id, customer_id, n, version, kind,"
                " at, record, occurred_at) VALUES (:seq, 'j', :c, 0, 1, 'enter', :at, '{}', :at)"),
                p)  # fmt: skip


@contextmanager
def superuser(db: Database) -> Iterator[sa.Connection]:
    """A connection that edits the ledger as its database's superuser would: SQLite's
    triggers dropped, PostgreSQL's off (``session_replication_role``)."""
    admin = db if db.is_sqlite else Database(superuser_url(db.url))
    try:
        with admin.engine.connect() as conn:
            if db.is_sqlite:
                names = conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                )
                for (name,) in names.all():
                    conn.exec_driver_sql(f"DROP TRIGGER {name}")
            else:
                conn.exec_driver_sql("SET session_replication_role = replica")
            yield conn
            conn.commit()
    finally:
        if admin is not db:
            admin.dispose()


def _seal_all(db: Database) -> dict[str, int]:
    total: dict[str, int] = {}
    while done := service.seal(db):
        for ledger, n in done.items():
            total[ledger] = total.get(ledger, 0) + n
    return total


def _problems(result: service.Verification) -> list[tuple[str, int | None, str]]:
    return [(p.ledger, p.seq, p.kind) for p in result.problems]


@pytest.fixture
def key(tmp_path: Path) -> Any:
    service.generate_key(tmp_path / "signing.pem")
    return service.load_private_key(tmp_path / "signing.pem")


def test_the_sealer_chains_every_ledger_table_and_an_untouched_ledger_verifies(
    db: Database,
) -> None:
    _fill(db)
    assert _seal_all(db) == dict.fromkeys(LEDGER_TABLES, len(SEQS))
    assert service.seal(db) == {}  # nothing new: nothing sealed twice
    _fill(db, (70,), start=6)
    assert _seal_all(db) == dict.fromkeys(LEDGER_TABLES, 1)
    for readers in (service.READERS, 1):
        result = service.verify(db, readers=readers)
        assert result.problems == []
        assert {c.ledger: (c.sealed, c.rows, c.unsealed) for c in result.ledgers} == (
            dict.fromkeys(LEDGER_TABLES, (7, 7, 0))
        )
    with db.read() as s:
        top = repository.head(s, "decisions")
    assert top is not None
    assert top[:2] == (7, 70)


def test_rows_not_sealed_yet_are_counted_not_reported(db: Database) -> None:
    _fill(db, SEQS[:3])
    _seal_all(db)
    _fill(db, SEQS[3:], start=3)
    result = service.verify(db)
    assert result.problems == []
    assert {c.ledger: c.unsealed for c in result.ledgers} == dict.fromkeys(LEDGER_TABLES, 3)


def test_sealers_racing_each_other_and_the_writers_make_one_chain(db: Database) -> None:
    errors: list[BaseException] = []

    def sealer() -> None:
        try:
            for _ in range(15):
                service.seal(db, limit=3)
        except BaseException as exc:  # the test fails on any
            errors.append(exc)

    threads = [threading.Thread(target=sealer) for _ in range(3)]
    for t in threads:
        t.start()
    for batch in range(5):
        _fill(db, tuple(1000 + 10 * batch + k for k in range(4)), start=100 + 4 * batch)
    for t in threads:
        t.join()
    assert errors == []
    _seal_all(db)
    result = service.verify(db)
    assert result.problems == []
    assert all(c.sealed == c.rows == 20 for c in result.ledgers)


def _swap(conn: sa.Connection, table: str, a: int, b: int) -> None:
    """Exchange the contents (all but ``seq``) of two rows."""
    rows = {r["seq"]: dict(r) for r in conn.execute(
        sa.text(f"SELECT * FROM {table} WHERE seq IN (:a, :b)"), {"a": a, "b": b}).mappings()}  # fmt: skip
    columns = [c for c in rows[a] if c != "seq"]
    conn.execute(sa.text(f"UPDATE {table} SET id = 'swapping' WHERE seq = :a"), {"a": a})
    for here, there in ((b, a), (a, b)):
        sets = ", ".join(f"{c} = :{c}" for c in columns)
        values = {c: rows[there][c] for c in columns}
        for c, v in values.items():
            if isinstance(v, (dict, list)):  # PostgreSQL's JSONB comes back decoded
                values[c] = json.dumps(v)
        conn.execute(sa.text(f"UPDATE {table} SET {sets} WHERE seq = :seq"),
                     {**values, "seq": here})  # fmt: skip


EDITS = {
    "modified": ("UPDATE decisions SET channel = 'sms' WHERE seq = 30", ("decisions", 30)),
    "deleted": ("DELETE FROM decisions WHERE seq = 30", ("decisions", 30)),
    "inserted": (
        "INSERT INTO decisions (seq, id, channel, snapshot_version, control, shown, request,"
        " decision, occurred_at) SELECT 25, 'forged', channel, snapshot_version, control, shown,"
        " request, decision, occurred_at FROM decisions WHERE seq = 20",
        ("decisions", 25),
    ),
    "inserted before the first": (
        "INSERT INTO decisions (seq, id, channel, snapshot_version, control, shown, request,"
        " decision, occurred_at) SELECT 0, 'forged', channel, snapshot_version, control, shown,"
        " request, decision, occurred_at FROM decisions WHERE seq = 10",
        ("decisions", 0),
    ),
    "truncated tail": ("DELETE FROM decisions WHERE seq >= 50", ("decisions", 50)),
    "an event's value": ("UPDATE events SET value = 999 WHERE seq = 40", ("events", 40)),
    "an erasure deleted": ("DELETE FROM erasures WHERE seq = 10", ("erasures", 10)),
    "an audit row": ("UPDATE audit SET actor = 'mallory' WHERE seq = 60", ("audit", 60)),
    "a transition": ("UPDATE journey_transitions SET kind = 'exit' WHERE seq = 20",
                     ("journey_transitions", 20)),
    # keyed tables: named by their place in the chain (revision 2 is the 3rd sealed)
    "a rule revision": ("UPDATE rule_revisions SET author = 'mallory' WHERE revision = 2",
                        ("rule_revisions", 3)),
    "a journey version deleted": ("DELETE FROM journey_versions WHERE version = 4",
                                  ("journey_versions", 5)),
}  # fmt: skip
KINDS = {"modified": "modified", "deleted": "deleted", "inserted": "inserted",
         "inserted before the first": "inserted",
         "truncated tail": "deleted", "an event's value": "modified",
         "an erasure deleted": "deleted", "an audit row": "modified",
         "a transition": "modified", "a rule revision": "modified",
         "a journey version deleted": "deleted"}  # fmt: skip


@pytest.mark.parametrize("page", [service.PAGE, 2])
@pytest.mark.parametrize("edit", list(EDITS))
def test_verification_names_the_row_a_superuser_edited(
    db: Database, edit: str, page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole, and in pages of 2 entries (PostgreSQL checks each itself; the first it finds
    wrong is walked in Python to name the row)."""
    monkeypatch.setattr(service, "PAGE", page)
    _fill(db)
    _seal_all(db)
    statement, (ledger, seq) = EDITS[edit]
    with superuser(db) as conn:
        conn.exec_driver_sql(statement)
    result = service.verify(db)
    assert _problems(result) == [(ledger, seq, KINDS[edit])]
    assert f"{ledger}" in result.problems[0].message
    assert str(seq) in result.problems[0].message


def test_rows_swapped_are_reported_as_reordered(db: Database) -> None:
    _fill(db)
    _seal_all(db)
    with superuser(db) as conn:
        _swap(conn, "decisions", 20, 40)
    result = service.verify(db)
    assert _problems(result) == [("decisions", 20, "reordered")]
    assert "holds the row sealed at seq 40" in result.problems[0].message


def test_an_edited_chain_entry_is_named(db: Database) -> None:
    _fill(db)
    _seal_all(db)
    with superuser(db) as conn:
        conn.execute(sa.text("UPDATE ledger_chain SET digest = :d WHERE ledger = 'audit' AND"
                             " seq = 30"), {"d": bytes(32)})  # fmt: skip
    assert _problems(service.verify(db)) == [("audit", 30, "chain")]


@pytest.mark.parametrize("page", [service.PAGE, 2])
def test_checkpoints_are_signed_written_outside_and_catch_a_rewritten_chain(
    db: Database, key: Any, tmp_path: Path, page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "PAGE", page)
    folder = tmp_path / "checkpoints"
    assert service.checkpoint(db, key, NOW, folder) is None  # nothing sealed: nothing to sign
    _fill(db, SEQS[:4])
    _seal_all(db)
    first = service.checkpoint(db, key, NOW, folder)
    assert first is not None
    assert first.check(key.public_key())
    assert first.body["ledgers"]["decisions"] == {
        "size": 4, "last_seq": 40, "head": _hashes(db, "decisions")[-1].hex(),
        "root": root(_hashes(db, "decisions")).hex(),
    }  # fmt: skip
    assert service.checkpoint(db, key, NOW, folder) is None  # nothing new
    _fill(db, SEQS[4:], start=4)
    _seal_all(db)
    # due by rows or by time only
    assert service.checkpoint(db, key, NOW, folder, every_rows=100, every_seconds=60) is None
    second = service.checkpoint(db, key, NOW + dt.timedelta(seconds=61), folder, 100, 60)
    assert second is not None
    assert second.body["number"] == 2
    files = service.load_checkpoints(folder)
    assert [c.body["number"] for c in files] == [1, 2]
    assert service.verify(db, files, key.public_key()).problems == []

    # a superuser edits decision 20 and recomputes the chain from it: the chain agrees with
    # the rows again, only the signed roots do not
    with superuser(db) as conn:
        conn.exec_driver_sql("UPDATE decisions SET channel = 'sms' WHERE seq = 20")
        conn.exec_driver_sql("DELETE FROM ledger_chain WHERE ledger = 'decisions'")
    _seal_all(db)
    assert service.verify(db).problems == []  # without checkpoints, nothing to see
    result = service.verify(db, files, key.public_key())
    assert _problems(result) == [("decisions", 40, "checkpoint")]
    assert "entries 1..4 (seq 10..40) differ from signed checkpoint 1" in result.problems[0].message


def _hashes(db: Database, ledger: str) -> list[bytes]:
    with db.read() as s:
        top = repository.head(s, ledger)
        return list(repository.chain_hashes(s, ledger, 0, top[0] if top else 0))


def test_a_tail_cut_with_its_chain_is_caught_by_the_last_checkpoint(
    db: Database, key: Any, tmp_path: Path
) -> None:
    _fill(db)
    _seal_all(db)
    made = service.checkpoint(db, key, NOW, tmp_path)
    assert made is not None
    with superuser(db) as conn:
        conn.exec_driver_sql("DELETE FROM events WHERE seq >= 50")
        conn.exec_driver_sql("DELETE FROM ledger_chain WHERE ledger = 'events' AND seq >= 50")
    result = service.verify(db, service.load_checkpoints(tmp_path), key.public_key())
    assert _problems(result) == [("events", 60, "truncated")]
    assert (
        "the chain has 4 entries, checkpoint 1 signed 6 (up to seq 60)"
        in result.problems[0].message
    )


def test_a_forged_checkpoint_signature_is_reported(db: Database, key: Any, tmp_path: Path) -> None:
    _fill(db)
    _seal_all(db)
    service.checkpoint(db, key, NOW, tmp_path)
    path = tmp_path / "checkpoint-00000001.json"
    path.write_text(path.read_text().replace('\\"size\\":6', '\\"size\\":5'))
    result = service.verify(db, service.load_checkpoints(tmp_path), key.public_key())
    assert [(p.ledger, p.kind) for p in result.problems] == [("checkpoints", "signature")]


def _database_with(postgres: ThrowawayPostgres, settings: dict[str, str]) -> Database:
    """A new migrated database whose server-side defaults are ``settings`` (as an operator's
    ``ALTER DATABASE … SET`` would make them) for every role that connects."""
    url = postgres.new_database()
    admin = sa.create_engine(superuser_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        name = conn.exec_driver_sql("SELECT current_database()").scalar_one()
        for setting, value in settings.items():
            conn.exec_driver_sql(f"ALTER DATABASE {name} SET {setting} = '{value}'")
    admin.dispose()
    return Database(url)


@pytest.mark.postgres
def test_postgresqls_canonical_text_is_the_same_whatever_the_servers_settings(
    postgres: ThrowawayPostgres,
) -> None:
    """The server computes each row's digest from text whose times and floats depend on
    ``TimeZone`` and ``extra_float_digits``: the reading transaction sets both, so a
    database set otherwise (a float that needs 17 digits, a zone far from UTC) seals the
    same chain, and its own verification passes."""
    chains, texts = [], []
    for settings in ({}, {"TimeZone": "Asia/Kolkata", "extra_float_digits": "0",
                          "DateStyle": "SQL, DMY"}):  # fmt: skip
        db = _database_with(postgres, settings)
        _fill(db)
        with db.transaction() as s:
            s.execute(sa.text("INSERT INTO events (seq, id, idempotency_key, type, value, payload,"
                              " occurred_at) VALUES (99, 'e-float', 'e-float', 'convert',"
                              " 0.1 + 0.2, '{}', :at)"), {"at": AT})  # fmt: skip
        _seal_all(db)
        assert service.verify(db).problems == []
        chains.append({ledger: _hashes(db, ledger) for ledger in LEDGER_TABLES})
        with db.read() as s:
            texts.append(repository.decision_text(s, "d-0"))
        db.dispose()
    assert chains[0] == chains[1]
    assert all(len(h) == len(SEQS) + (ledger == "events") for ledger, h in chains[0].items())
    sealed = texts[0]
    assert sealed is not None
    assert sealed == texts[1]
    assert sealed.columns is not None
    assert "seq" not in sealed.columns
    values = json.loads(sealed.text)
    row = dict(zip(sealed.columns, values, strict=False))
    # the NULLs at the end are left out, the others kept; the time in UTC to the microsecond
    assert values[-1] is not None
    assert len(values) < len(sealed.columns)
    assert row["id"] == "d-0"
    assert row["trace"] is None
    assert row["occurred_at"] == "2026-03-02T10:00:00.123456+00:00"
    assert row["request"] == {"a": "ü", "b": [1, 2.5]}


@pytest.mark.postgres
def test_a_column_added_later_leaves_the_sealed_rows_verifying_and_a_value_there_is_caught(
    postgres: ThrowawayPostgres,
) -> None:
    """A migration that adds a column to a ledger table (the owner's ``ALTER TABLE … ADD
    COLUMN``) leaves every sealed row's text as it was: NULLs at the end are left out. A
    value written into it for a sealed row is a modification."""
    url = postgres.new_database()
    db = Database(url)
    _fill(db)
    _seal_all(db)
    owner = sa.create_engine(postgres.owner_url(url))
    with owner.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE events ADD COLUMN later text")
    owner.dispose()
    try:
        assert service.verify(db).problems == []
        with superuser(db) as conn:
            conn.exec_driver_sql("UPDATE events SET later = 'x' WHERE seq = 30")
        assert _problems(service.verify(db)) == [("events", 30, "modified")]
    finally:
        db.dispose()


def test_a_proof_waits_for_the_seal_and_the_checkpoint_then_checks(db: Database, key: Any) -> None:
    _fill(db)
    with db.read() as s, pytest.raises(NotFound, match="'nope'"):
        service.proof(s, "nope")
    with db.read() as s, pytest.raises(Conflict, match="not sealed yet"):
        service.proof(s, "d-2")
    _seal_all(db)
    with db.read() as s, pytest.raises(Conflict, match="in no checkpoint yet"):
        service.proof(s, "d-2")
    service.checkpoint(db, key, NOW)
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    for i in range(len(SEQS)):
        with db.read() as s:
            proof = service.proof(s, f"d-{i}")
        assert readme_verify_proof()(dict(proof), public)["customer_id"] == f"c-{i}"


@pytest.mark.postgres
def test_rows_of_archived_months_are_counted_and_a_deleted_row_after_them_is_still_named(
    postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    """``ledger archive`` detaches old months: their sealed rows are gone from the database
    and counted as archived, up to the newest seq the archive recorded. A row deleted after
    them (here the first one the database still holds) is a deletion, not an archive."""
    db = Database(postgres.new_database())
    january = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
    with db.transaction() as s:
        create_partitions(s, january, january)
        for seq in (1, 2, 3):
            s.execute(sa.text(
                "INSERT INTO decisions (seq, id, channel, snapshot_version, control, shown,"
                " request, decision, occurred_at) VALUES (:seq, :id, 'email', 'v1', false, '[]',"
                " '{}', '{}', :at)"), {"seq": seq, "id": f"jan-{seq}", "at": january})  # fmt: skip
    _fill(db)  # March: decisions at SEQS
    _seal_all(db)
    with superuser(db) as conn:  # the archive's audit row comes after the rows set by hand
        conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('audit', 'seq'), 1000)")
    owner = Database(owner_url(db.url))  # detaching partitions is the owner's
    try:
        archived = archive.archive(owner.transaction, dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
                                   tmp_path / "archive")  # fmt: skip
    finally:
        owner.dispose()
    assert "decisions_p2026_01" in {e["partition"] for e in archived}
    _seal_all(db)
    try:
        result = service.verify(db)
        assert result.problems == []
        (decisions,) = [c for c in result.ledgers if c.ledger == "decisions"]
        assert (decisions.archived, decisions.rows, decisions.first_checked) == (3, 6, SEQS[0])
        with superuser(db) as conn:
            conn.exec_driver_sql(f"DELETE FROM decisions WHERE seq = {SEQS[0]}")
        assert _problems(service.verify(db)) == [("decisions", SEQS[0], "deleted")]
    finally:
        db.dispose()


@pytest.mark.parametrize("sealed_before_chunks", [False, True])
def test_proofs_read_chunk_roots_the_sealer_keeps_and_match_the_full_trees_paths(
    db: Database, key: Any, monkeypatch: pytest.MonkeyPatch, sealed_before_chunks: bool
) -> None:
    """The sealer stores the root of every complete chunk with the entry that completes it
    (chunks of 4 here, seals of 3 rows: chunks cross seals); every decision's proof is the
    path ``inclusion_path`` computes from every hash, and verifies as the README does. A
    chain sealed before chunk roots were kept (revision 0021) proves the same, hashing the
    chunks' leaves instead."""
    seqs = tuple(range(10, 10 * 23, 10))  # 22 decisions: 5 full chunks and a partial one
    _fill(db, seqs)
    monkeypatch.setattr(service, "CHUNK", 10**9 if sealed_before_chunks else 4)
    while service.seal(db, limit=3):
        pass
    monkeypatch.setattr(service, "CHUNK", 4)
    hashes = _hashes(db, "decisions")
    with db.read() as s:
        kept = repository.chunk_roots(s, "decisions", len(hashes))
    expected = {n: chunk_root(hashes[n - 4 : n]) for n in range(4, len(hashes) + 1, 4)}
    assert kept == ({} if sealed_before_chunks else expected)
    service.checkpoint(db, key, NOW)
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    for i in range(len(seqs)):
        with db.read() as s:
            proof = service.proof(s, f"d-{i}")
        assert [bytes.fromhex(p) for p in proof["path"]] == inclusion_path(hashes, i)
        assert readme_verify_proof()(dict(proof), public)["id"] == f"d-{i}"


@pytest.mark.postgres
def test_a_verification_under_way_lets_the_next_months_partitions_be_made(
    postgres: ThrowawayPostgres,
) -> None:
    """Verification asks the ledger tables in short transactions (their newest seq, then
    the digests a page at a time): the partition keeper, which needs the partitioned
    table to itself, is not kept waiting while a long verification walks the chain."""
    db = Database(postgres.new_database())
    _fill(db)
    _seal_all(db)
    made: list[int] = []

    def meanwhile(ledger: str, done: int, total: int) -> None:
        if ledger == "decisions" and done == total and not made:  # the chain walked
            with db.transaction() as s:
                s.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
                next_month = dt.datetime(2027, 5, 1, tzinfo=dt.UTC)
                made.append(create_partitions(s, next_month, next_month))

    try:
        assert service.verify(db, progress=meanwhile).problems == []
        assert made == [3]  # decisions, events and journey transitions of May 2027
    finally:
        db.dispose()


@pytest.mark.postgres
def test_a_chain_sealed_before_the_server_computed_digests_still_verifies_and_proves(
    postgres: ThrowawayPostgres, key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before revision 0021 PostgreSQL's rows were sealed in ``core.chain.canonical``'s
    encoding, as SQLite's are. After the upgrade those entries still verify (their rows
    recomputed in Python, where the server's digest differs), new ones are sealed the
    server's way, an edit of an old row is still named, and an old decision's proof holds."""
    db = Database(postgres.new_database())
    _fill(db)  # seqs 10..60, sealed as before revision 0021
    with monkeypatch.context() as before:
        for name in ("row_digests", "keyed_digests"):
            before.setattr(repository, name, partial(getattr(repository, name), in_python=True))
        _seal_all(db)
    _fill(db, (70, 80), start=6)
    _seal_all(db)  # after the upgrade
    try:
        result = service.verify(db)
        assert result.problems == []
        assert {c.ledger: c.rows for c in result.ledgers} == dict.fromkeys(LEDGER_TABLES, 8)
        service.checkpoint(db, key, NOW)
        public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        for i in (0, 7):  # an old decision (its row an object) and a new one (an array)
            with db.read() as s:
                proof = service.proof(s, f"d-{i}")
            assert (proof["columns"] is None) == (i == 0)
            assert readme_verify_proof()(dict(proof), public)["id"] == f"d-{i}"
        with superuser(db) as conn:
            conn.exec_driver_sql("UPDATE decisions SET channel = 'sms' WHERE seq = 20")
            conn.exec_driver_sql("UPDATE rule_revisions SET author = 'mallory' WHERE revision = 1")
        assert _problems(service.verify(db)) == [("decisions", 20, "modified"),
                                                 ("rule_revisions", 2, "modified")]  # fmt: skip
    finally:
        db.dispose()


def test_rows_written_and_sealed_during_a_verification_are_counted_not_reported(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verification walks each chain up to the head it read first, a page at a time, each
    page's rows up to its last entry's seq: rows written and sealed while it walks are
    newer rows, not deleted or inserted ones (pages of 2 entries)."""
    _fill(db)
    _seal_all(db)
    monkeypatch.setattr(service, "PAGE", 2)
    written: list[str] = []

    def meanwhile(ledger: str, done: int, total: int) -> None:
        if ledger == "decisions" and not written:
            written.append(ledger)
            _fill(db, (70,), start=6)
            assert _seal_all(db)["decisions"] == 1

    result = service.verify(db, progress=meanwhile)
    assert written
    assert result.problems == []
    decisions = next(c for c in result.ledgers if c.ledger == "decisions")
    assert (decisions.sealed, decisions.rows, decisions.unsealed) == (6, 6, 1)
    assert service.verify(db).problems == []


@pytest.mark.postgres
def test_postgresql_checks_clean_pages_itself_and_only_a_wrong_one_is_walked_in_python(
    postgres: ThrowawayPostgres, key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No page of an untouched ledger is read into Python; a modified row's page is, and
    only it (pages of 2 entries: 3 a table)."""
    db = Database(postgres.new_database())
    monkeypatch.setattr(service, "PAGE", 2)
    walked: list[tuple[str, int, int]] = []
    page_rows = service._page_rows

    def counted(session: Any, ledger: str, after: int, upto: int) -> Any:
        walked.append((ledger, after, upto))
        return page_rows(session, ledger, after, upto)

    monkeypatch.setattr(service, "_page_rows", counted)
    try:
        _fill(db)
        _seal_all(db)
        service.checkpoint(db, key, NOW)
        checkpoints = service.stored_checkpoints(db)
        result = service.verify(db, checkpoints, key.public_key())
        assert result.problems == []
        assert walked == []
        assert all(c.rows == c.sealed == len(SEQS) for c in result.ledgers)
        with superuser(db) as conn:
            conn.exec_driver_sql("UPDATE events SET value = 999 WHERE seq = 40")
        result = service.verify(db, checkpoints, key.public_key())
        assert _problems(result) == [("events", 40, "modified")]
        assert walked == [("events", 2, 4)]
    finally:
        db.dispose()


def _without_heads(made: service.Checkpoint, key: Any) -> service.Checkpoint:
    """``made`` as a checkpoint signed before checkpoints carried their chains' heads."""
    body = made.body
    for tree in body["ledgers"].values():
        del tree["head"]
    signed = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return service.Checkpoint(signed, key.sign(signed.encode()).hex(), made.key_id)


@pytest.mark.parametrize("page", [service.PAGE, 2])
def test_checkpoints_signed_before_heads_are_checked_by_their_merkle_root(
    db: Database, key: Any, page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old checkpoint (a root, no head) at 4 entries and a new one at 6: both hold on an
    untouched ledger; a chain rewritten from decision 20 on is caught by the old one's
    root (the tree grown from every entry's hash), and from 50 on by the new one's head."""
    monkeypatch.setattr(service, "PAGE", page)
    _fill(db, SEQS[:4])
    _seal_all(db)
    old = service.checkpoint(db, key, NOW)
    assert old is not None
    _fill(db, SEQS[4:], start=4)
    _seal_all(db)
    new = service.checkpoint(db, key, NOW)
    assert new is not None
    both = [_without_heads(old, key), new]
    assert service.verify(db, both, key.public_key()).problems == []
    for seq, caught in (
        (50, ("decisions", 60, "checkpoint")),
        (20, ("decisions", 40, "checkpoint")),
    ):
        with superuser(db) as conn:
            conn.exec_driver_sql(f"UPDATE decisions SET channel = 'sms{seq}' WHERE seq = {seq}")
            conn.exec_driver_sql(
                f"DELETE FROM ledger_chain WHERE ledger = 'decisions' AND seq >= {seq}"
            )
        _seal_all(db)
        assert service.verify(db).problems == []  # the chain agrees with the rows again
        assert _problems(service.verify(db, both, key.public_key())) == [caught]
