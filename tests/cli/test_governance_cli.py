"""``nextoffer rules propose | list | approve | restore | history | diff | backtest`` on the demo shop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_rules_cli import run


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """The demo's database, with an author's and an approver's key."""
    where = tmp_path_factory.mktemp("governance")
    loaded = run("demo", "--no-serve", "--no-tour", "--decisions", "60", "--customers", "100",
                 cwd=where)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    author = run("keys", "create", "--role", "author", cwd=where).stdout.strip()
    approver = run("keys", "create", "--role", "approver", cwd=where).stdout.strip()
    return where, author, approver


def test_governance_from_the_command_line(shop: tuple[Path, str, str]) -> None:
    tmp_path, author, approver = shop
    proposal = tmp_path / "p.json"
    proposal.write_text(json.dumps({"rule_id": "dessert-coffee", "trigger": 'cart.has_category("dessert")',
                                    "offers": ["COFFEE-01"], "stats": {"support": 0.05, "confidence": 0.4, "lift": 1.8}}))  # fmt: skip
    made = run("rules", "propose", proposal, "--key", author, "--json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    pid = json.loads(made.stdout)["id"]
    listed = run("rules", "list", "--key", author, cwd=tmp_path)
    assert "dessert-coffee" in listed.stdout
    assert "1.8" in listed.stdout  # the lift
    # the author may not approve (role); the approver may
    denied = run("rules", "approve", pid[:8], "--key", author, cwd=tmp_path)
    assert denied.returncode == 1
    assert "role approver" in denied.stderr
    reviewed = run("rules", "review", pid[:8], "--key", approver, "--json", cwd=tmp_path)
    assert json.loads(reviewed.stdout)["backtest"]["requests"] > 0
    ok = run("rules", "approve", pid[:8], "--reason", "pairs well", "--key", approver, "--json",
             cwd=tmp_path)  # fmt: skip
    assert json.loads(ok.stdout)["revision"] == 1
    assert (
        json.loads(
            run(
                "rules", "restore", "dessert-coffee", "1", "--key", approver, "--json", cwd=tmp_path
            ).stdout
        )["revision"]
        == 2
    )
    history = json.loads(
        run("rules", "history", "dessert-coffee", "--key", approver, "--json", cwd=tmp_path).stdout
    )
    assert [a["action"] for a in history["audit"]] == ["propose", "approve", "restore"]
    diff = run("rules", "diff", "dessert-coffee", "1", "2", "--key", approver, cwd=tmp_path)
    assert diff.returncode == 0
    bt = run(
        "rules",
        "backtest",
        "dessert-coffee",
        "--revision",
        "1",
        "--key",
        approver,
        "--json",
        cwd=tmp_path,
    )
    assert "ev_change_per_request" in json.loads(bt.stdout)
    nokey = run("rules", "list", cwd=tmp_path)
    assert nokey.returncode == 1
    assert "missing API key" in nokey.stderr


def test_review_history_and_approve_print_what_a_person_reads(
    shop: tuple[Path, str, str],
) -> None:
    where, author, approver = shop
    proposal = where / "tea.json"
    proposal.write_text(json.dumps({"rule_id": "tea-biscuit", "trigger": 'cart.has_sku("TEA-01")',
                                    "offers": ["CROISSANT-01"], "priority": 55,
                                    "stats": {"support": 0.03, "confidence": 0.25, "lift": 1.4}}))  # fmt: skip
    made = run("rules", "propose", proposal, "--key", author, cwd=where)
    assert made.returncode == 0, made.stderr
    first = made.stdout.splitlines()[0]
    assert first.startswith("proposal ")
    assert first.endswith(" (open) for rule tea-biscuit")
    pid = first.split()[1]
    reviewed = run("rules", "review", pid[:8], "--key", approver, cwd=where)
    assert reviewed.returncode == 0, reviewed.stderr
    text = reviewed.stdout
    assert '  trigger:   cart.has_sku("TEA-01")\n' in text
    assert "  offers:    CROISSANT-01\n  priority:  55\n" in text
    assert "  stats:     support 0.03, confidence 0.25, lift 1.4\n" in text
    assert "backtest of tea-biscuit on the last 30 days:\n  requests replayed:  " in text
    assert "EV change/request:" in text
    assert "{" not in text  # not JSON
    approved = run("rules", "approve", pid[:8], "--reason", "tea → biscuit", "--key", approver,
                   cwd=where)  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith("rule tea-biscuit: revision 1 is live (snapshot v")
    history = run("rules", "history", "tea-biscuit", "--key", approver, cwd=where)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert lines[0] == "rule tea-biscuit: revision 1 is live"
    row = next(line for line in lines if "│ 1" in line)
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert cells[:6] == ["1", "live", 'cart.has_sku("TEA-01")', "CROISSANT-01", "55", cells[5]]
    assert cells[6] == "tea → biscuit"  # the approver's reason, as written
    assert [c.split("│")[2].strip() for c in lines if c.startswith("│ 20")][-2:] == [
        "propose", "approve"
    ]  # fmt: skip
    assert "\\u2192" not in history.stdout


def test_json_output_is_valid_json_with_real_utf8(shop: tuple[Path, str, str]) -> None:
    where, author, approver = shop
    proposal = where / "cake.json"
    proposal.write_text(json.dumps({"trigger": 'cart.has_category("cake")',
                                    "offers": ["COFFEE-01"], "description": "cake → coffee"}))  # fmt: skip
    made = run("rules", "propose", proposal, "--key", author, "--json", cwd=where)
    assert made.returncode == 0, made.stderr
    assert '"description": "cake → coffee"' in made.stdout
    assert "\\u2192" not in made.stdout
    pid = json.loads(made.stdout)["id"]
    approved = run("rules", "approve", pid[:8], "--reason", "ok → go", "--key", approver,
                   "--json", cwd=where)  # fmt: skip
    assert json.loads(approved.stdout)["live"] is True
    rule = json.loads(approved.stdout)["rule_id"]
    history = run("rules", "history", rule, "--key", approver, "--json", cwd=where)
    data = json.loads(history.stdout)
    assert data["revisions"][0]["description"] == "cake → coffee"
    assert "cake → coffee" in history.stdout
    assert "\\u2192" not in history.stdout


def test_history_and_review_name_people_by_their_key_label_with_the_id_beside_it(
    shop: tuple[Path, str, str],
) -> None:
    # the README's tour: `rules history` printed bare key ids (`03f1d9465d7c`), and an
    # approval's empty `edited` as "edited ,", although the API gives the labels
    where, _, _ = shop
    author = run("keys", "create", "--role", "author", "--label", "Ana Author", cwd=where)
    approver = run("keys", "create", "--role", "approver", "--label", "Bo Approver", cwd=where)
    author_key, approver_key = author.stdout.strip(), approver.stdout.strip()
    author_id, approver_id = author_key.split("_")[1], approver_key.split("_")[1]
    proposal = where / "label.json"
    proposal.write_text(json.dumps({"rule_id": "labelled", "trigger": 'cart.has_sku("TEA-01")',
                                    "offers": ["COFFEE-01"]}))  # fmt: skip
    made = run("rules", "propose", proposal, "--key", author_key, cwd=where)
    assert made.returncode == 0, made.stderr
    assert f"  author:    Ana Author ({author_id}), " in made.stdout
    assert "author_label" not in made.stdout
    pid = made.stdout.split()[1]
    approved = run("rules", "approve", pid[:8], "--key", approver_key, cwd=where)
    assert approved.returncode == 0, approved.stderr
    history = run("rules", "history", "labelled", "--key", approver_key, cwd=where)
    assert history.returncode == 0, history.stderr
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in history.stdout.splitlines()
            if line.startswith("│ 20")]  # fmt: skip
    assert [(row[1], row[2]) for row in rows] == [
        ("propose", f"Ana Author ({author_id})"),
        ("approve", f"Bo Approver ({approver_id})"),
    ]
    approve_details = rows[1][3]
    assert "edited ," not in approve_details
    assert approve_details.startswith(f"proposal {pid}, revision 1, ")
