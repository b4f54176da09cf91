"""``nextoffer migrate``, ``keys create`` and ``erase`` end to end."""

from __future__ import annotations

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
