"""``nextoffer uplift`` and ``nextoffer experiments``: files, the demo's ledger, bad input."""

from __future__ import annotations

import csv
import gzip
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import spearmanr

from nextoffer.core.learning.segments import SEGMENTS
from nextoffer.scenarios.demo import true_effect

from .test_rules_cli import run


def _synthetic(path: Path, n: int = 3000, seed: int = 0) -> None:
    """Customers whose e-mail works on the young (+0.25) and not on the rest."""
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["age", "region", "arm", "bought"])
        for _ in range(n):
            age = int(rng.integers(18, 80))
            arm = "mail" if rng.random() < 0.5 else "none"
            p = 0.1 + (0.25 if arm == "mail" and age < 35 else 0.0)
            w.writerow([age, rng.choice(["north", "south"]), arm, int(rng.random() < p)])


def test_train_and_score_a_file(tmp_path: Path) -> None:
    data = tmp_path / "mail.csv"
    _synthetic(data)
    trained = run("uplift", "train", "--data", data, "--treatment", "arm", "--treated", "mail",
                  "--control", "none", "--outcome", "bought", "--method", "t-learner",
                  "--model", tmp_path / "m.pkl", "--bootstrap", "5", "--charts", tmp_path / "c")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "Qini (nextoffer = scikit-uplift)" in trained.stdout
    assert "calibration by decile" in trained.stdout
    assert (tmp_path / "c" / "qini.png").stat().st_size > 1000
    scored = run("uplift", "score", "--model", tmp_path / "m.pkl", "--data", data,
                 "--treatment", "arm", "--out", tmp_path / "scored.csv")  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    with (tmp_path / "scored.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3000
    assert {"cate", "cate_lower", "cate_upper", "base_rate", "uplift_segment"} <= set(rows[0])
    young = np.mean([float(r["cate"]) for r in rows if int(r["age"]) < 35])
    old = np.mean([float(r["cate"]) for r in rows if int(r["age"]) >= 40])
    assert young > 0.15
    assert abs(old) < 0.06


def test_train_and_score_read_a_gzip_compressed_csv(tmp_path: Path) -> None:
    """As the shipped data/hillstrom.csv.gz is read: decompressed as it is read."""
    plain = tmp_path / "mail.csv"
    _synthetic(plain, n=1000)
    data = tmp_path / "mail.csv.gz"
    data.write_bytes(gzip.compress(plain.read_bytes()))
    trained = run("uplift", "train", "--data", data, "--treatment", "arm", "--treated", "mail",
                  "--control", "none", "--outcome", "bought", "--method", "t-learner",
                  "--model", tmp_path / "m.pkl")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    scored = run("uplift", "score", "--model", tmp_path / "m.pkl", "--data", data,
                 "--treatment", "arm", "--out", tmp_path / "scored.csv")  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    with (tmp_path / "scored.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 1000
    out = run("uplift", "score", "--model", tmp_path / "m.pkl", "--data", data,
              "--treatment", "arm", "--out", tmp_path / "scored.csv.gz")  # fmt: skip
    assert out.returncode == 1
    assert "--out: expected a .csv or .parquet file" in out.stderr


def test_uplift_score_never_overwrites_an_input_column(tmp_path: Path) -> None:
    # Hillstrom's treatment column is called `segment`, like the uplift segment once was
    data = tmp_path / "mail.csv"
    _synthetic(data, n=1000)
    data.write_text(data.read_text().replace("age,region,arm,bought", "age,region,segment,bought"))
    trained = run("uplift", "train", "--data", data, "--treatment", "segment", "--treated", "mail",
                  "--control", "none", "--outcome", "bought", "--method", "t-learner",
                  "--model", tmp_path / "m.pkl", "--bootstrap", "0")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    scored = run("uplift", "score", "--model", tmp_path / "m.pkl", "--data", data,
                 "--treatment", "segment", "--out", tmp_path / "scored.csv")  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    with data.open() as f:
        inputs = list(csv.DictReader(f))
    with (tmp_path / "scored.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["segment"] for r in rows] == [r["segment"] for r in inputs]  # mail / none, kept
    assert {r["uplift_segment"] for r in rows} <= set(SEGMENTS)
    # an input column with the name of an output column is refused, and nothing is written
    clash = tmp_path / "clash.csv"
    clash.write_text(
        data.read_text().replace("age,region,segment,bought", "age,region,segment,cate")
    )
    refused = run("uplift", "score", "--model", tmp_path / "m.pkl", "--data", clash,
                  "--treatment", "segment", "--out", tmp_path / "clash-scored.csv")  # fmt: skip
    assert refused.returncode == 1
    assert (
        "error: --data: the input already has column(s) 'cate', which the scores would overwrite"
        " (uplift score adds cate, cate_lower, cate_upper, base_rate, uplift_segment); rename"
        " them in the input" in " ".join(refused.stderr.split())
    )
    assert not (tmp_path / "clash-scored.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--treatment", "arm", "--outcome", "bought", "--model", "m.pkl"], "--treatment: values must be 0/1"),
        (["--treatment", "nope", "--outcome", "bought", "--model", "m.pkl"], "--treatment: no column 'nope'"),
        (["--treatment", "arm", "--treated", "mail", "--control", "none", "--outcome", "region",
          "--model", "m.pkl"], "--outcome: row 1"),
        (["--treatment", "arm", "--outcome", "bought"], "--model: where to write"),
        (["--treatment", "arm", "--outcome", "bought", "--model", "m.txt"], "--model: expected a .pkl"),
        (["--treatment", "arm", "--outcome", "bought", "--model", "m.pkl", "--method", "s"], "--method"),
        (["--treatment", "arm", "--outcome", "bought", "--model", "m.pkl", "--bootstrap", "1"], "--bootstrap"),
        (["--treatment", "arm", "--treated", "mail", "--control", "none", "--outcome", "bought",
          "--model", "m.pkl", "--propensity", "1.5"], "--propensity"),
        (["--treatment", "arm", "--outcome", "bought", "--model", "m.pkl", "--harm", "0.2"],
         "--harm: must not exceed --persuade"),
    ],
)  # fmt: skip
def test_bad_training_input_is_named(tmp_path: Path, args: list[str], message: str) -> None:
    data = tmp_path / "mail.csv"
    _synthetic(data, n=300)
    result = run("uplift", "train", "--data", data, *args, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.pkl").exists()


def test_scoring_needs_a_real_model_and_the_features(tmp_path: Path) -> None:
    data = tmp_path / "mail.csv"
    _synthetic(data, n=400)
    (tmp_path / "fake.pkl").write_bytes(b"not a model")
    fake = run("uplift", "score", "--model", tmp_path / "fake.pkl", "--data", data,
               "--out", tmp_path / "o.csv")  # fmt: skip
    assert fake.returncode == 1
    assert "not a nextoffer uplift model" in fake.stderr
    trained = run("uplift", "train", "--data", data, "--treatment", "arm", "--treated", "mail",
                  "--control", "none", "--outcome", "bought", "--model", tmp_path / "m.pkl",
                  "--bootstrap", "0")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "Qini (nextoffer = scikit-uplift)" in trained.stdout  # 400 rows: 30% held out
    (tmp_path / "less.csv").write_text("age,arm\n30,mail\n")
    missing = run("uplift", "score", "--model", tmp_path / "m.pkl", "--data", tmp_path / "less.csv",
                  "--out", tmp_path / "o.csv")  # fmt: skip
    assert missing.returncode == 1
    assert "region: the model needs this feature column" in missing.stderr
    assert not (tmp_path / "o.csv").exists()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The demo with its e-mail campaign to 3,000 bank customers: uplift learned from it."""
    where = tmp_path_factory.mktemp("demo")
    result = run("demo", "--no-serve", "--no-tour", "--decisions", "100", cwd=where)
    assert result.returncode == 0, result.stderr
    return where, result.stdout


def test_the_worked_example_comes_from_the_trained_model(demo: tuple[Path, str]) -> None:
    _, stdout = demo
    assert "uplift models learned from the simulated ledger" in stdout
    assert "demo-premium-36: learned τ against the simulator's truth" in stdout
    assert (
        "demo-premium-36 on email gets email-hero: credit-card; email-footer: savings-account"
        in stdout
    )


def test_the_learned_effects_rank_customers_like_the_simulators_truth(
    demo: tuple[Path, str],
) -> None:
    where, _ = demo
    con = sqlite3.connect(where / "nextoffer.db")
    customers = {
        cid: {"attributes": json.loads(a), "holdings": json.loads(h), "segments": json.loads(s)}
        for cid, a, h, s in con.execute("SELECT id, attributes, holdings, segments FROM customers")
    }
    for offer in ("savings-account", "credit-card"):
        rows = con.execute(
            "SELECT customer_id, tau FROM cate_estimates WHERE offer_id = ?", (offer,)
        ).fetchall()
        rows = [(cid, tau) for cid, tau in rows if cid in customers]  # not the shop's guests
        assert len(rows) == len(customers)  # every customer scored
        eligible = [
            (tau, true_effect(customers[cid], offer)[1])
            for cid, tau in rows
            if offer != "credit-card"
            or (customers[cid]["attributes"]["tier"] in ("premium", "gold")
                and not customers[cid]["attributes"]["hasCreditCard"])
        ]  # fmt: skip
        rho = spearmanr([e for e, _ in eligible], [t for _, t in eligible]).statistic
        assert rho > 0.5, (offer, rho)
    con.close()


def test_uplift_and_experiment_reports_from_the_demo_ledger(demo: tuple[Path, str]) -> None:
    where, _ = demo
    report = run("uplift", "report", "--out", "uplift.json", "--charts", "charts", cwd=where)
    assert report.returncode == 0, report.stderr
    body = json.loads((where / "uplift.json").read_text())
    offers = {o["offer"]: o for o in body["offers"]}
    assert set(offers) == {"credit-card", "savings-account"}
    assert offers["credit-card"]["evaluation"]["qini"]["nextoffer"] > 0
    # every bank customer, and the shop's guests scored on demand as they came
    assert sum(offers["credit-card"]["segments"].values()) >= 3001
    for name in ("qini-credit-card.png", "qini-savings-account.png", "segments.png"):
        assert (where / "charts" / name).stat().st_size > 1000
    listed = run("experiments", "list", cwd=where)
    assert "bank-cross-sell-2026" in listed.stdout
    exp = run("experiments", "report", "bank-cross-sell-2026", "--out", "exp.csv",
              "--charts", "charts", cwd=where)  # fmt: skip
    assert exp.returncode == 0, exp.stderr
    with (where / "exp.csv").open() as f:
        rows = {r["segment"]: r for r in csv.DictReader(f)}
    card = rows["credit-card"]
    assert int(card["control"]) >= 50
    assert card["insufficient_data"] == "False"
    assert float(card["lift_low"]) < float(card["absolute_lift"]) < float(card["lift_high"])
    assert (where / "charts" / "lift.png").stat().st_size > 1000
    unknown = run("experiments", "report", "nope", cwd=where)
    assert unknown.returncode == 1
    assert "no decisions in experiment 'nope'" in unknown.stderr
    bad = run("experiments", "report", "bank-cross-sell-2026", "--window-days", "0", cwd=where)
    assert bad.returncode == 1
    assert "--window-days: must be at least 1" in bad.stderr


def test_retraining_one_offer_from_the_ledger_and_rescoring(demo: tuple[Path, str]) -> None:
    where, _ = demo
    trained = run("uplift", "train", "--offer", "credit-card", "--method", "t-learner",
                  "--bootstrap", "0", cwd=where)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "credit-card@" in trained.stdout
    assert "scored 3,001" in trained.stdout
    few = run("uplift", "train", "--offer", "mortgage", cwd=where)
    assert few.returncode == 0
    assert "τ stays" in few.stdout
    scored = run("uplift", "score", cwd=where)
    assert scored.returncode == 0, scored.stderr
    assert "scored 6,002" in scored.stdout
    wrong = run("uplift", "train", "--treatment", "arm", cwd=where)
    assert wrong.returncode == 1
    assert "--treatment: only with --data" in wrong.stderr


def test_decide_uses_the_learned_tau_and_records_the_contact(demo: tuple[Path, str]) -> None:
    """The demo's e-mail explores (Thompson sampling, seeded by the decision's random id):
    the learned τ makes the card the likelier draw, the offer shown carries its τ, and the
    contact is recorded: a card shown is held back by its 72-hour cooldown next time."""
    where, _ = demo
    request = where / "r.json"
    request.write_text(json.dumps({"customer": {"id": "demo-premium-36"}, "channel": "email",
                                   "placements": ["email-hero"]}))  # fmt: skip

    def decide() -> dict[str, Any]:
        decided = run("decide", "--request", request, cwd=where)
        assert decided.returncode == 0, decided.stderr
        decision: dict[str, Any] = json.loads(decided.stdout)
        return decision

    def contacts() -> int:
        con = sqlite3.connect(where / "nextoffer.db")
        query = "SELECT count(*) FROM decisions WHERE customer_id = 'demo-premium-36'"
        n: int = con.execute(query).fetchone()[0]
        con.close()
        return n

    before = contacts()
    first = decide()
    (slot,) = first["exploration"]["slots"]
    chances = {c["offer"]: c["probability"] for c in slot["candidates"]}
    assert chances["credit-card"] > 0.5 > chances["savings-account"]  # about 0.76 and 0.24
    shown = first["placements"][0]["offers"][0]
    assert shown["offer"] == slot["offer"]
    assert shown["tau"] > 0 if shown["offer"] == "credit-card" else shown["tau"] < 0
    assert contacts() == before + 1  # recorded
    again = decide()
    offers = (
        {c["offer"] for c in again["exploration"]["slots"][0]["candidates"]}
        if again.get("exploration")
        else {o["offer"] for p in again["placements"] for o in p["offers"]}
    )
    if shown["offer"] == "credit-card":  # its cooldown holds: only savings is left
        assert offers == {"savings-account"}
        assert again["placements"][0]["offers"][0]["tau"] < 0
    else:  # savings has no cooldown: both are candidates again
        assert offers == {"savings-account", "credit-card"}


def test_the_mortgage_journeys_measured_effect_covers_the_simulators_truth(
    demo: tuple[Path, str],
) -> None:
    _, stdout = demo
    assert "the mortgage journey: customers per step" in stdout
    found = re.search(
        r"measured lift ([+-][\d.]+)% \(95% interval ([+-][\d.]+)% to ([+-][\d.]+)%, p = ([\d.]+)\);"
        r" the simulator's truth: ([+-][\d.]+)% per entrant",
        stdout,
    )
    assert found is not None, stdout
    lift, low, high, p, truth = (float(g) for g in found.groups())
    assert low <= lift <= high
    assert low <= truth <= high
    assert low > 0  # the journey's effect is seen against its holdout
    assert p < 0.05


def test_the_demo_evaluates_two_drafts_for_the_shop_next_to_their_truth(
    demo: tuple[Path, str],
) -> None:
    """The shop's point of sale explored epsilon-greedy; each draft's doubly robust interval
    (acceptance per offer shown, revenue per decision) covers the simulator's truth."""
    _, stdout = demo
    assert "draft 'PRIE instead of EV' on the shop's point of sale" in stdout
    assert "draft 'EV without exploration' on the shop's point of sale" in stdout
    number = r"(-?[\d.]+)"
    dr = re.findall(rf"│ dr +│ +{number} │ +\[{number}, {number}\] │ +{number} │ +\[{number}, "
                    rf"{number}\] │", stdout)  # fmt: skip
    truth = re.findall(rf"│ the draft's truth +│ +{number} │ +│ +{number} │", stdout)
    assert len(dr) == len(truth) == 2, stdout
    for (accepted, low, high, revenue, rlow, rhigh), (true_accepted, true_revenue) in zip(
        dr, truth, strict=True
    ):
        assert float(low) <= float(accepted) <= float(high)
        assert float(rlow) <= float(revenue) <= float(rhigh)
        assert float(low) <= float(true_accepted) <= float(high)
        assert float(rlow) <= float(true_revenue) <= float(rhigh)
    assert "on every logged slot the draft would choose as the live strategy did" in stdout


