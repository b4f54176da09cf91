"""The server's periodic jobs (attach-rate refresh, erasure sweep, scoring ahead, snapshot
checks) when the database cannot serve for a moment (issue 17, the README's tour); the
background processes that score customers ahead and run journeys, beside the API workers."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from nextoffer.service.background import NICE
from nextoffer.service.chain.service import generate_key
from nextoffer.service.db import log_failure

from .server import Server, load_catalog


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


def _children(pid: int) -> set[int]:
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        children.update(int(c) for c in (task / "children").read_text().split())
    return children


def _background_processes(server_pid: int, expected: int = 3) -> list[int]:
    """The server's background processes (spawned ``multiprocessing`` children): the scorer,
    the sealer and the journey scheduler(s)."""
    found = [
        pid for pid in _children(server_pid)
        if b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]  # fmt: skip
    assert len(found) == expected, found
    return found


def _gone(pid: int, within: float) -> bool:
    """Whether ``pid`` exits (or is left a zombie, exited) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("stop", ["terminate", "kill"])
def test_the_background_process_runs_at_a_lower_priority_and_ends_with_its_server(
    tmp_path: Path, stop: str
) -> None:
    server = Server(f"sqlite:///{tmp_path / 'nextoffer.db'}").start()
    try:
        assert server.process is not None
        processes = _background_processes(server.process.pid)
        server_nice = os.getpriority(os.PRIO_PROCESS, server.process.pid)
        deadline = time.monotonic() + 20  # the scorer lowers its priority once it has started

        def lowest(pid: int) -> bool:  # SCHED_IDLE, or where refused the largest niceness
            return os.sched_getscheduler(pid) == os.SCHED_IDLE or (
                os.getpriority(os.PRIO_PROCESS, pid) == min(server_nice + NICE, 19)
            )

        while sum(lowest(pid) for pid in processes) != 2:  # the scorer and the sealer
            assert time.monotonic() < deadline, "the scorer or the sealer kept its priority"
            time.sleep(0.05)
        # the journey scheduler keeps the server's: its steps are due at a time
        [scheduler] = [pid for pid in processes if not lowest(pid)]
        assert os.sched_getscheduler(scheduler) == os.SCHED_OTHER
        assert os.getpriority(os.PRIO_PROCESS, scheduler) == server_nice
        assert os.sched_getscheduler(server.process.pid) == os.SCHED_OTHER  # the API's
        if stop == "kill":  # SIGKILL: the server cannot stop it; it notices and exits itself
            server.kill()
        else:
            server.process.terminate()
            server.process.wait(timeout=20)
        for pid in processes:
            assert _gone(pid, within=5), f"the background process {pid} outlived its server"
    finally:
        server.stop()


def test_no_background_process_when_scoring_ahead_sealing_and_journeys_are_off(
    tmp_path: Path,
) -> None:
    server = Server(
        f"sqlite:///{tmp_path / 'nextoffer.db'}",
        env={"NEXTOFFER_ATTACH_REFRESH_SECONDS": "0", "NEXTOFFER_SCORE_AHEAD_SECONDS": "0",
             "NEXTOFFER_JOURNEY_TICK_SECONDS": "0", "NEXTOFFER_SEAL_SECONDS": "0"},
    ).start()  # fmt: skip
    try:
        assert server.process is not None
        assert not any(
            b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()
            for pid in _children(server.process.pid)
        )
    finally:
        server.stop()


def test_journey_schedulers_runs_that_many_schedulers(tmp_path: Path) -> None:
    server = Server(
        f"sqlite:///{tmp_path / 'nextoffer.db'}",
        env={"NEXTOFFER_ATTACH_REFRESH_SECONDS": "0", "NEXTOFFER_SCORE_AHEAD_SECONDS": "0",
             "NEXTOFFER_SEAL_SECONDS": "0", "NEXTOFFER_JOURNEY_SCHEDULERS": "3"},
    ).start()  # fmt: skip
    try:
        assert server.process is not None
        processes = _background_processes(server.process.pid, expected=3)
        for pid in processes:  # schedulers, all at the server's priority
            assert os.sched_getscheduler(pid) == os.SCHED_OTHER
        server.process.terminate()
        server.process.wait(timeout=20)
        for pid in processes:
            assert _gone(pid, within=5), f"the background process {pid} outlived its server"
    finally:
        server.stop()


def test_the_background_processes_log_in_the_servers_format(tmp_path: Path) -> None:
    """``--log-format json`` (here its setting) holds for the spawned processes too: the
    sealer's line on signing a checkpoint is a JSON object, as the workers' are."""
    generate_key(tmp_path / "signing.pem")
    server = Server(
        f"sqlite:///{tmp_path / 'nextoffer.db'}",
        env={"NEXTOFFER_LOG_FORMAT": "json", "NEXTOFFER_SEAL_SECONDS": "0.2",
             "NEXTOFFER_CHECKPOINT_KEY": str(tmp_path / "signing.pem"),
             "NEXTOFFER_CHECKPOINT_SECONDS": "0"},
    ).start()  # fmt: skip
    try:
        load_catalog(server)  # a publish: in the audit, sealed, then signed
        deadline, signed = time.monotonic() + 20, []
        while not signed:
            assert time.monotonic() < deadline, Path(server.log.name).read_text()
            time.sleep(0.2)
            lines = Path(server.log.name).read_text().splitlines()
            signed = [line for line in lines if "ledger checkpoint" in line]
        record = json.loads(signed[0])
        assert record["message"] == "ledger checkpoint 1 signed"
        assert record["logger"] == "nextoffer"
    finally:
        server.stop()
