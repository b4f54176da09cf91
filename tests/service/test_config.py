"""Settings: defaults, a TOML file, the environment over the file, and refusals that name
the setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nextoffer.service.config import MAX_SCHEDULERS, Settings, load_settings


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, and no NEXTOFFER_* variable from the invoking shell."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.__dataclass_fields__:
        monkeypatch.delenv(f"NEXTOFFER_{name.upper()}", raising=False)
    monkeypatch.delenv("NEXTOFFER_CONFIG", raising=False)
    return tmp_path


def test_without_a_file_or_variables_the_defaults_hold(folder: Path) -> None:
    assert load_settings() == Settings()
    assert Settings().journey_schedulers == 1


def test_the_environment_overrides_the_file(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / "nextoffer.toml").write_text("journey_schedulers = 2\nretention_days = 30\n")
    assert (load_settings().journey_schedulers, load_settings().retention_days) == (2, 30)
    monkeypatch.setenv("NEXTOFFER_JOURNEY_SCHEDULERS", "3")
    assert (load_settings().journey_schedulers, load_settings().retention_days) == (3, 30)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "setting journey_schedulers: must be between 1 and 16, got 0"),
        (str(MAX_SCHEDULERS + 1), "setting journey_schedulers: must be between 1 and 16, got 17"),
        ("two", "setting journey_schedulers: 'two' is not a int"),
    ],
)
def test_a_bad_value_is_refused_naming_the_setting(
    folder: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("NEXTOFFER_JOURNEY_SCHEDULERS", value)
    with pytest.raises(ValueError, match=r"^setting journey_schedulers: ") as caught:
        load_settings()
    assert str(caught.value) == message


def test_an_unknown_setting_is_refused(folder: Path) -> None:
    (folder / "nextoffer.toml").write_text("journey_scheduler = 2\n")
    with pytest.raises(ValueError, match=r"unknown setting\(s\): journey_scheduler$"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LOG_FORMAT", "xml", "setting log_format: must be one of json, plain, got 'xml'"),
        ("READINESS_TIMEOUT_SECONDS", "0", "setting readiness_timeout_seconds: must be more "
         "than 0 and at most 60, got 0"),
    ],
)  # fmt: skip
def test_a_bad_log_format_or_readiness_timeout_is_refused_naming_it(
    folder: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"NEXTOFFER_{name}", value)
    with pytest.raises(ValueError, match=r"^setting ") as caught:
        load_settings()
    assert str(caught.value) == message


def test_serve_refuses_a_log_format_it_does_not_know(folder: Path) -> None:
    nextoffer = Path(sys.executable).parent / "nextoffer"
    done = subprocess.run([str(nextoffer), "serve", "--log-format", "xml"], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0
    assert "--log-format: must be one of json, plain, got 'xml'" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert not (folder / "nextoffer.db").exists()
