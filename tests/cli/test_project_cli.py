"""The command as a project tool: its version, and a database it never creates or replaces
behind the user's back (issue 17)."""

from __future__ import annotations

import json
import sqlite3
from importlib.metadata import version
from pathlib import Path

import pytest

from .test_rules_cli import run

NO_DATABASE = (
    "error: no database: 'nextoffer.db' does not exist (sqlite:///nextoffer.db). Run this in"
    " your project's folder, point NEXTOFFER_DATABASE_URL (or database_url in nextoffer.toml)"
    " at your database, or make one with `nextoffer migrate` (or `nextoffer demo`)"
)


def test_nextoffer_version_prints_the_installed_version() -> None:
    result = run("--version")
    assert (result.returncode, result.stdout) == (0, f"nextoffer {version('nextoffer')}\n")
    assert version("nextoffer") == "0.1.0"


@pytest.mark.parametrize(
    "args",
    [
        ("rules", "list", "--key", "nxo_x"),
        ("rules", "history", "some-rule", "--key", "nxo_x"),
        ("keys", "create", "--role", "client"),
        ("erase", "--due"),
        ("decide", "--request", "request.json"),
        ("attach-rates",),
        ("uplift", "score"),
        ("serve", "--port", "1"),
    ],
)
def test_a_command_run_outside_a_project_refuses_and_creates_no_database(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    (tmp_path / "request.json").write_text(
        json.dumps({"customer": {"id": "c"}, "channel": "email"})
    )
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert " ".join(result.stderr.split()) == NO_DATABASE
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["request.json"]


def test_migrate_creates_the_database_that_other_commands_then_use(tmp_path: Path) -> None:
    assert run("migrate", cwd=tmp_path).returncode == 0
    made = run("keys", "create", "--role", "client", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("nxo_")


def test_demo_refuses_to_replace_an_existing_database_unless_reset(tmp_path: Path) -> None:
    assert run("migrate", cwd=tmp_path).returncode == 0
    key = run("keys", "create", "--role", "admin", cwd=tmp_path).stdout.strip()
    before = (tmp_path / "nextoffer.db").read_bytes()
    refused = run("demo", "--no-serve", "--no-tour", "--decisions", "10", "--customers", "10",
                  cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 1
    assert " ".join(refused.stderr.split()) == (
        "error: ./nextoffer.db exists: the demo would replace it, and its approvals, keys and"
        " ledger with it. Run `nextoffer demo --reset` to start over, or `nextoffer serve` to"
        " serve it as it is"
    )
    assert refused.stdout == ""  # refused before any work
    assert (tmp_path / "nextoffer.db").read_bytes() == before
    assert run("rules", "list", "--key", key, cwd=tmp_path).returncode == 0  # the key still works
    reset = run("demo", "--no-serve", "--no-tour", "--decisions", "10", "--customers", "10",
                "--reset", cwd=tmp_path)  # fmt: skip
    assert reset.returncode == 0, reset.stderr
    assert "--reset: removed the existing ./nextoffer.db" in reset.stdout
    with sqlite3.connect(tmp_path / "nextoffer.db") as con:
        labels = [label for (label,) in con.execute("SELECT label FROM api_keys")]
    assert "demo admin" in labels
    assert "" not in labels


def test_demo_reset_never_deletes_a_configured_database(tmp_path: Path) -> None:
    (tmp_path / "nextoffer.toml").write_text(f'database_url = "sqlite:///{tmp_path / "mine.db"}"\n')
    result = run("demo", "--no-serve", "--no-tour", "--reset", cwd=tmp_path)
    assert result.returncode == 1
    assert "--reset: a configured database is never deleted by the demo" in result.stderr


def test_a_command_meeting_a_locked_database_says_so_without_a_traceback(tmp_path: Path) -> None:
    # the README's tour, run as written: `nextoffer rules propose` while `nextoffer uplift
    # train` held SQLite's write lock (for about a minute) printed a traceback
    assert run("migrate", cwd=tmp_path).returncode == 0
    holder = sqlite3.connect(tmp_path / "nextoffer.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process's write transaction
        result = run("keys", "create", "--role", "client", cwd=tmp_path)
    finally:
        holder.rollback()
        holder.close()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert " ".join(result.stderr.split()) == (
        "error: the database is locked: another process (the server, or a command such as"
        " `uplift train`) has held its write lock for more than 10 s. Nothing was written;"
        " run the command again when it is done"
    )
    assert result.stdout == ""
    with sqlite3.connect(tmp_path / "nextoffer.db") as con:
        assert con.execute("SELECT count(*) FROM api_keys").fetchone() == (0,)
    assert run("keys", "create", "--role", "client", cwd=tmp_path).returncode == 0
