"""``nextoffer mine --engine spark`` end to end: the same files and proposals as the local path."""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests import data

from .test_rules_cli import run

SPARK = ("--engine", "spark", "--master", "local[2]")
pytestmark = pytest.mark.usefixtures("java")  # Spark's runtime, installed when absent


def test_groceries_on_spark_writes_the_local_rule_file(tmp_path: Path) -> None:
    export = run("export-baskets", "--transactions", data.path("groceries.csv"),
                 "--out", tmp_path / "groceries.parquet")  # fmt: skip
    assert export.returncode == 0, export.stderr
    assert "wrote 9,835 baskets" in export.stdout
    args = ("mine", "--transactions", tmp_path / "groceries.parquet", "--min-support", "0.006",
            "--min-confidence", "0.25")  # fmt: skip
    local = run(*args, "--out", tmp_path / "local.csv")
    assert local.returncode == 0, local.stderr
    spark = run(*args, *SPARK, "--out", tmp_path / "spark.csv")
    assert spark.returncode == 0, spark.stderr
    assert "9,835 baskets" in spark.stdout
    assert "747 frequent itemsets at ≥ 60 baskets, 463 rules" in spark.stdout
    assert "on Spark" in spark.stdout
    assert "Traceback" not in spark.stderr
    assert (tmp_path / "spark.csv").read_text() == (tmp_path / "local.csv").read_text()
    assert len((tmp_path / "spark.csv").read_text().splitlines()) == 464


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "cluster"], "--engine: expected one of local, spark"),
        (["--master", "local[2]"], "--master: only with --engine spark"),
        (
            ["--engine", "spark", "--master", "local[two]"],
            "--master: 'local[two]' is not a Spark master URL",
        ),
        ([*SPARK, "--format", "lines"], "the Spark engine reads baskets"),
        (["--transactions", "nope.parquet", *SPARK], "--transactions: no such file 'nope.parquet'"),
    ],
)
def test_bad_spark_options_are_clear_errors(tmp_path: Path, args: list[str], message: str) -> None:
    baskets = tmp_path / "baskets.csv"
    baskets.write_text("a,b\na,b,c\nc\n")
    given = args if "--transactions" in args else ["--transactions", str(baskets), *args]
    done = run("mine", *given, cwd=tmp_path)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_csv_is_not_parquet_to_spark(tmp_path: Path) -> None:
    baskets = tmp_path / "baskets.csv"
    baskets.write_text("a,b\na,b,c\nc\n")
    done = run("mine", "--transactions", baskets, *SPARK, cwd=tmp_path)
    assert done.returncode == 1
    assert "--transactions: cannot read" in done.stderr
    assert "as Parquet" in done.stderr
    assert "Traceback" not in done.stderr


def test_spark_proposals_and_ledger_mining_are_the_local_ones(tmp_path: Path) -> None:
    demo = run("demo", "--no-serve", "--no-tour", "--decisions", "200", "--customers", "100",
               cwd=tmp_path)  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    author = run("keys", "create", "--role", "author", cwd=tmp_path).stdout.strip()
    rng = random.Random(3)
    with (tmp_path / "tickets.csv").open("w") as f:
        for _ in range(600):
            basket = {item for item in ("BREAD", "WATER", "SALAD") if rng.random() < 0.3}
            if rng.random() < 0.3:
                basket.add("STEAK-01")
                if rng.random() < 0.7:
                    basket.add("RED-WINE-01")
            f.write(",".join(sorted(basket) or ["WATER"]) + "\n")
    export = run("export-baskets", "--transactions", "tickets.csv", "--out", "tickets.parquet",
                 cwd=tmp_path)  # fmt: skip
    assert export.returncode == 0, export.stderr
    args = ("mine", "--transactions", "tickets.parquet", "--min-support", "0.05",
            "--min-confidence", "0.5", "--propose", "--key", author)  # fmt: skip
    on_spark = run(*args, *SPARK, cwd=tmp_path)
    assert on_spark.returncode == 0, on_spark.stderr
    assert (
        "4 proposals created, 0 updated, 4 skipped (no offer sells the consequent)"
        in on_spark.stdout
    )
    listed = _stats(tmp_path)
    assert len(listed) == 4
    assert all(len(stats["examples"]) == 3 for _, stats in listed)  # type: ignore[arg-type]
    locally = run(*args, cwd=tmp_path)  # the same rules: updated, with the same statistics
    assert locally.returncode == 0, locally.stderr
    assert "0 proposals created, 4 updated" in locally.stdout
    tested = "8 rules tested on the holdout half; 8 significant at FDR 0.05"
    assert tested in on_spark.stdout
    assert tested in locally.stdout
    assert _stats(tmp_path) == listed  # the local path rewrote the Spark path's statistics
    # the ledger's checkouts, exported and mined on Spark, give the local file
    ledger = ("mine", "--ledger", "--min-support", "0.02", "--min-confidence", "0.2")
    local_rules = run(*ledger, "--out", "local.json", cwd=tmp_path)
    assert local_rules.returncode == 0, local_rules.stderr
    spark_rules = run(*ledger, *SPARK, "--out", "spark.json", cwd=tmp_path)
    assert spark_rules.returncode == 0, spark_rules.stderr
    assert " baskets (ledger)" in spark_rules.stdout
    mined = json.loads((tmp_path / "spark.json").read_text())
    assert mined == json.loads((tmp_path / "local.json").read_text())
    assert any(r["antecedent"] == ["STEAK-01"] for r in mined["rules"])


