"""Prometheus metrics, correct across ``serve``'s worker processes.

Every process that serves or decides writes its counters and histograms where
``PROMETHEUS_MULTIPROC_DIR`` points (``serve`` makes a fresh directory per run, or empties the
one it is given), and ``/metrics`` adds up every process's files (prometheus-client's
multiprocess mode). Without the variable (a test's in-process app), this process's own
registry is exposed.

Names are ``nextoffer_`` and base units (``_seconds``, ``_total``, ``_info``). No label takes
an unbounded value: channels come from the catalog, stages, reasons, policy types, event types
and journey transition kinds from fixed or registered lists, routes are the API's templates;
never a customer, offer, rule or decision id.

The decision path pays no write to the shared files: a process adds its counts up in memory
(a dictionary entry a counter, a bucket found by bisection a histogram) and ``flush()`` writes
them every ``FLUSH_SECONDS`` (the app's task, the scheduler's loop) and before a scrape. A
prometheus-client increment in multiprocess mode takes a lock and writes the file's page (1.7
µs on the loaded machine, 4 µs a histogram observation; a decision has half a dozen), the
in-memory sums a fifth of that. What a scrape shows lags at most ``FLUSH_SECONDS``.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, values
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from ...core.decision.result import Trace

__all__ = [
    "DURATION_BUCKETS",
    "FLUSH_SECONDS",
    "MULTIPROC_ENV",
    "REASONS",
    "Metrics",
    "exposition",
    "flushing",
    "metrics",
    "multiprocess",
    "process_dead",
    "shared_directory",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
FLUSH_SECONDS = 0.5  # how often a process writes what it counted (``Metrics.flush``)

# from a tenth of a millisecond (a decision's engine) to seconds (a database gone away)
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                    2.5, 5.0, 10.0)  # fmt: skip

# each stage's drops by the class of their reason (what the stage counts, without reading
# each candidate's reason: the drops' reasons are kept only in a sampled trace)
REASONS = {
    "candidates": "not_available",  # inactive, not on the channel, in the cart, held
    "qualify": "not_eligible",  # eligibility or fit
    "policies": "contact_policy",  # caps, cooldowns, back-off, do-not-contact
    "score": "not_scored",
    "gates": "below_gate",  # minimum score, price-delta cap
    "place": "no_slot",  # (mutual exclusion counted apart: ``Trace.blocks``)
    "holdout": "control_group",
}
_PLACE = "place"
_EXCLUSION = "mutual_exclusion"

disable_created_metrics()  # type: ignore[no-untyped-call]  # the ``_created`` series: none in multiprocess mode, none here


def shared_directory() -> tuple[Path, bool]:
    """The directory every process of one ``serve`` run writes its metrics to, set in the
    environment for the workers: ``PROMETHEUS_MULTIPROC_DIR`` when given (emptied of an
    earlier run's files, which would otherwise add up with this run's), else
    ``nextoffer-metrics-<pid>`` in the temporary folder (``True``: made here, for the caller
    to remove when the server stops). A server stopped by a signal may leave its folder (uvicorn
    raises the signal again once it has stopped): the folders of servers no longer running go
    at the next start."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink(missing_ok=True)
        return path, False
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{_MINE}*"):
        pid = old.name.removeprefix(_MINE)
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = base / f"{_MINE}{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700)
    os.environ[MULTIPROC_ENV] = str(path)
    return path, True


_MINE = "nextoffer-metrics-"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def process_dead(pid: int | None) -> None:
    """A worker died: its live gauges go (its counters still count)."""
    if pid is not None and multiprocess():
        mark_process_dead(pid)  # type: ignore[no-untyped-call]


def multiprocess() -> bool:
    """Whether this process writes its metrics to files shared by every process of ``serve``."""
    return bool(os.environ.get(MULTIPROC_ENV))


