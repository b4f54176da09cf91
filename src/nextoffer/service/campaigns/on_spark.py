"""An outbound campaign decided on Apache Spark (``nextoffer campaign run --engine spark``).

The shell stays here: the live snapshot's spec is read once (the driver builds it to check
the campaign and evaluate a segment; the executors build it from the same spec), and then,
a group of pages at a time, each page's customers not decided yet under the campaign's keys
are read as ``decide_rows`` reads them (their states and CATE estimates), decided on Spark
by the core's engine (``jobs.spark.campaigns``), and written back page by page, each page
in its own transaction through the ledger's ``COPY``, exactly as the local path writes
them. Every decision has the local path's id (``service.decision_id``) and time (one
``now`` for the run), so the ledger rows and the send list are the local path's, row for
row; a run stopped at any point resumes as the local one does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ...core.decision import Snapshot, build_snapshot
from ...jobs.spark.campaigns import CustomerAsk, Undecided, decide_on_spark
from ...jobs.uplift import UpliftModel
from ..db import Database, tune_for_batch
from ..decisions import service as decisions
from ..errors import InvalidInput, NotFound
from ..ledger import service as ledger
from ..ledger.schemas import DecisionRow
from ..snapshots import service as snapshots
from ..snapshots.schemas import SnapshotData
from . import service
from .schemas import CampaignRun
from .service import PAGE, Campaign, Page

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["PAGES_PER_JOB", "live_snapshot", "run_on_spark"]

PAGES_PER_JOB = 25  # pages whose customers one Spark job decides (50,000 customers)


def live_snapshot(db: Database) -> tuple[SnapshotData, Snapshot]:
    """The live snapshot's spec (what the executors build theirs from) and the snapshot the
    driver builds from it; ``NotFound`` before the first publish."""
    with db.read() as session:
        spec = snapshots.live_spec(session)
    if spec is None:
        raise NotFound("nothing is published yet: POST /v1/catalog/publish")
    return spec, build_snapshot(spec, published=True)


# a page read and made ready: its members, how many customers it covered, the decisions
# stored before under its keys, and the asks of the others with what the engine needs
_Ready = tuple[list[str], int, dict[str, Any], list[decisions.BatchAsk], list[decisions.Prepared]]


def run_on_spark(
    db: Database,
    spark: SparkSession,
    spec: SnapshotData,
    snapshot: Snapshot,
    live: Mapping[str, tuple[str, UpliftModel]] | None,
    campaign: Campaign,
    now: dt.datetime,
    *,
    page: int = PAGE,
    pages_per_job: int = PAGES_PER_JOB,
    progress: Callable[[int], None] | None = None,
) -> CampaignRun:
    """``service.run`` with the engine on Spark: the same decisions (``snapshot`` built from
    ``spec``), written the same way, and the same answer."""
    pages = service.members_pages(db, snapshot, campaign, now, page)
    done = _decided(db, spark, spec, snapshot, live, campaign, now, pages, pages_per_job)
    return service.summary(campaign, done, progress)


def _decided(
    db: Database,
    spark: SparkSession,
    spec: SnapshotData,
    snapshot: Snapshot,
    live: Mapping[str, tuple[str, UpliftModel]] | None,
    campaign: Campaign,
    now: dt.datetime,
    pages: Iterator[tuple[list[str], int]],
    pages_per_job: int,
) -> Iterator[tuple[Page, int]]:
    """The pages decided on Spark, ``pages_per_job`` in one job, each written as it comes
    back, with how many customers it covered."""
    while group := list(islice(pages, pages_per_job)):
        ready = [_read(db, snapshot, live, campaign, members, covered, now)
                 for members, covered in group]  # fmt: skip
        asks = [CustomerAsk(a.decision_id or "", p.request, p.state)
                for _, _, _, page_asks, prepared in ready
                for a, p in zip(page_asks, prepared, strict=True)]  # fmt: skip
        answers = iter(decide_on_spark(spark, spec, asks, now))
        for members, covered, done, page_asks, prepared in ready:
            yield _write(db, campaign, members, done, page_asks, prepared, answers), covered


def _read(
    db: Database,
    snapshot: Snapshot,
    live: Mapping[str, tuple[str, UpliftModel]] | None,
    campaign: Campaign,
    members: list[str],
    covered: int,
    now: dt.datetime,
) -> _Ready:
    """One page read in one transaction: the decisions stored under its keys, and the
    states of the members not decided yet."""
    if not members:
        return members, covered, {}, [], []
    with db.read() as session:
        tune_for_batch(session)
        done, asks = service.undecided(session, campaign, members)
        prepared = decisions.prepare_rows(session, snapshot, live, asks, now)
    return members, covered, done, asks, prepared


def _write(
    db: Database,
    campaign: Campaign,
    members: list[str],
    done: dict[str, Any],
    asks: list[decisions.BatchAsk],
    prepared: list[decisions.Prepared],
    answers: Iterator[Any],
) -> Page:
    """One page's decisions written in one transaction (``COPY`` on PostgreSQL); how many
    were decided now, how many before, and every member's send, in order."""
    written: list[DecisionRow] = []
    for ask, ready in zip(asks, prepared, strict=True):
        answer = next(answers)
        if isinstance(answer, Undecided):  # checked before: the snapshot decides this channel
            raise InvalidInput.one("channel", f"cannot decide {ask.customer!r} on it")
        row = decisions.decided_row(ask.decision_id or "", ready.request, ask.customer,
                                    answer.decision, answer.shown, answer.detailed,
                                    ready.features, as_given=ready.as_given)  # fmt: skip
        row["idempotency_key"] = ask.key
        written.append(row)
    if written:
        try:
            with db.transaction() as session:
                tune_for_batch(session)
                ledger.append_new_decisions(session, written)
        except sa.exc.IntegrityError:
            raise service.conflict(campaign) from None
    return service.page_of(members, done, asks, written)
