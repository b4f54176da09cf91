"""The server's background processes: work no request needs, away from the API workers.

``serve`` and ``demo`` start them beside the API worker(s) (``running``) and stop them when
the server stops; each also stops by itself when the server's process goes away (checked
between runs), so a killed server leaves nothing behind.

- **The scorer** runs ``ScoreAhead`` every ``score_ahead_seconds`` (at once again while it
  is catching up), at the lowest CPU priority (``idle_priority``).
- **The journey scheduler** runs ``Runner.tick`` every ``journey_tick_seconds`` (at once
  again while due work remains): it releases due waits and retries and makes outbound offer
  steps' decisions; and enters outbound journeys' segments every
  ``journey_segment_seconds``. At the normal priority: a journey's step is due at a time.
  ``journey_schedulers`` of them run side by side (each skips the customers another holds;
  the first alone enters segments), and several servers on one PostgreSQL each run theirs;
  each due step still runs once.

- **The sealer** runs ``chain.seal`` every ``seal_seconds`` (at once again while it is
  catching up) and signs a checkpoint when one is due (``checkpoint_rows``,
  ``checkpoint_seconds``; only with a ``checkpoint_key``), at the lowest CPU priority: it
  is never on the decision path, and catches up when the workers leave a core idle.

Why a process: in a thread of each worker, scoring held the interpreter's lock that the
decision path needs (the service benchmark's mix with 20% new customers: p99 31 ms with it,
13 ms without); in a process of its own at a lower priority, the kernel gives the workers
the cores first.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import gc
import logging
import logging.config
import math
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from .chain import service as chain
from .config import Settings
from .db import Database, log_failure
from .journeys.runner import Runner
from .operations.logs import logging_config
from .operations.metrics import metrics
from .snapshots.cache import SnapshotCache
from .uplift.estimates import ModelCache, ScoreAhead

__all__ = ["NICE", "TICK_LIMIT", "idle_priority", "journeys_main", "main", "running", "sealer_main"]

TICK_LIMIT = 1000  # enrollments per tick (one transaction)

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


def _start(log_format: str, parent: int) -> None:
    """What a spawned process does first: log as the server does (``serve --log-format``;
    it starts without the server's logging), and end with the server. uvicorn re-raises
    the SIGTERM it handled once it has shut down, so the server may end before its own
    clean-up stops these processes; on Linux the kernel then sends them SIGTERM
    (``PR_SET_PDEATHSIG``), and elsewhere their loops see the server gone between runs."""
    logging.config.dictConfig(logging_config(log_format, access_log=False))
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != parent:  # the server ended before the request took effect
        os._exit(0)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def main(database_url: str, every: float, parent: int, log_format: str = "plain") -> None:
    """The process's loop, until the server's process (``parent``) is gone."""
    _start(log_format, parent)
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


def journeys_main(
    database_url: str, every: float, segment_every: float, parent: int, log_format: str = "plain"
) -> None:
    """The journey scheduler's loop, until the server's process (``parent``) is gone."""
    _start(log_format, parent)
    db = Database(database_url)
    models = ModelCache(db)
    runner = Runner(db, SnapshotCache(db), models)
    entered: dict[str, float] = {}  # journey → when its segment was last entered
    failing, frozen = False, False
    try:
        while os.getppid() == parent:
            busy = False
            try:
                busy = runner.tick(limit=TICK_LIMIT).transitions > 0
                metrics().flush()  # the transitions and decisions it counted, for /metrics
                for journey_id in runner.outbound():
                    if time.monotonic() - entered.get(journey_id, -1e18) >= segment_every:
                        runner.enter_segment(journey_id)
                        entered[journey_id] = time.monotonic()
                failing = False
                if not frozen:
                    # the first pass done (the snapshot and the journeys loaded): what the
                    # process holds by now out of the collector's way, whose full
                    # collections walked it all (9% of the scheduler's CPU releasing due
                    # waits: the journey benchmark)
                    gc.freeze()
                    frozen = True
            except Exception as exc:  # the next run retries (e.g. the database restarting)
                if not failing:
                    log_failure("the journey scheduler failed (retrying)", exc)
                failing = True
            if not busy:
                time.sleep(every)
    finally:
        db.dispose()


def sealer_main(settings: Settings, parent: int) -> None:
    """The sealer's loop, until the server's process (``parent``) is gone."""
    _start(settings.log_format, parent)
    idle_priority()
    db = Database(settings.database_url)
    key = chain.load_private_key(Path(settings.checkpoint_key)) if settings.checkpoint_key else None
    folder = Path(settings.checkpoint_dir) if settings.checkpoint_dir else None
    failing = False
    try:
        while os.getppid() == parent:
            behind = False
            try:
                sealed = chain.seal(db)
                behind = any(n >= chain.SEAL_BATCH for n in sealed.values())
                if key is not None:
                    made = chain.checkpoint(
                        db, key, dt.datetime.now(dt.UTC), folder,
                        settings.checkpoint_rows, settings.checkpoint_seconds,
                    )  # fmt: skip
                    if made is not None:
                        log.info("ledger checkpoint %s signed", made.body["number"])
                failing = False
            except Exception as exc:  # the next run retries (e.g. the database restarting)
                if not failing:
                    log_failure("sealing the ledger failed (retrying)", exc)
                failing = True
            if not behind:
                time.sleep(settings.seal_seconds)
    finally:
        db.dispose()


@contextlib.contextmanager
def running(settings: Settings) -> Iterator[list[multiprocessing.process.BaseProcess]]:
    """The background processes, while the block runs (none of those whose setting is 0)."""
    context = multiprocessing.get_context("spawn")  # no copy of the server's threads or pools
    processes: list[multiprocessing.process.BaseProcess] = []
    if settings.score_ahead_seconds > 0:
        processes.append(context.Process(
            target=main,
            args=(settings.database_url, settings.score_ahead_seconds, os.getpid(),
                  settings.log_format),
            name="nextoffer-background", daemon=True,
        ))  # fmt: skip
    for i in range(settings.journey_schedulers if settings.journey_tick_seconds > 0 else 0):
        segment_every = settings.journey_segment_seconds if i == 0 else math.inf  # the first's
        processes.append(context.Process(
            target=journeys_main,
            args=(settings.database_url, settings.journey_tick_seconds, segment_every,
                  os.getpid(), settings.log_format),
            name=f"nextoffer-journeys-{i}" if i else "nextoffer-journeys", daemon=True,
        ))  # fmt: skip
    if settings.seal_seconds > 0:
        processes.append(context.Process(
            target=sealer_main, args=(settings, os.getpid()), name="nextoffer-sealer",
            daemon=True,
        ))  # fmt: skip
    for process in processes:
        process.start()
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
