"""The server's periodic jobs (attach-rate refresh, erasure sweep, scoring ahead, snapshot
checks) when the database cannot serve for a moment (issue 17, the README's tour)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from nextoffer.service.app import log_failure


def _locked_error(path: Path) -> sa.exc.OperationalError:
    """SQLite's real "database is locked", as a job meets it while another process (here a
    second connection) holds the write lock."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    except sa.exc.OperationalError as exc:
        return exc
    finally:
        engine.dispose()
        holder.rollback()
        holder.close()
    raise AssertionError("the write lock was not held")


def test_a_periodic_job_meeting_a_locked_database_logs_one_line_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the demo's terminal showed "attach-rate refresh failed" with a 70-line traceback each
    # time `nextoffer uplift train` held the write lock; the job retries on its next run
    error = _locked_error(tmp_path / "nextoffer.db")
    with caplog.at_level(logging.WARNING, logger="nextoffer"):
        log_failure("attach-rate refresh failed", error)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert record.getMessage() == (
        "attach-rate refresh failed: the database cannot serve now (database is locked);"
        " the next run retries"
    )


def test_a_periodic_job_failing_otherwise_is_logged_as_an_error_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    try:
        raise KeyError("offers")
    except KeyError as exc:
        error = exc
    with caplog.at_level(logging.WARNING, logger="nextoffer"):
        log_failure("erasure sweep failed", error)
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[1] is error
    assert record.getMessage() == "erasure sweep failed"
