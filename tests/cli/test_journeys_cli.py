"""``nextoffer journeys list | show | report | simulate | propose | publish | reject |
restore`` end to end: the installed command on a project's SQLite file, the bank's catalog
published, with an author's, an approver's, an admin's and a client's key."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from nextoffer.scenarios import bank_snapshot, mortgage_journey
from nextoffer.service.db import Database
from nextoffer.service.journeys import service as journeys
from nextoffer.service.journeys.runner import Arrival, Runner
from nextoffer.service.keys.service import create_key
from nextoffer.service.migrate import upgrade
from nextoffer.service.snapshots.cache import SnapshotCache
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish
from nextoffer.service.tables import customers, decisions, enrollments, journey_transitions

from .test_rules_cli import run

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CUSTOMERS = 40


class Project:
    """A project's folder with its database and a key of each role."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.url = f"sqlite:///{where / 'nextoffer.db'}"
        self.keys: dict[str, str] = {}

    def __call__(self, *args: str | Path, role: str | None = None) -> Any:
        """``nextoffer journeys ARGS`` run in the folder, with the key of ``role``."""
        key = ("--key", self.keys[role]) if role else ()
        return run("journeys", *args, *key, cwd=self.where)

    def counts(self) -> dict[str, int]:
        db = Database(self.url)
        try:
            with db.read() as session:
                return {t.name: session.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                        for t in (decisions, journey_transitions, enrollments)}  # fmt: skip
        finally:
            db.dispose()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The bank's catalog published and 40 stored premium customers; the mortgage journey
    published (by ann, approved by bob) and moved by its runner over 40 days: every customer
    enters, a third click the lead a day later, the others get the reminder."""
    p = Project(tmp_path_factory.mktemp("journeys"))
    db = Database(p.url)
    upgrade(db)
    with db.transaction() as session:
        load_spec(session, bank_snapshot())
        publish(session, "bank-1")
        for role in ("author", "approver", "admin", "client"):
            p.keys[role] = create_key(session, role, f"{role} person")
        session.execute(sa.insert(customers), [
            {"id": f"c-{i}", "attributes": {"tier": "premium", "tenureMonths": 36,
             "hasCreditCard": False, "balance": 20000.0}, "holdings": ["checking"],
             "segments": [], "updated_at": T0} for i in range(CUSTOMERS)
        ])  # fmt: skip
        proposal = journeys.propose(session, "ann", mortgage_journey(), "the mortgage program")
        journeys.approve(session, "bob", proposal["id"], "looks right")
    runner = Runner(db, SnapshotCache(db), None, clock=lambda: T0)
    runner.enter_segment("mortgage", now=T0)
    with db.transaction() as session:
        clicks = [
            Arrival(f"c-{i}", "click", T0 + DAY, "mortgage-lead") for i in range(0, CUSTOMERS, 3)
        ]
        runner.on_events(session, clicks)
    for days in (8, 16, 20, 40):
        runner.tick(now=T0 + days * DAY)
    db.dispose()
    return p


def _definition(project: Project, name: str, journey_id: str, **changes: Any) -> Path:
    path = project.where / name
    document = {**mortgage_journey(), "id": journey_id, **changes}
    if path.suffix == ".json":
        path.write_text(json.dumps(document))
    else:
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_propose_publish_reject_and_restore_under_four_eyes(project: Project) -> None:
    first = _definition(project, "gov.yaml", "cli-gov")
    made = project("propose", first, "--reason", "a second program", role="author")
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert lines[0].endswith(" (open) for journey cli-gov")
    assert lines[1].startswith("  author:  author person (")
    proposal = lines[0].split()[1]
    assert f"nextoffer journeys publish {proposal}" in made.stdout
    listed = project("list", role="approver")
    assert proposal in listed.stdout
    assert "a second program" in listed.stdout
    # an author cannot publish; an admin who proposed cannot publish their own
    denied = project("publish", "cli-gov", role="author")
    assert denied.returncode == 1
    assert "this needs a key with role approver (or admin); yours is author" in denied.stderr
    own = project("propose", _definition(project, "own.json", "cli-gov", max_duration="60d"),
                  "--json", role="admin")  # fmt: skip
    assert own.returncode == 0, own.stderr
    own_id = json.loads(own.stdout)["id"]
    four_eyes = project("publish", own_id[:8], role="admin")
    assert four_eyes.returncode == 1
    assert "four eyes: a journey proposal cannot be published by its own author" in four_eyes.stderr
    # two open proposals: the journey's id does not say which; both are listed
    ambiguous = project("publish", "cli-gov", role="approver")
    assert ambiguous.returncode == 1
    assert "journey 'cli-gov' has 2 open proposals" in ambiguous.stderr
    assert proposal in ambiguous.stderr
    assert own_id in ambiguous.stderr
    assert "admin person" in ambiguous.stderr
    no_reason = project("reject", own_id[:8], role="approver")
    assert no_reason.returncode == 1
    assert "reason: a rejection needs a reason" in no_reason.stderr
    rejected = project("reject", own_id[:8], "--reason", "not now", role="approver")
    assert rejected.returncode == 0, rejected.stderr
    assert "(rejected) for journey cli-gov" in rejected.stdout
    assert "rejected by approver person (" in rejected.stdout
    # now the journey's id names its single open proposal
    published = project("publish", "cli-gov", "--reason", "go", role="approver")
    assert published.returncode == 0, published.stderr
    assert published.stdout.startswith(
        f"journey cli-gov: version 1 (proposal {proposal}) is live for new entries"
    )
    none_open = project("publish", "cli-gov", role="approver")
    assert none_open.returncode == 1
    assert "journey 'cli-gov' has no open proposal" in none_open.stderr
    second = project("propose", _definition(project, "gov2.json", "cli-gov", max_duration="60d"),
                     role="author")  # fmt: skip
    assert second.returncode == 0, second.stderr
    v2 = project("publish", "cli-gov", "--json", role="approver")
    assert json.loads(v2.stdout)["version"] == 2
    restored = project("restore", "cli-gov", "1", "--reason", "back to 90 days", role="approver")
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith("journey cli-gov: version 3 (a copy of version 1) is live")
    missing = project("restore", "cli-gov", "9", role="approver")
    assert missing.returncode == 1
    assert "journey 'cli-gov' has no version 9" in missing.stderr
    shown = json.loads(project("show", "cli-gov", "--json", role="author").stdout)
    assert shown["live_version"] == 3
    assert [v["source"].get("restored_from") for v in shown["versions"]] == [None, None, 1]
    assert [p["status"] for p in shown["proposals"]] == ["approved", "rejected", "approved"]
    text = project("show", "cli-gov", role="author")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("journey cli-gov: version 3 is live (3 version(s))")
    assert "  goal:          conversions on mortgage\n" in text.stdout
    assert "restored from v1" in text.stdout
    assert "approved by approver person (" in text.stdout
    assert "Traceback" not in "".join(r.stderr for r in (denied, four_eyes, ambiguous, missing))


def test_a_definition_that_does_not_compile_names_each_field_and_nothing_is_stored(
    project: Project,
) -> None:
    broken = {**mortgage_journey(), "id": "cli-broken"}
    broken["steps"] = [dict(s) for s in broken["steps"]]
    broken["steps"][1]["next"] = "foo"
    broken["steps"][4]["offers"] = ["no-such-offer"]
    path = project.where / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    refused = project("propose", path, role="author")
    assert refused.returncode == 1
    assert "error: steps[1].next: unknown step 'foo' (steps: lead, wait_lead, " in refused.stderr
    assert "error: steps[4].offers[0]: unknown offer 'no-such-offer'" in refused.stderr
    assert "2 problem(s); nothing was proposed" in refused.stderr
    assert "Traceback" not in refused.stderr
    fields = project.where / "fields.json"
    fields.write_text(json.dumps({"id": "cli-broken", "steps": 3, "holdout_share": 2}))
    named = project("propose", fields, role="author")
    assert named.returncode == 1
    for field in ("entry", "start", "steps", "max_duration", "holdout_share"):
        assert f"error: {field}: " in named.stderr
    # JSON in a file of another name is read by its content
    as_text = project.where / "definition.txt"
    as_text.write_text(json.dumps({**broken, "steps": mortgage_journey()["steps"]}))
    read = project("propose", as_text, "--json", role="author")
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["journey_id"] == "cli-broken"
    bad_json = project.where / "bad.json"
    bad_json.write_text('{"id": ')
    unreadable = project("propose", bad_json, role="author")
    assert unreadable.returncode == 1
    assert "invalid JSON at line 1" in unreadable.stderr
    listing = project.where / "list.yaml"
    listing.write_text("- a\n- b\n")
    not_a_mapping = project("propose", listing, role="author")
    assert "definition: expected a journey definition" in not_a_mapping.stderr
    absent = project("propose", project.where / "absent.yaml", role="author")
    assert absent.returncode == 1
    assert "no such file" in absent.stderr
    proposals = json.loads(project("list", "--json", role="author").stdout)["proposals"]
    assert [p["journey_id"] for p in proposals if p["journey_id"] == "cli-broken"] == ["cli-broken"]


def test_the_report_prints_the_funnel_and_writes_a_table_and_charts(project: Project) -> None:
    shown = project("report", "mortgage", "--out", "report.csv", "--charts", "charts",
                    role="approver")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    data = json.loads(project("report", "mortgage", "--json", role="approver").stdout)
    assert data["entered"] + data["holdout"] == CUSTOMERS
    assert data["exits"]["no_response"] > 0
    steps = {s["step"]: s for s in data["steps"]}
    assert steps["lead"]["entered"] == data["entered"]
    assert steps["no_response"]["exited"] == {"no_response": data["exits"]["no_response"]}
    assert steps["wait_lead"]["median_hours"] > 0
    text = shown.stdout
    assert text.startswith(f"journey mortgage: {data['entered']} entered, {data['holdout']} in "
                           "the holdout")  # fmt: skip
    row = next(line for line in text.splitlines() if line.startswith("│ no_response "))
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert cells[:6] == ["no_response", "exit", str(steps["no_response"]["entered"]), "0", "0",
                         f"no_response {data['exits']['no_response']}"]  # fmt: skip
    assert "entrants against the holdout" in text
    assert "wrote charts/funnel-mortgage.png" in text
    with (project.where / "report.csv").open() as f:
        rows = {r["step"]: r for r in csv.DictReader(f)}
    assert rows["lead"]["entered"] == str(data["entered"])
    assert rows["no_response"]["exited_by_reason"] == f"no_response={data['exits']['no_response']}"
    for chart in ("funnel-mortgage.png", "holdout-mortgage.png"):
        assert (project.where / "charts" / chart).stat().st_size > 1000
    as_json = project("report", "mortgage", "--out", "report.json", "--json", role="approver")
    assert json.loads(as_json.stdout) == json.loads((project.where / "report.json").read_text())
    assert "wrote the report to report.json" in as_json.stderr  # stdout stays JSON
    wrong = project("report", "mortgage", "--out", "report.txt", role="approver")
    assert wrong.returncode == 1
    assert "--out: expected a .csv or .json file" in wrong.stderr
    unknown = project("report", "no-such-journey", role="approver")
    assert unknown.returncode == 1
    assert "no journey 'no-such-journey'" in unknown.stderr


EVENTS = """\
customer:
  id: sim-lead
  attributes: {tier: premium, tenureMonths: 36, hasCreditCard: false, balance: 20000.0}
  holdings: [checking]
