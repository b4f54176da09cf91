"""``--archive DIR`` on the learning jobs' commands (PostgreSQL): ``mine --ledger`` gives the
same rules after an archive as before it, and ``uplift train`` the same training set, each
saying what it read; without it, each says which archived months it did not read; a changed
file and a bad folder are refused, named.

The ledger is ``tests/service/test_archive_reading.py``'s: January to April 2025, January and
February archived."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nextoffer.service.db import Database
from nextoffer.service.migrate import upgrade
from nextoffer.testing.postgres import ThrowawayPostgres
from tests.service.test_archive_reading import _ledger

from .test_ledger_cli import run

MINE = ("mine", "--ledger", "--min-support", "0.05", "--min-confidence", "0.3")
TRAIN = ("uplift", "train", "--method", "t-learner", "--min-per-arm", "10", "--bootstrap", "0",
         "--lookback-days", "3000")  # fmt: skip


@pytest.mark.postgres
def test_mine_and_train_read_the_archive_and_say_what_they_did_not_read(
    postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    url = postgres.new_database()
    db = Database(url)
    upgrade(db)
    _ledger(db)
    db.dispose()
    before = run(*MINE, "--out", tmp_path / "before.json", url=url)
    assert before.returncode == 0, before.stderr
    assert "archived" not in before.stdout
    trained = run(*TRAIN, url=url)
    assert trained.returncode == 0, trained.stderr
    assert "│ card  │ 120     │ 120 " in trained.stdout
    folder = tmp_path / "archive"
    done = run("ledger", "archive", "--before", "2025-03-01", "--out", folder, url=url)
    assert done.returncode == 0, done.stderr

    again = run(*MINE, "--archive", folder, "--out", tmp_path / "again.json", url=url)
    assert again.returncode == 0, again.stderr
    assert f"read 2 archived partitions (2025-01, 2025-02) from {folder}" in again.stdout
    rules = json.loads((tmp_path / "before.json").read_text())
    assert json.loads((tmp_path / "again.json").read_text()) == rules
    assert rules["rules"]
    trained = run(*TRAIN, "--archive", folder, url=url)
    assert trained.returncode == 0, trained.stderr
    assert "│ card  │ 120     │ 120 " in trained.stdout
    assert "read 4 archived partitions (2025-01, 2025-02)" in trained.stdout

    hot = run(*MINE, "--out", tmp_path / "hot.json", url=url)
    assert hot.returncode == 0, hot.stderr
    assert ("note: 2 archived months (2025-01, 2025-02) not read: the hot ledger only; give "
            "--archive DIR to read them too") in hot.stdout  # fmt: skip
    assert json.loads((tmp_path / "hot.json").read_text())["baskets"] < rules["baskets"]
    trained = run(*TRAIN, url=url)
    assert "│ card  │ 60      │ 60 " in trained.stdout
    assert "note: 2 archived months (2025-01, 2025-02) not read" in trained.stdout

    # a changed file is refused, named, and nothing is mined
    file = folder / "events" / "events_p2025_01.parquet"
    file.write_bytes(file.read_bytes()[:-9] + b"\0" * 9)
    refused = run(*MINE, "--archive", folder, "--out", tmp_path / "refused.json", url=url)
    assert refused.returncode == 1
    assert f"--archive: {file}: refused, it does not match the manifest" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "refused.json").exists()


@pytest.mark.parametrize(
    "command",
    [MINE, TRAIN, ("evaluate", "--days", "30"), ("export-baskets", "--ledger", "--out", "b.parquet")],
)  # fmt: skip
def test_a_bad_archive_folder_is_named(tmp_path: Path, command: tuple[str, ...]) -> None:
    assert run("migrate", cwd=tmp_path).returncode == 0
    done = run(*command, "--archive", tmp_path / "nowhere", cwd=tmp_path)
    assert done.returncode == 1
    assert f"--archive: {tmp_path / 'nowhere'}: not a folder" in done.stderr
    assert "Traceback" not in done.stderr


def test_archive_only_with_the_ledger(tmp_path: Path) -> None:
    done = run("mine", "--transactions", "t.csv", "--archive", tmp_path)
    assert done.returncode == 1
    assert "--archive: only with --ledger" in done.stderr


def test_attach_recount_takes_the_archive_and_a_refresh_does_not(tmp_path: Path) -> None:
    assert run("migrate", cwd=tmp_path).returncode == 0
    done = run("attach-rates", "--refresh", "--archive", tmp_path, cwd=tmp_path)
    assert done.returncode == 1
    assert "--archive: only with --recount" in done.stderr
    done = run("attach-rates", "--recount", "--archive", tmp_path / "nowhere", cwd=tmp_path)
    assert done.returncode == 1
    assert f"--archive: {tmp_path / 'nowhere'}: not a folder" in done.stderr
    done = run("attach-rates", "--recount", cwd=tmp_path)
    assert "counted the ledger up to event 0: 0 pitches" in done.stdout
