"""``nextoffer campaign run`` end to end: the installed command on a project's SQLite file,
the bank's catalog published and 40 stored customers."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from nextoffer.scenarios import bank_snapshot
from nextoffer.service.db import Database
from nextoffer.service.migrate import upgrade
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish
from nextoffer.service.tables import customers, decisions
from tests.clock import NOW

from .test_rules_cli import run

CUSTOMERS = 40


def _decided(where: Path) -> list[Any]:
    db = Database(f"sqlite:///{where / 'nextoffer.db'}")
    try:
        with db.read() as session:
            return list(session.execute(sa.select(decisions.c.id, decisions.c.customer_id,
                                                  decisions.c.idempotency_key,
                                                  decisions.c.control)))  # fmt: skip
    finally:
        db.dispose()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    db = Database(f"sqlite:///{tmp_path / 'nextoffer.db'}")
    upgrade(db)
    with db.transaction() as session:
        load_spec(session, bank_snapshot())
        publish(session, "bank-1")
        session.execute(sa.insert(customers), [
            {"id": f"c-{i:02d}", "attributes": {"tier": "premium" if i % 2 == 0 else "basic",
             "tenureMonths": 36, "hasCreditCard": False, "balance": 20000.0},
             "holdings": ["checking"], "segments": [], "updated_at": NOW}
            for i in range(CUSTOMERS)
        ])  # fmt: skip
    db.dispose()
    return tmp_path


def test_a_segment_campaign_writes_a_parquet_send_list_and_a_rerun_decides_nobody(
    project: Path,
) -> None:
    args = ("campaign", "run", "--channel", "email", "--segment", 'customer.tier == "premium"',
            "--out", "sends.parquet", "--name", "spring")  # fmt: skip
    done = run(*args, cwd=project)
    assert done.returncode == 0, done.stderr
    assert "20 customers, 20 decided now, 0 decided before" in done.stdout
    table = pq.read_table(project / "sends.parquet").to_pylist()
    premium = [f"c-{i:02d}" for i in range(0, CUSTOMERS, 2)]
    assert [r["customer_id"] for r in table] == premium
    rows = {r.id: r for r in _decided(project)}
    assert len(rows) == 20
    for r in table:
        stored = rows[r["decision_id"]]
        assert stored.customer_id == r["customer_id"]
        assert stored.idempotency_key == f"campaign:spring:{r['customer_id']}"
        assert r["control"] == stored.control
        offers = r["offers:email-hero"] + r["offers:email-footer"]
        assert r["send"] == (not r["control"] and bool(offers))
        if r["control"]:
            assert offers == []
    again = run(*args, cwd=project)
    assert again.returncode == 0, again.stderr
    assert "20 customers, 0 decided now, 20 decided before" in again.stdout
    assert len(_decided(project)) == 20
    assert pq.read_table(project / "sends.parquet").to_pylist() == table


def test_a_list_campaign_from_a_csv_writes_a_csv_send_list(project: Path) -> None:
    (project / "list.csv").write_text("customer_id\nc-03\nc-01\nc-03\nc-04\n")
    done = run("campaign", "run", "--channel", "email", "--placements", "email-hero",
               "--customers", "list.csv", "--out", "sends.csv", cwd=project)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with (project / "sends.csv").open() as f:
        sent = list(csv.DictReader(f))
    assert [r["customer_id"] for r in sent] == ["c-03", "c-01", "c-04"]
    assert list(sent[0]) == ["campaign", "customer_id", "decision_id", "control", "send",
                             "offers:email-hero"]  # fmt: skip
    assert Counter(r.customer_id for r in _decided(project)) == Counter(["c-03", "c-01", "c-04"])


def test_a_parquet_list_is_read_by_its_customer_id_column(project: Path) -> None:
    pq.write_table(pa.table({"n": [1, 2], "customer_id": ["c-07", "c-08"]}),
                   project / "list.parquet")  # fmt: skip
    done = run("campaign", "run", "--channel", "email", "--customers", "list.parquet",
               cwd=project)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(r.customer_id for r in _decided(project)) == ["c-07", "c-08"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--channel", "fax", "--segment", "customer.tenureMonths > 1"),
         "--channel: unknown channel 'fax' (channels: branch, email, in_app)"),
        (("--channel", "email", "--placements", "banner", "--segment", "customer.tenureMonths > 1"),
         "--placements[0]: unknown placement 'banner' on channel 'email'"),
        (("--channel", "email", "--segment", "customer.shoeSize > 3"), "--segment: line 1, column 1"),
        (("--channel", "email", "--customers", "missing.csv"), "--customers: no such file"),
        (("--channel", "email", "--customers", "garbage.parquet"), "--customers: cannot read"),
        (("--channel", "email", "--customers", "list.txt"), "--customers: expected a .csv or .parquet"),
        (("--channel", "email", "--segment", "customer.tenureMonths > 1", "--out", "x.xlsx"),
         "--out: expected a .parquet or .csv file"),
        (("--channel", "email"), "give either --customers FILE or --segment CONDITION"),
        (("--channel", "email", "--segment", "customer.tenureMonths > 1", "--name", "a b"),
         "--name: 'a b'"),
        (("--channel", "email", "--segment", "customer.tenureMonths > 1", "--engine", "cluster"),
         "--engine: expected one of local, spark, got 'cluster'"),
        (("--channel", "email", "--segment", "customer.tenureMonths > 1", "--master", "local[2]"),
         "--master: only with --engine spark"),
        (("--channel", "email", "--segment", "customer.tenureMonths > 1", "--engine", "spark",
          "--master", "local[two]"), "--master: 'local[two]' is not a Spark master URL"),
        (("--channel", "email", "--segment", "customer.tenureMonths > 1", "--engine", "spark",
          "--master", "spark://no-port"), "--master: 'spark://no-port' is not a Spark master URL"),
        (("--channel", "email", "--segment", "customer.tenureMonths > 1", "--engine", "spark",
          "--workers", "2"), "--workers: only with --engine local"),
    ],
)  # fmt: skip
def test_bad_input_exits_1_naming_the_option_and_decides_nothing(
    project: Path, args: tuple[str, ...], message: str
) -> None:
    (project / "garbage.parquet").write_bytes(b"not parquet at all")
    (project / "list.txt").write_text("c-01\n")
    done = run("campaign", "run", *args, cwd=project)
    assert done.returncode == 1, done.stdout
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert _decided(project) == []


def _ledger_rows(where: Path) -> list[dict[str, Any]]:
    """The project's decisions in ledger order, but for the times of the run: the database's
    write time, the request's ``at`` (the run's clock) and a sampled trace's stage timings."""
    db = Database(f"sqlite:///{where / 'nextoffer.db'}")
    try:
        with db.read() as session:
            rows = [dict(r._mapping) for r in
                    session.execute(sa.select(decisions).order_by(decisions.c.seq))]  # fmt: skip
    finally:
        db.dispose()
    for row in rows:
        del row["occurred_at"]
        row["request"].pop("at")
        for stage in (row["trace"] or {}).get("stages", ()):
            stage.pop("micros", None)
    return rows


