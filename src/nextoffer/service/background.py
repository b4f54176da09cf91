"""The server's background process: work no request needs, away from the API workers.

``serve`` and ``demo`` start one such process beside the API worker(s) (``running``), at the
lowest CPU priority (``idle_priority``), and stop it when the server stops; it also stops by itself
when the server's process goes away (checked between runs), so a killed server leaves no
scorer behind. It runs ``ScoreAhead`` every ``score_ahead_seconds``, at once again while it
is catching up.

Why a process: in a thread of each worker, scoring held the interpreter's lock that the
decision path needs (the service benchmark's mix with 20% new customers: p99 31 ms with it,
13 ms without); in a process of its own at a lower priority, the kernel gives the workers
the cores first.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator

from .config import Settings
from .db import Database, log_failure
from .uplift.estimates import ModelCache, ScoreAhead

__all__ = ["NICE", "idle_priority", "main", "running"]

NICE = 19  # the process's niceness, relative to the server's, where SCHED_IDLE is refused
log = logging.getLogger("nextoffer")


def idle_priority() -> None:
    """Run only on a core the server leaves idle: Linux's ``SCHED_IDLE`` class (a niced
    process still takes time slices from busy workers, and each slice delays the decisions
    waiting behind it), or the lowest niceness where that class is not available."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(NICE)


def main(database_url: str, every: float, parent: int) -> None:
    """The process's loop, until the server's process (``parent``) is gone."""
    idle_priority()
    db = Database(database_url)
    ahead = ScoreAhead(db, ModelCache(db))
    failing = False
    try:
        while os.getppid() == parent:
            try:
                ahead.run()
                failing = False
            except Exception as exc:  # the next run retries (e.g. the database restarting)
                if not failing:  # once per outage
                    log_failure("scoring customers ahead failed (retrying)", exc)
                failing = True
            if not ahead.behind:
                time.sleep(every)
    finally:
        db.dispose()


@contextlib.contextmanager
def running(settings: Settings) -> Iterator[multiprocessing.process.BaseProcess | None]:
    """The background process, while the block runs (None when ``score_ahead_seconds`` is
    0: nothing to run)."""
    if settings.score_ahead_seconds <= 0:
        yield None
        return
    context = multiprocessing.get_context("spawn")  # no copy of the server's threads or pools
    process = context.Process(
        target=main,
        args=(settings.database_url, settings.score_ahead_seconds, os.getpid()),
        name="nextoffer-background",
        daemon=True,
    )
    process.start()
    try:
        yield process
    finally:
        process.terminate()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()
