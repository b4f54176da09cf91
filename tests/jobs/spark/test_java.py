from __future__ import annotations

import os
from pathlib import Path

import pytest

from nextoffer.jobs.spark import java


def test_java_home_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    launcher = tmp_path / "bin" / "java"
    launcher.parent.mkdir()
    launcher.write_text("#!/bin/sh\n")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    assert java.find_java() == launcher


def test_a_java_home_without_java_is_no_java(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    assert java.find_java() is None


def test_without_root_the_install_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(java.JavaUnavailable, match="default-jre-headless"):
        java.install_java()


def test_the_java_found_runs() -> None:
    found = java.ensure_java()
    assert found.is_file()
    assert os.access(found, os.X_OK)
