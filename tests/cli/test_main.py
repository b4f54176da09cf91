"""The ``nextoffer`` group: how a batch command's process is set up before it runs."""

from __future__ import annotations

import gc
import os

import pytest
import typer

from nextoffer.cli.main import app


def test_mine_loads_numpy_with_one_blas_thread_and_freezes_its_imports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "")  # so that the test's own setting is undone
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    frozen = gc.get_freeze_count()
    try:
        assert typer.main.get_group(app).get_command(None, "mine") is not None  # type: ignore[arg-type]
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()


def test_a_blas_thread_count_that_is_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    try:
        typer.main.get_group(app).get_command(None, "mine")  # type: ignore[arg-type]
    finally:
        gc.unfreeze()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"
