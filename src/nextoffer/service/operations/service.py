"""Readiness, and what the scraping worker adds to ``/metrics`` (the live snapshot, the
models, the build): each read on the probes' connection of its own (``Database.probe``)."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
from collections.abc import Iterable

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ..db import Database
from ..migrate import heads, schema_at
from ..snapshots.cache import SnapshotCache
from ..uplift.estimates import ModelCache
from . import repository
from .schemas import Checks, Readiness

__all__ = ["Scraped", "not_answering", "readiness"]

OK = "ok"


def _utc(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        text = str(exc.orig).strip().splitlines()
        return f"unreachable: {text[0] if text else type(exc.orig).__name__}"
    return f"unreachable: {type(exc).__name__}"


def readiness(db: Database, snapshots: SnapshotCache, models: ModelCache) -> Readiness:
    """Ready when the database answers, its schema is at this code's newest migration, the
    worker has loaded the live snapshot (or none was ever published: the catalog is being
    set up through this API) and has read the live uplift models."""
    checks: Checks = {"database": OK, "migrations": OK, "snapshot": OK, "models": OK}
    snapshot = snapshots.loaded
    try:
        at, published = db.probe(
            lambda c: (schema_at(c), snapshot is not None or repository.any_published(c))
        )
    except sa.exc.SQLAlchemyError as exc:  # gone, refusing, starting up, the pool busy
        checks["database"] = _reason(exc)
        at, published = heads(), True  # unknown: the database check says why
    if at != heads():
        now = ", ".join(sorted(at)) or "none"
        checks["migrations"] = (f"the schema is at {now}, this code's is {', '.join(sorted(heads()))}:"
                                " run nextoffer migrate")  # fmt: skip
    if snapshot is not None:
        checks["snapshot"] = snapshot.version
    elif published:
        checks["snapshot"] = "the live snapshot is not loaded (yet)"
    else:
        checks["snapshot"] = "none published yet"
    if not models.loaded:
        checks["models"] = "the live uplift models are not read (yet)"
    reasons = [f"{name}: {value}" for name, value in checks.items()
               if not _passed(name, str(value))]  # fmt: skip
    return {"status": "not ready" if reasons else "ready", "checks": checks, "reasons": reasons}


def _passed(check: str, value: str) -> bool:
    if check == "snapshot":
        return not value.startswith("the live snapshot is not loaded")
    return value == OK


def not_answering(seconds: float) -> Readiness:
    """The answer when the checks took longer than ``seconds`` (the database hangs)."""
    reason = f"did not answer within {seconds:g} s"
    return {
        "status": "not ready",
        "checks": {"database": reason, "migrations": "unknown", "snapshot": "unknown",
                   "models": "unknown"},
        "reasons": [f"database: {reason}"],
    }  # fmt: skip


def _version() -> str:
    try:
        return importlib.metadata.version("nextoffer")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout
        return "unknown"


class Scraped(Collector):
    """What the scraping worker adds to ``/metrics``, read when scraped: the build, the live
    snapshot (its version and age) and the live uplift models (how many, the oldest's and
    the newest's age). The ages need the database; without it they are left out."""

    def __init__(self, db: Database, snapshots: SnapshotCache, models: ModelCache,
                 now: dt.datetime) -> None:  # fmt: skip
        self.db, self.snapshots, self.models, self.now = db, snapshots, models, now

    def collect(self) -> Iterable[Metric]:
        build = GaugeMetricFamily("nextoffer_build_info", "The running build.",
                                  labels=["version", "python"])  # fmt: skip
        build.add_metric([_version(), platform.python_version()], 1)
        yield build
        snapshot = self.snapshots.loaded
        versions = self.models.versions()
        try:
            published, trained = self.db.probe(lambda c: (
                repository.published_at(c, snapshot.version) if snapshot is not None else None,
                repository.models_trained(c, set(versions.values())),
            ))  # fmt: skip
        except sa.exc.SQLAlchemyError:  # the ages are left out meanwhile
            published, trained = None, []
        info = GaugeMetricFamily(
            "nextoffer_snapshot_info", "The live snapshot of the worker that answered "
            "(its version as published).", labels=["version"],
        )  # fmt: skip
        if snapshot is not None:
            info.add_metric([snapshot.version], 1)
        yield info
        if published is not None:
            yield _gauge("nextoffer_snapshot_age_seconds", "Time since the live snapshot "
                         "was published.", self._age(published))  # fmt: skip
            yield _gauge("nextoffer_snapshot_published_timestamp_seconds", "When the live "
                         "snapshot was published (Unix time).", _utc(published).timestamp())  # fmt: skip
        yield _gauge("nextoffer_uplift_models", "Live uplift models (one per offer at most).",
                     len(versions))  # fmt: skip
        if trained:
            ages = GaugeMetricFamily(
                "nextoffer_uplift_model_age_seconds", "Time since the live uplift models "
                "were trained: the oldest's and the newest's.", labels=["which"],
            )  # fmt: skip
            ages.add_metric(["oldest"], self._age(min(trained, key=_utc)))
            ages.add_metric(["newest"], self._age(max(trained, key=_utc)))
            yield ages

    def _age(self, at: dt.datetime) -> float:
        return max(0.0, (self.now - _utc(at)).total_seconds())


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
