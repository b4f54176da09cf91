"""``nextoffer ledger keygen``, ``seal``, ``checkpoint`` and ``verify``: what an operator runs,
with the exit codes and messages they see (a tampered row named, never a traceback)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import sqlalchemy as sa

from nextoffer.service.db import Database
from nextoffer.service.migrate import upgrade

from ..service.test_ledger_chain import _fill, superuser
from .test_rules_cli import NEXTOFFER


def run(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "200", **env}
    return subprocess.run([str(NEXTOFFER), *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=full)  # fmt: skip


def test_keygen_seal_checkpoint_and_verify_then_a_tampered_row_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    db = Database(url)
    upgrade(db)
    _fill(db)
    key = tmp_path / "keys" / "signing.pem"
    key.parent.mkdir()
    env = {"NEXTOFFER_DATABASE_URL": url, "NEXTOFFER_CHECKPOINT_KEY": str(key),
           "NEXTOFFER_CHECKPOINT_DIR": str(tmp_path / "checkpoints")}  # fmt: skip

    r = run("ledger", "seal", env=env)  # no key file yet: a clear error
    assert r.returncode == 1
    assert "checkpoint_key" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("ledger", "keygen", key, env=env)
    assert r.returncode == 0, r.stderr
    assert (key.stat().st_mode & 0o777) == 0o600
    assert Path(f"{key}.pub").is_file()
    assert run("ledger", "keygen", key, env=env).returncode == 1  # never overwrites a key

    r = run("ledger", "seal", env=env)
    assert r.returncode == 0, r.stderr
    assert "decisions 6" in r.stdout
    assert "signed checkpoint 1" in r.stdout
    r = run("ledger", "checkpoint", env=env)
    assert r.returncode == 0
    assert "nothing sealed since the last checkpoint" in r.stdout

    checkpoints = tmp_path / "checkpoints"
    r = run("ledger", "verify", "--checkpoints", checkpoints, "--public-key", f"{key}.pub", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "decisions: 6 rows checked of 6 sealed" in r.stdout
    assert "signatures checked" in r.stdout
    assert r.stdout.strip().splitlines()[-1].startswith("ok: 42 rows")

    with superuser(db) as conn:
        conn.execute(sa.text("UPDATE events SET value = 0 WHERE seq = 30"))
    db.dispose()
    r = run("ledger", "verify", "--checkpoints", checkpoints, env=env)
    assert r.returncode == 1
    assert "problem: modified: events seq 30: its content differs from what was sealed" in r.stdout
    assert "1 problems in the ledger" in r.stderr

    r = run("ledger", "verify", "--checkpoints", tmp_path / "nowhere", env=env)
    assert r.returncode == 1
    assert "is not a folder" in r.stderr
    assert "Traceback" not in r.stderr
