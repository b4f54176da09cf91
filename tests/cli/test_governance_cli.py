"""``nextoffer rules propose | list | approve | restore | history | diff | backtest`` on the demo shop."""

from __future__ import annotations

import json
from pathlib import Path

from .test_rules_cli import run


def test_governance_from_the_command_line(tmp_path: Path) -> None:
    assert (
        run(
            "demo",
            "--no-serve",
            "--no-tour",
            "--decisions",
            "60",
            "--customers",
            "100",
            cwd=tmp_path,
        ).returncode
        == 0
    )
    author = run("keys", "create", "--role", "author", cwd=tmp_path).stdout.strip()
    approver = run("keys", "create", "--role", "approver", cwd=tmp_path).stdout.strip()
    proposal = tmp_path / "p.json"
    proposal.write_text(json.dumps({"rule_id": "dessert-coffee", "trigger": 'cart.has_category("dessert")',
                                    "offers": ["COFFEE-01"], "stats": {"support": 0.05, "confidence": 0.4, "lift": 1.8}}))  # fmt: skip
    made = run("rules", "propose", proposal, "--key", author, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    pid = json.loads(made.stdout)["id"]
    listed = run("rules", "list", "--key", author, cwd=tmp_path)
    assert "dessert-coffee" in listed.stdout
    assert "1.8" in listed.stdout  # the lift
    # the author may not approve (role); the approver may
    denied = run("rules", "approve", pid[:8], "--key", author, cwd=tmp_path)
    assert denied.returncode == 1
    assert "role approver" in denied.stderr
    reviewed = run("rules", "review", pid[:8], "--key", approver, cwd=tmp_path)
    assert json.loads(reviewed.stdout)["backtest"]["requests"] > 0
    ok = run("rules", "approve", pid[:8], "--reason", "pairs well", "--key", approver, cwd=tmp_path)
    assert json.loads(ok.stdout)["revision"] == 1
    assert (
        json.loads(
            run("rules", "restore", "dessert-coffee", "1", "--key", approver, cwd=tmp_path).stdout
        )["revision"]
        == 2
    )
    history = json.loads(
        run("rules", "history", "dessert-coffee", "--key", approver, cwd=tmp_path).stdout
    )
    assert [a["action"] for a in history["audit"]] == ["propose", "approve", "restore"]
    diff = run("rules", "diff", "dessert-coffee", "1", "2", "--key", approver, cwd=tmp_path)
    assert diff.returncode == 0
    bt = run(
        "rules", "backtest", "dessert-coffee", "--revision", "1", "--key", approver, cwd=tmp_path
    )
    assert "ev_change_per_request" in json.loads(bt.stdout)
    nokey = run("rules", "list", cwd=tmp_path)
    assert nokey.returncode == 1
    assert "missing API key" in nokey.stderr
