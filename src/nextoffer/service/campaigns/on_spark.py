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
from ..errors import Conflict, InvalidInput, NotFound
from ..ledger import service as ledger
from ..ledger.schemas import DecisionRow
from ..snapshots import service as snapshots
from ..snapshots.schemas import SnapshotData
from . import service
from .schemas import CampaignRun, Send
from .service import PAGE, Campaign, Page, _listed, _send, check, decision_id, decision_key

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
    condition = check(snapshot, campaign)
    pages = (
        _listed(campaign.customers or (), page) if condition is None
        else service.segment_members(db, snapshot, condition, now, page=page)
    )  # fmt: skip
    sends: list[Send] = []
    decided = already = 0
    while group := list(islice(pages, pages_per_job)):
        ready = [_read(db, snapshot, live, campaign, members, covered, now)
                 for members, covered in group]  # fmt: skip
        asks = [CustomerAsk(a.decision_id or "", p.request, p.state)
                for _, _, _, page_asks, prepared in ready
                for a, p in zip(page_asks, prepared, strict=True)]  # fmt: skip
        answers = iter(decide_on_spark(spark, spec, asks, now))
        for members, covered, done, page_asks, prepared in ready:
            made, before, page_sends = _write(db, campaign, members, done, page_asks,
                                              prepared, answers)  # fmt: skip
            decided, already = decided + made, already + before
            sends += page_sends
            if progress is not None:
                progress(covered)
    return {"name": campaign.name, "channel": campaign.channel, "customers": len(sends),
            "decided": decided, "already_decided": already,
            "control": sum(s["control"] for s in sends), "sends": sends}  # fmt: skip


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
    keys = {c: decision_key(campaign.name, c) for c in members}
    with db.read() as session:
        tune_for_batch(session)
        done = {r.idempotency_key: r for r in ledger.decided_under(session, keys.values())}
        asks = [decisions.BatchAsk(c, campaign.channel, campaign.placements, keys[c],
                                   decision_id=decision_id(campaign.name, c))
                for c in members if keys[c] not in done]  # fmt: skip
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
            raise Conflict(
                f"another run of campaign {campaign.name!r} decided some of these customers "
                "at the same time; run it again to resume (nobody is decided twice)"
            ) from None
    by_customer = {r.customer_id: _send(r.customer_id, r.id, r.control, r.decision)
                   for r in done.values()}  # fmt: skip
    for ask, row in zip(asks, written, strict=True):
        by_customer[ask.customer] = _send(ask.customer, row["id"], row["control"], row["decision"])
    return len(written), len(done), [by_customer[c] for c in members]