@pytest.mark.usefixtures("java")
def test_score_on_spark_gives_the_local_scores(tmp_path: Path) -> None:
    """``uplift score --engine spark``: a Parquet file scored on Spark (local[2]) into a
    Parquet folder, the same rows and estimates as the local command's file."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    data = tmp_path / "mail.csv"
    _synthetic(data, n=1200)
    rows = tmp_path / "mail.parquet"
    pq.write_table(pcsv.read_csv(data), rows)
    trained = run("uplift", "train", "--data", data, "--treatment", "arm", "--treated", "mail",
                  "--control", "none", "--outcome", "bought", "--method", "t-learner",
                  "--model", tmp_path / "m.pkl", "--bootstrap", "3")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    score = ("uplift", "score", "--model", tmp_path / "m.pkl", "--data", rows, "--treatment", "arm")
    local = run(*score, "--out", tmp_path / "local.parquet")
    assert local.returncode == 0, local.stderr
    spark = run(*score, "--engine", "spark", "--master", "local[2]",
                "--out", tmp_path / "spark.parquet")  # fmt: skip
    assert spark.returncode == 0, spark.stderr
    assert "scored 1,200 rows on Spark" in spark.stdout
    assert (tmp_path / "spark.parquet").is_dir()
    want = pq.read_table(tmp_path / "local.parquet").to_pylist()
    got = pq.read_table(tmp_path / "spark.parquet").to_pylist()
    assert got == want  # one input file, one partition: even the order is the same
    bad = run(*score, "--engine", "spark", "--out", tmp_path / "x.csv")
    assert bad.returncode == 1
    assert "--out: expected a .parquet folder with --engine spark" in bad.stderr
    nomaster = run(*score, "--master", "local[2]", "--out", tmp_path / "y.parquet")
    assert nomaster.returncode == 1
    assert "--master: only with --engine spark" in nomaster.stderr
    malformed = run(*score, "--engine", "spark", "--master", "spark://no-port",
                    "--out", tmp_path / "z.parquet")  # fmt: skip
    assert malformed.returncode == 1
    assert "--master: 'spark://no-port' is not a Spark master URL" in malformed.stderr
    assert not (tmp_path / "z.parquet").exists()


@pytest.mark.usefixtures("java")
def test_train_on_spark_gives_the_local_model(tmp_path: Path) -> None:
    """``uplift train --engine spark``: the bootstrap replicas fitted on Spark (local[2]); the
    model scores every row as the locally trained one does, intervals included."""
    data = tmp_path / "mail.csv"
    _synthetic(data, n=1000, seed=4)
    train = ("uplift", "train", "--data", data, "--treatment", "arm", "--treated", "mail",
             "--control", "none", "--outcome", "bought", "--method", "x-learner",
             "--propensity", "0.5", "--bootstrap", "4", "--seed", "9")  # fmt: skip
    local = run(*train, "--model", tmp_path / "local.pkl")
    assert local.returncode == 0, local.stderr
    spark = run(*train, "--engine", "spark", "--master", "local[2]",
                "--model", tmp_path / "spark.pkl")  # fmt: skip
    assert spark.returncode == 0, spark.stderr
    for name in ("local", "spark"):
        scored = run("uplift", "score", "--model", tmp_path / f"{name}.pkl", "--data", data,
                     "--treatment", "arm", "--out", tmp_path / f"{name}.csv")  # fmt: skip
        assert scored.returncode == 0, scored.stderr
    assert (tmp_path / "spark.csv").read_text() == (tmp_path / "local.csv").read_text()
    assert "cate_lower" in (tmp_path / "spark.csv").read_text().splitlines()[0]
    ledger = run("uplift", "train", "--engine", "spark", cwd=tmp_path)
    assert ledger.returncode == 1
    assert "--engine spark: only with --data" in ledger.stderr