at: 2026-03-02T09:00:00Z
events:
  - {type: click, offer: mortgage-lead, at: 2026-03-03T09:00:00Z}
  - {type: request, channel: branch, at: 2026-03-04T09:00:00Z}
"""


def test_simulate_prints_the_path_and_the_decisions_and_writes_nothing(project: Project) -> None:
    events = project.where / "events.yaml"
    events.write_text(EVENTS)  # unquoted YAML times: read as times, sent as ISO text
    before = project.counts()
    shown = project("simulate", "mortgage", "--events", events, role="author")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(
        "journey mortgage v1: exited: appointment_offered (simulated: nothing was written)"
    )
    assert "│ 2026-03-04 09:00 UTC │ appointment │ branch  │ mortgage-appointment" in shown.stdout
    result = json.loads(project("simulate", "mortgage", "--events", events, "--json",
                                role="approver").stdout)  # fmt: skip
    moves = [(t["kind"], t["from_step"], t["to_step"]) for t in result["path"]]
    assert ("move", "appointment", "follow_up") in moves
    assert moves[-1] == ("exit", "offered", None)
    assert [d["step"] for d in result["decisions"]] == ["lead", "appointment"]
    assert project.counts() == before
    basic = project.where / "basic.yaml"
    basic.write_text(EVENTS.replace("tier: premium", "tier: basic"))
    never = project("simulate", "mortgage", "--events", basic, role="author")
    assert never.returncode == 0, never.stderr
    assert "does not meet the entry condition and never enters" in never.stdout
    later = project("simulate", "mortgage", "--events", events, "--version", "2", role="author")
    assert later.returncode == 1
    assert "journey 'mortgage' has no version 2" in later.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("at: 2026-03-03T09:00:00Z", "at: 2026-03-03T09:00:00"),
         "error: events[0].at: needs a time zone offset"),
        (("tenureMonths: 36", "tenureMonths: lots"),
         "error: customer.attributes.tenureMonths: expected int, got str 'lots'"),
        (("  id: sim-lead\n", ""), "error: customer.id: Field required"),
        (("type: click, ", ""), "error: events.0.type: Field required"),
    ],
)  # fmt: skip
def test_simulate_names_the_field_it_refuses(
    project: Project, change: tuple[str, str], message: str
) -> None:
    events = project.where / "wrong.yaml"
    events.write_text(EVENTS.replace(*change))
    refused = project("simulate", "mortgage", "--events", events, role="author")
    assert refused.returncode == 1
    assert message in refused.stderr
    assert "nothing was simulated" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_simulate_needs_a_journey_and_an_events_file(project: Project) -> None:
    events = project.where / "events.yaml"
    events.write_text(EVENTS)
    unknown = project("simulate", "no-such-journey", "--events", events, role="author")
    assert unknown.returncode == 1
    assert "journey 'no-such-journey' has no version (none is live)" in unknown.stderr
    absent = project("simulate", "mortgage", "--events", "absent.yaml", role="author")
    assert absent.returncode == 1
    assert "--events: no such file 'absent.yaml'" in absent.stderr
    scalar = project.where / "scalar.yaml"
    scalar.write_text("just text\n")
    assert "--events: expected a mapping" in project("simulate", "mortgage", "--events", scalar,
                                                     role="author").stderr  # fmt: skip


def test_every_command_needs_a_key_of_its_role(project: Project) -> None:
    nokey = project("list")
    assert nokey.returncode == 1
    assert "missing API key" in nokey.stderr
    client = project("show", "mortgage", role="client")
    assert client.returncode == 1
    assert (
        "this needs a key with role author or approver (or admin); yours is client" in client.stderr
    )
    approver = project("propose", _definition(project, "x.yaml", "cli-x"), role="approver")
    assert "this needs a key with role author (or admin); yours is approver" in approver.stderr
    author = project("restore", "mortgage", "1", role="author")
    assert "this needs a key with role approver (or admin); yours is author" in author.stderr
    listed = project("list", role="author")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("│ mortgage "))
    assert [c.strip() for c in row.split("│")[1:-1]][:4] == [
        "mortgage", "Mortgage lead to branch appointment", "v1", "1"
    ]  # fmt: skip
