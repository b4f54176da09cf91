"""``nextoffer mine`` end to end: real files in, rule files and proposals out, clear errors."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nextoffer.cli.mine import rule_columns, rule_row
from nextoffer.core.learning.mining import MinedRule
from nextoffer.core.learning.significance import Significance
from tests import data

from .test_rules_cli import run


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _groceries() -> Path:
    return data.path("groceries.csv")  # gzip-compressed: `mine` reads it as it decompresses


def test_mines_groceries_to_csv(tmp_path: Path) -> None:
    out = tmp_path / "rules.csv"
    done = run("mine", "--transactions", _groceries(), "--min-support", "0.006",
               "--min-confidence", "0.25", "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "9,835 baskets" in done.stdout
    assert "747 frequent itemsets" in done.stdout
    assert "463 rules" in done.stdout
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 463
    assert list(rows[0])[:6] == [
        "antecedent",
        "consequent",
        "support",
        "confidence",
        "lift",
        "count",
    ]
    plants = next(r for r in rows if r["antecedent"] == "pot plants")
    assert (plants["consequent"], plants["count"], float(plants["confidence"])) == (
        "whole milk",
        "68",
        0.4,
    )
    assert any(" & " in r["antecedent"] for r in rows)  # multi-item antecedents


def test_json_output_and_max_len(tmp_path: Path) -> None:
    out = tmp_path / "rules.json"
    done = run("mine", "--transactions", _groceries(), "--min-support", "0.001",
               "--min-confidence", "0.8", "--max-len", "3", "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    assert len(document["rules"]) == 29
    assert document["baskets"] == 9835
    assert all(len(r["antecedent"]) == 2 for r in document["rules"])


def test_line_items_with_cancellations_and_non_product_codes(tmp_path: Path) -> None:
    lines = tmp_path / "lines.csv"
    lines.write_text(
        "InvoiceNo,StockCode,Quantity,UnitPrice,InvoiceDate,CustomerID,Store\n"
        "1,A,1,2.5,2011-01-01,c1,s1\n1,B,2,1.0,2011-01-01,c1,s1\n1,POST,1,18,2011-01-01,c1,s1\n"
        "2,A,1,2.5,2011-01-02,c2,s1\n2,B,1,1.0,2011-01-02,c2,s1\n"
        "C3,A,-1,2.5,2011-01-03,c1,s1\nC3,B,-1,1.0,2011-01-03,c1,s1\n"
        "4,A,3,2.5,2011-01-04,c3,s2\n4,B,0,1.0,2011-01-04,c3,s2\n"
    )
    out = tmp_path / "rules.csv"
    done = run("mine", "--transactions", lines, "--min-support", "0.5", "--min-confidence", "0.5",
               "--cancel-prefix", "C", "--exclude", "POST", "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "3 baskets" in done.stdout
    assert "cancellation lines: 2" in done.stdout
    assert "excluded items: 1" in done.stdout
    assert "returned lines (quantity ≤ 0): 1" in done.stdout
    rows = _rows(out)
    assert {(r["antecedent"], r["consequent"], r["count"]) for r in rows} == {
        ("A", "B", "2"),
        ("B", "A", "2"),
    }


def test_parquet_line_items_and_baskets(tmp_path: Path) -> None:
    lines = tmp_path / "lines.parquet"
    pq.write_table(pa.table({"order_id": ["1", "1", "2", "2", "3"],
                             "sku": ["A", "B", "A", "B", "C"], "quantity": [1, 1, 2, 1, 1]}), lines)  # fmt: skip
    baskets = tmp_path / "baskets.parquet"
    pq.write_table(pa.table({"items": [["A", "B"], ["A", "B"], ["C"]]}), baskets)
    for path in (lines, baskets):
        out = tmp_path / f"{path.stem}.csv"
        done = run("mine", "--transactions", path, "--min-support", "0.5", "--min-confidence", "0.9",
                   "--out", out)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "3 baskets" in done.stdout
        assert len(_rows(out)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--transactions", "nope.csv"], "--transactions: no such file 'nope.csv'"),
        (
            ["--transactions", "{baskets}", "--min-support", "1.5"],
            "--min-support: must be between 0 and 1",
        ),
        (["--transactions", "{baskets}", "--min-support", "0"], "--min-support: must be above 0"),
        (
            ["--transactions", "{baskets}", "--max-len", "1"],
            "--max-len: a rule has at least 2 items",
        ),
        (
            ["--transactions", "{baskets}", "--out", "rules.txt"],
            "--out: expected a .csv or .json file",
        ),
        (["--transactions", "{baskets}", "--format", "xml"], "--format: expected one of"),
        (["--transactions", "{baskets}", "--format", "lines"], "names no order column"),
        (
            ["--transactions", "{baskets}", "--exclude-pattern", "("],
            "exclude_pattern: not a regular expression",
        ),
        (["--transactions", "{baskets}", "--ledger"], "either --transactions FILE or --ledger"),
        ([], "either --transactions FILE or --ledger"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, args: list[str], message: str) -> None:
    baskets = tmp_path / "baskets.csv"
    baskets.write_text("a,b\na,b,c\nc\n")
    done = run("mine", *[a.format(baskets=baskets) for a in args], cwd=tmp_path)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "rules.txt").exists()


def test_propose_stores_significant_rules_with_statistics(tmp_path: Path) -> None:
    assert (
        run(
            "demo",
            "--no-serve",
            "--no-tour",
            "--decisions",
            "20",
            "--customers",
            "100",
            cwd=tmp_path,
        ).returncode
        == 0
    )
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
    args = ("mine", "--transactions", "tickets.csv", "--min-support", "0.05",
            "--min-confidence", "0.5", "--propose")  # fmt: skip
    nokey = run(*args, cwd=tmp_path)
    assert nokey.returncode == 1
    assert "missing API key" in nokey.stderr
    done = run(*args, "--key", author, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # steak → red wine, also with bread, water or salad beside the steak
    assert (
        "4 proposals created, 0 updated, 4 skipped (no offer sells the consequent)" in done.stdout
    )
    listed = run("rules", "list", "--key", author, cwd=tmp_path)
    assert 'cart.has_sku("STEAK-01")' in listed.stdout
    again = run(*args, "--key", author, cwd=tmp_path)  # the same rule again: statistics updated
    assert "0 proposals created, 4 updated" in again.stdout


def test_the_demo_ledger_is_mined_and_its_attach_rates_listed(tmp_path: Path) -> None:
    demo = run(
        "demo", "--no-serve", "--no-tour", "--decisions", "400", "--customers", "200", cwd=tmp_path
    )
    assert demo.returncode == 0, demo.stderr
    assert "checkouts from the ledger" in demo.stdout
    out = tmp_path / "ledger-rules.json"
    mined = run("mine", "--ledger", "--min-support", "0.02", "--min-confidence", "0.2",
                "--out", out, cwd=tmp_path)  # fmt: skip
    assert mined.returncode == 0, mined.stderr
    # 200 checkouts (one basket each) and the bank's conversions, a basket per session
    baskets = int(mined.stdout.split(" baskets (ledger)")[0].replace(",", ""))
    assert baskets > 200
    rules = json.loads(out.read_text())["rules"]
    assert any(
        r["antecedent"] == ["STEAK-01"] and r["consequent"].startswith("RED-WINE") for r in rules
    )
    rates = run("attach-rates", "--refresh", "--level", "rule", "--out", "rates.csv", cwd=tmp_path)
    assert rates.returncode == 0, rates.stderr
    assert "no change" in rates.stdout  # the demo refreshed them already
    rows = _rows(tmp_path / "rates.csv")
    wine = next(r for r in rows if r["rule"] == "steak-red-wine" and r["offer"] == "RED-WINE-01")
    assert int(wine["shown"]) > 200  # the scenario's history and the demo's traffic
    assert wine["maturity"] in ("maturing", "mature")
    assert float(wine["low"]) < float(wine["p"]) < float(wine["high"])
    bad = run("attach-rates", "--level", "planet", cwd=tmp_path)
    assert bad.returncode == 1
    assert "--level: expected one of" in bad.stderr


@pytest.mark.parametrize("tested", [False, True])
def test_a_rule_row_gives_its_fields_in_the_order_of_the_columns(tested: bool) -> None:
    rule = MinedRule(("a", "b"), "c", count=4, antecedent_count=5, consequent_count=6, n=10)
    key = (rule.antecedent, rule.consequent)
    significance = Significance(0.05, {key: 0.01}, {key: 0.02}) if tested else None
    assert list(rule_row(rule, significance)) == rule_columns(significance)
