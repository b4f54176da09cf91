"""``nextoffer experiments propose | show | start | stop | report | promote`` for strategy
experiments, end to end: the installed command on a project's SQLite file with the bank's
catalog published, decisions made by the service's decision path in between."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from nextoffer.core.decision import StrategyExperimentSpec, arm_of, assignment
from nextoffer.core.request import Request
from nextoffer.scenarios import bank_snapshot
from nextoffer.scenarios.demo import WORKED_EXAMPLE
from nextoffer.service.db import Database
from nextoffer.service.decisions import service as decisions
from nextoffer.service.keys.service import create_key
from nextoffer.service.migrate import upgrade
from nextoffer.service.snapshots import service as snapshots
from nextoffer.service.snapshots.cache import SnapshotCache
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.strategy_experiments.arms import ArmCache

from .test_rules_cli import run

DEFINITION = {
    "id": "email-no-uplift",
    "channels": ["email"],
    "arms": [
        {"name": "champion", "share": 0.5, "snapshot": "live"},
        {"name": "no-uplift", "share": 0.5, "strategy": {"scoring": {
            "strategy": "prie", "weights": {"propensity": 0.4, "relevance": 0.1, "impact": 0.3,
                                            "emphasis": 0.2, "uplift": 0.0}}}},
    ],
}  # fmt: skip


class Project:
    def __init__(self, where: Path) -> None:
        self.where = where
        self.url = f"sqlite:///{where / 'nextoffer.db'}"
        self.keys: dict[str, str] = {}

    def __call__(self, *args: str | Path, role: str | None = None) -> Any:
        key = ("--key", self.keys[role]) if role else ()
        return run("experiments", *args, *key, cwd=self.where)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    p = Project(tmp_path_factory.mktemp("experiments"))
    db = Database(p.url)
    upgrade(db)
    with db.transaction() as session:
        load_spec(session, bank_snapshot())
        snapshots.publish(session, "bank-1")
        for role in ("author", "approver", "admin", "client"):
            p.keys[role] = create_key(session, role, f"{role} person")
    db.dispose()
    return p


def decide_many(project: Project, n: int) -> Counter[str | None]:
    """``n`` customers decided on email by the decision path, with the running arms."""
    db = Database(project.url)
    cache = SnapshotCache(db)
    arms = ArmCache(db, cache)
    arms.refresh()
    got: Counter[str | None] = Counter()
    try:
        for i in range(n):
            body = {"customer": {"id": f"cli-{i}", "attributes": WORKED_EXAMPLE["attributes"],
                                 "holdings": WORKED_EXAMPLE["holdings"]}, "channel": "email"}  # fmt: skip
            decided = db.run(decisions.decide, cache, Request.model_validate(body), None, None,
                             None, None, arms)  # fmt: skip
            got[decided.get("arm", {}).get("name")] += 1
    finally:
        db.dispose()
    return got


def test_a_strategy_experiment_from_proposal_to_promotion(project: Project) -> None:
    bad = project.where / "bad.json"
    bad.write_text(json.dumps({**DEFINITION, "channels": ["fax"]}))
    refused = project("propose", bad, role="author")
    assert refused.returncode == 1
    assert "channels.0: unknown channel 'fax'" in refused.stderr
    good = project.where / "experiment.yaml"
    good.write_text(yaml.safe_dump(DEFINITION))
    made = project("propose", good, "--reason", "is uplift worth it?", role="author")
    assert made.returncode == 0, made.stderr
    assert "strategy experiment email-no-uplift: proposed on email" in made.stdout
    assert project("start", "email-no-uplift", role="author").returncode == 1  # not an approver
    started = project("start", "email-no-uplift", "--json", role="approver")
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["status"] == "running"

    counts = decide_many(project, 120)
    spec = StrategyExperimentSpec.model_validate(DEFINITION)
    expected: Counter[str | None] = Counter(
        None if assignment("bank-cross-sell-2026", f"cli-{i}") < 0.1
        else arm_of(spec, f"cli-{i}").name for i in range(120)
    )  # fmt: skip
    assert counts == expected

    report = project("report", "email-no-uplift", "--json", "--min-per-arm", "10",
                     "--charts", "charts")  # fmt: skip
    assert report.returncode == 0, report.stderr
    body = json.loads(report.stdout)
    arms = {a["arm"]: a for a in body["arms"]}
    assert arms["champion"]["decisions"] == expected["champion"]
    assert arms["no-uplift"]["decisions"] == expected["no-uplift"]
    assert body["control"]["decisions"] == expected[None]
    assert arms["no-uplift"]["against_champion"]["treatment"]["customers"] == expected["no-uplift"]
    for name in ("arms-email-no-uplift.png", "acceptance-email-no-uplift.png"):
        assert (project.where / "charts" / name).stat().st_size > 1000
    text = project("report", "email-no-uplift")
    assert text.returncode == 0, text.stderr
    assert "no-uplift (strategy)" in text.stdout
    assert "control (control)" in text.stdout
    listed = project("list")
    assert "email-no-uplift" in listed.stdout
    assert "running" in listed.stdout

    stopped = project("stop", "email-no-uplift", "--reason", "enough data", role="approver")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped by" in stopped.stdout
    assert decide_many(project, 5) == Counter({None: 5})  # stopped: nobody in an arm
    unknown = project("promote", "email-no-uplift", "--arm", "nope", "--reason", "x",
                      role="approver")  # fmt: skip
    assert unknown.returncode == 1
    assert "arm: no arm 'nope'" in unknown.stderr
    promoted = project("promote", "email-no-uplift", "--arm", "no-uplift", "--reason", "it won",
                       "--json", role="approver")  # fmt: skip
    assert promoted.returncode == 0, promoted.stderr
    done = json.loads(promoted.stdout)
    version = done["promoted_version"]
    assert done["promotion_reason"] == "it won"
    assert done["stopped_by"] == done["promoted_by"]  # stopped, then promoted: both kept
    shown = project("show", "email-no-uplift", role="author")
    assert "promoted no-uplift by " in shown.stdout
    assert ": it won; live in snapshot " in shown.stdout
    db = Database(project.url)
    try:
        with db.read() as session:
            live = snapshots.live_spec(session)
    finally:
        db.dispose()
    assert live is not None
    assert live["version"] == version
    email = next(c for c in live["channels"] if c["id"] == "email")
    assert email["scoring"]["weights"]["uplift"] == 0.0
    in_app = next(c for c in live["channels"] if c["id"] == "in_app")
    assert in_app["scoring"]["weights"]["uplift"] == 0.2  # only the experiment's channel
    # the catalog holds the promoted strategy too: the next catalog publish keeps it
    db = Database(project.url)
    try:
        with db.transaction() as session:
            again = snapshots.publish(session, actor="approver")
            assert "channels" not in again["took_live"]
            after = snapshots.live_spec(session)
    finally:
        db.dispose()
    assert after is not None
    email = next(c for c in after["channels"] if c["id"] == "email")
    assert email["scoring"]["weights"]["uplift"] == 0.0


def test_four_eyes_in_the_command_line(project: Project) -> None:
    path = project.where / "mine.json"
    path.write_text(json.dumps({**DEFINITION, "id": "own", "channels": ["branch"]}))
    assert project("propose", path, role="approver").returncode == 0
    refused = project("start", "own", role="approver")
    assert refused.returncode == 1
    assert "four eyes" in refused.stderr
    holdout = project("report", "nope-at-all")  # neither kind: the holdout report's message
    assert holdout.returncode == 1
    assert "no decisions in experiment 'nope-at-all'" in holdout.stderr
    as_json = project("report", "nope-at-all", "--json")
    assert as_json.returncode == 1
    assert "a holdout's report is written as JSON with --out FILE.json" in as_json.stderr