class Metrics:
    """This process's metrics (made once per process, on first use: ``metrics()``)."""

    def __init__(self) -> None:
        # prometheus-client picks where values live when it is imported; ``serve`` names the
        # directory later, in its own process: pick again now
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter(
            "nextoffer_decisions", "Decisions answered by the API, by channel and result "
            "(offered, empty, control, invalid, unavailable, error).",
            ("channel", "result"), registry=r,
        )  # fmt: skip
        self.decision_duration = Histogram(
            "nextoffer_decision_duration_seconds",
            "Time to answer POST /v1/decisions (read, engine, ledger write), by channel.",
            ("channel",), buckets=DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.dropped = Counter(
            "nextoffer_candidates_dropped", "Candidates that left a decision, by stage and "
            "reason class.", ("stage", "reason"), registry=r,
        )  # fmt: skip
        self.blocks = Counter(
            "nextoffer_contact_policy_blocks", "Candidates stopped by a contact policy, by "
            "policy type.", ("policy_type",), registry=r,
        )  # fmt: skip
        self.events = Counter(
            "nextoffer_events_ingested", "Events written to the ledger, by type.", ("type",),
            registry=r,
        )  # fmt: skip
        self.duplicates = Counter(
            "nextoffer_event_duplicates", "Events sent again with a key seen before (not "
            "written twice).", registry=r,
        )  # fmt: skip
        self.ledger_write = Histogram(
            "nextoffer_ledger_write_duration_seconds",
            "Time to write to the ledger (one statement: a decision, a batch of decisions "
            "or of events), by kind.", ("kind",), buckets=DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.journey_transitions = Counter(
            "nextoffer_journey_transitions", "Journey transitions written, by kind (enter, "
            "step, wait, exit, …).", ("kind",), registry=r,
        )  # fmt: skip
        self.requests = Counter(
            "nextoffer_http_requests", "HTTP requests answered, by method, route template "
            "and status code.", ("method", "route", "status"), registry=r,
        )  # fmt: skip
        self._children: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        # what is not written yet: a counter's child → its increase; a histogram's child →
        # its buckets' increases and the sum's
        self._counts: dict[Any, float] = {}
        self._observed: dict[Any, list[float]] = {}
        self._bounds = [*DURATION_BUCKETS, math.inf]

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once per process (labels() takes a lock and
        builds its key at every call)."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            with self._lock:
                child = self._children[key] = metric.labels(*labels)
        return child

    def _add(self, metric: Any, labels: tuple[str, ...], amount: float = 1.0) -> None:
        child = self._child(metric, *labels) if labels else metric
        with self._lock:
            self._counts[child] = self._counts.get(child, 0.0) + amount

    def _observe(self, metric: Any, labels: tuple[str, ...], seconds: float) -> None:
        child = self._child(metric, *labels)
        bucket = bisect.bisect_left(self._bounds, seconds)  # the first bound >= seconds
        with self._lock:
            sums = self._observed.get(child)
            if sums is None:
                sums = self._observed[child] = [0.0] * (len(self._bounds) + 1)
            sums[bucket] += 1
            sums[-1] += seconds

    def flush(self) -> None:
        """Write what this process counted since the last flush to its file (or registry)."""
        with self._lock:
            counts, observed = self._counts, self._observed
            self._counts, self._observed = {}, {}
        for child, amount in counts.items():
            child.inc(amount)
        for child, sums in observed.items():
            # Histogram.observe's own writes (prometheus-client 0.2x): a bucket's count, the sum
            for bucket, n in enumerate(sums[:-1]):
                if n:
                    child._buckets[bucket].inc(n)
            child._sum.inc(sums[-1])

    def decided(self, channel: str, result: str, seconds: float) -> None:
        """One API decision: its channel (a catalog channel, or ``unknown``), result, time."""
        self._add(self.decisions, (channel, result))
        self._observe(self.decision_duration, (channel,), seconds)

    def trace(self, trace: Trace) -> None:
        """The drops of one decision, from its stage counts, and its policy blocks."""
        add = self._add
        excluded = 0
        for policy_type in trace.blocks:
            add(self.blocks, (policy_type,))
            if policy_type == _EXCLUSION:
                excluded += 1
        for stage in trace.stages:
            dropped = stage.entered - stage.left
            if dropped <= 0:
                continue
            reason = REASONS.get(stage.stage)
            if reason is None:  # rank, total: nothing leaves
                continue
            if stage.stage == _PLACE and excluded:
                add(self.dropped, (_PLACE, _EXCLUSION), excluded)
                dropped -= excluded
                if dropped <= 0:
                    continue
            add(self.dropped, (stage.stage, reason), dropped)

    def ingested(self, types: Iterable[str], duplicates: int) -> None:
        """Events written (their types, one each) and the duplicates not written again."""
        for kind in types:
            self._add(self.events, (kind,))
        if duplicates:
            self._add(self.duplicates, (), duplicates)

    def ledger_written(self, kind: str, seconds: float) -> None:
        self._observe(self.ledger_write, (kind,), seconds)

    def journeyed(self, kinds: Iterable[str]) -> None:
        for kind in kinds:
            self._add(self.journey_transitions, (kind,))

    def answered(self, method: str, route: str, status: int) -> None:
        self._add(self.requests, (method, route, str(status)))


_metrics: Metrics | None = None
_made = threading.Lock()


def metrics() -> Metrics:
    """This process's metrics."""
    global _metrics
    if _metrics is None:
        with _made:
            if _metrics is None:
                _metrics = Metrics()
    return _metrics


class _Registry(Collector):
    """Another registry's metrics (this process's, in a scrape's own registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


async def flushing() -> None:
    """Write this process's counts every ``FLUSH_SECONDS`` (a task of the app's lifespan)."""
    try:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            metrics().flush()
    finally:  # the worker stops: what it counted last
        metrics().flush()


def exposition(*extra: Collector) -> bytes:
    """Every process's metrics (multiprocess mode) or this process's, and ``extra`` (what
    the scraping worker reads itself: the snapshot, the models, the build), in Prometheus's
    text format."""
    metrics().flush()  # this process's counts up to now (the others' lag FLUSH_SECONDS at most)
    registry = CollectorRegistry()
    if multiprocess():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Registry(metrics().registry))
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)
