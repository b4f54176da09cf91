"""``nextoffer migrate``, ``keys create`` and ``erase`` end to end."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from .test_rules_cli import run


def test_migrate_keys_and_erase(tmp_path: Path) -> None:
    assert run("migrate", cwd=tmp_path).returncode == 0
    assert (tmp_path / "nextoffer.db").is_file()
    made = run("keys", "create", "--role", "client", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().startswith("nxo_")
    bad = run("keys", "create", "--role", "root", cwd=tmp_path)
    assert bad.returncode == 1
    assert "--role: unknown role 'root'" in bad.stderr
    swept = run("erase", "--due", cwd=tmp_path)
    assert swept.returncode == 0
    assert "erased the personal data of 0 customer(s)" in swept.stdout
    missing = run("erase", "--customer", "nobody", cwd=tmp_path)
    assert missing.returncode == 1
    assert "no personal data for customer 'nobody'" in missing.stderr
    assert "Traceback" not in missing.stderr + bad.stderr


def test_keys_expire_list_and_revoke(tmp_path: Path) -> None:
    assert run("migrate", cwd=tmp_path).returncode == 0
    made = run("keys", "create", "--role", "client", "--label", "partner", "--expires", "90d",
               cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.strip().split("_")[1]
    listed = run("keys", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["id"], row["role"], row["label"], row["status"]) == (key_id, "client", "partner",
                                                                     "live")  # fmt: skip
    created = dt.datetime.fromisoformat(row["created_at"])
    assert dt.datetime.fromisoformat(row["expires_at"]) - created == dt.timedelta(days=90)
    assert row["revoked_at"] is None
    assert row["last_used_at"] is None
    assert made.stdout.strip() not in listed.stdout
    revoked = run("keys", "revoke", key_id, cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.startswith(f"revoked key {key_id} at ")
    again = run("keys", "revoke", key_id, cwd=tmp_path)
    assert again.returncode == 0
    assert f"key {key_id} was already revoked at " in again.stdout
    table = run("keys", "list", cwd=tmp_path)
    assert table.returncode == 0
    assert key_id in table.stdout
    assert "revoked" in table.stdout
    assert "partner" in table.stdout


BAD_LIFETIMES = [
    ("90", "--expires: '90' is not a lifetime; give a whole number of days or hours"),
    ("1.5d", "--expires: '1.5d' is not a lifetime"),
    ("-3d", "--expires: '-3d' is not a lifetime"),
    ("2026-12-31", "--expires: '2026-12-31' is not a lifetime"),
    ("0d", "--expires: '0d' must be more than 0 and at most 3650d"),
    ("3651d", "--expires: '3651d' must be more than 0 and at most 3650d"),
    ("99999999999999999999h", "must be more than 0 and at most 3650d"),
]


def test_a_bad_lifetime_is_refused_by_name_and_makes_no_key(tmp_path: Path) -> None:
    assert run("migrate", cwd=tmp_path).returncode == 0
    for given, message in BAD_LIFETIMES:
        bad = run("keys", "create", "--role", "client", "--expires", given, cwd=tmp_path)
        assert bad.returncode == 1, given
        assert message in bad.stderr, (given, bad.stderr)
        assert "Traceback" not in bad.stderr
    assert json.loads(run("keys", "list", "--json", cwd=tmp_path).stdout) == []


def test_revoking_an_unknown_key_is_an_error(tmp_path: Path) -> None:
    assert run("migrate", cwd=tmp_path).returncode == 0
    missing = run("keys", "revoke", "nope", cwd=tmp_path)
    assert missing.returncode == 1
    assert "ID: no API key with id 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr
    empty = run("keys", "list", cwd=tmp_path)
    assert "no API keys" in empty.stdout