@pytest.mark.usefixtures("java")  # Spark's runtime, installed when absent
def test_a_campaign_on_spark_writes_the_local_rows_and_send_list(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    twin = tmp_path_factory.mktemp("twin")
    shutil.copyfile(project / "nextoffer.db", twin / "nextoffer.db")
    args = ("campaign", "run", "--channel", "email", "--segment", "customer.tenureMonths > 1",
            "--name", "spring", "--out", "sends.parquet")  # fmt: skip
    local = run(*args, cwd=project)
    assert local.returncode == 0, local.stderr
    on = run(*args, "--engine", "spark", "--master", "local[2]", cwd=twin)
    assert on.returncode == 0, on.stderr
    assert "Traceback" not in on.stderr
    assert "40 customers, 40 decided now, 0 decided before" in on.stdout
    assert "(decided on Spark)" in on.stdout
    sends = pq.read_table(twin / "sends.parquet").to_pylist()
    assert sends == pq.read_table(project / "sends.parquet").to_pylist()
    assert any(s["control"] for s in sends)
    assert any(s["send"] for s in sends)
    assert _ledger_rows(twin) == _ledger_rows(project)
    again = run(*args, "--engine", "spark", "--master", "local[2]", cwd=twin)
    assert again.returncode == 0, again.stderr
    assert "40 customers, 0 decided now, 40 decided before" in again.stdout
    assert pq.read_table(twin / "sends.parquet").to_pylist() == sends
    assert len(_ledger_rows(twin)) == 40
