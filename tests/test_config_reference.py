"""The README's configuration reference is what the code reads: every setting with its
environment variable and default, and every other environment variable the code names."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from nextoffer.service.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.index("\n## ", start + 1)
    return README[start:end]


def _rows(text: str) -> list[list[str]]:
    """The cells of each table row (not the header or its rule), backticks kept."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    return [c for c in cells if c[0] not in ("setting", "variable", "---")]


def _shown(value: object) -> str:
    """A default as the table writes it: ``false``, ``0.25``, ``3600`` (not ``3600.0``),
    ``""``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if value == "":
        return '""'  # an empty text: none
    return str(value)


def test_every_setting_is_in_the_reference_with_its_variable_and_default() -> None:
    rows = [r for r in _rows(_section("Configuration reference")) if len(r) == 4]
    table = {r[0].strip("`"): (r[1].strip("`"), r[2].strip("`"), r[3]) for r in rows}
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    assert set(table) >= set(fields), f"missing from the README: {sorted(set(fields) - set(table))}"
    assert set(table) <= set(fields), f"not settings: {sorted(set(table) - set(fields))}"
    for name, default in fields.items():
        variable, shown, meaning = table[name]
        assert variable == f"NEXTOFFER_{name.upper()}", name
        assert shown == _shown(default), (name, shown, default)
        assert len(meaning) > 10, name


# the environment variables the code reads, by the ways it names them
_NAMED = [
    re.compile(r'os\.environ(?:\.get|\.setdefault)?[(\[]\s*"([A-Z][A-Z0-9_]+)"'),
    re.compile(r'"([A-Z][A-Z0-9_]+)" in os\.environ'),
    re.compile(r'envvar="([A-Z][A-Z0-9_]+)"'),
]


def test_every_other_environment_variable_the_code_reads_is_listed() -> None:
    named = set()
    for path in (ROOT / "src" / "nextoffer").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in _NAMED:
            named.update(pattern.findall(text))
    assert "NEXTOFFER_CONFIG" in named
    assert "JAVA_HOME" in named
    settings = {f"NEXTOFFER_{f.name.upper()}" for f in dataclasses.fields(Settings)}
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", _section("Configuration reference")))
    missing = named - settings - listed
    assert not missing, f"read by the code, not in the README's reference: {sorted(missing)}"