def _stats(folder: Path) -> list[tuple[str, dict[str, object]]]:
    """Each proposal's trigger and statistics (but the time mined), from the demo's database."""
    with contextlib.closing(sqlite3.connect(folder / "nextoffer.db")) as db:
        rows = db.execute("select text, stats from proposals").fetchall()
    return sorted(
        (text, {k: v for k, v in json.loads(stats).items() if k != "mined_at"})
        for text, stats in rows
    )


def test_spark_submit_runs_the_same_entry_point(tmp_path: Path) -> None:
    """What a cluster runs: ``spark-submit`` of ``nextoffer/__main__.py``, whose session is
    then spark-submit's (here ``local[2]``), writes the local path's rule file."""
    import nextoffer.__main__ as entry

    baskets = tmp_path / "baskets.parquet"
    assert run("export-baskets", "--transactions", data.path("groceries.csv"),
               "--out", baskets).returncode == 0  # fmt: skip
    rules = ("mine", "--transactions", str(baskets), "--min-support", "0.01",
             "--min-confidence", "0.3")  # fmt: skip
    assert run(*rules, "--out", tmp_path / "local.csv").returncode == 0
    submit = Path(sys.executable).with_name("spark-submit")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    done = subprocess.run(
        [str(submit), "--master", "local[2]", "--conf", "spark.ui.enabled=false",
         "--conf", "spark.driver.host=127.0.0.1", entry.__file__, *rules, "--engine", "spark",
         "--out", str(tmp_path / "submitted.csv")],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "on Spark" in done.stdout
    assert (tmp_path / "submitted.csv").read_text() == (tmp_path / "local.csv").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "b.csv", "--transactions", "{baskets}"], "--out: expected a .parquet file"),
        (["--out", "b.parquet"], "either --transactions FILE or --ledger"),
        (["--out", "b.parquet", "--transactions", "nope.csv"], "no such file 'nope.csv'"),
    ],
)
def test_export_baskets_bad_input_is_a_clear_error(
    tmp_path: Path, args: list[str], message: str
) -> None:
    baskets = tmp_path / "baskets.csv"
    baskets.write_text("a,b\na,b,c\nc\n")
    done = run("export-baskets", *[a.format(baskets=baskets) for a in args], cwd=tmp_path)
    assert done.returncode == 1
    assert message in done.stderr
    assert not (tmp_path / "b.csv").exists()
    assert not (tmp_path / "b.parquet").exists()


def test_export_baskets_reads_line_items_with_filters(tmp_path: Path) -> None:
    lines = tmp_path / "lines.csv"
    lines.write_text("InvoiceNo,StockCode,Quantity\n1,A,1\n1,B,1\n1,POST,1\nC2,A,-1\n3,B,2\n")
    done = run("export-baskets", "--transactions", lines, "--cancel-prefix", "C",
               "--exclude", "POST", "--out", tmp_path / "b.parquet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote 2 baskets" in done.stdout
    assert "cancellation lines: 1" in done.stdout
    table = pq.read_table(tmp_path / "b.parquet").to_pydict()
    assert table == {"position": [0, 1], "items": [["A", "B"], ["B"]]}
