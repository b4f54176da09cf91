"""Outbound campaign decisions on Spark: the engine run on the executors, customer by customer.

The driver reads what the decisions need (the live snapshot's spec, each customer's state
and request) and hands it here as plain core data (``CustomerAsk``); each executor builds
the snapshot once from the broadcast spec and runs the core's ``decide`` on its customers,
with the time of the run (one instant, ``now``) and each decision's id as the seed of an
exploring channel, as the local path does: the answers are the local ones, customer for
customer. They come back to the driver in the asks' order (``Decided``: the decision as
``Decision.to_dict()`` gives it), which writes them to the ledger as the local path does.
The executors need nextoffer installed (the snapshot is nextoffer's).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ...core.decision import CustomerState, DecisionError, Snapshot, build_snapshot, decide
from ...core.request import Request

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["CustomerAsk", "Decided", "Undecided", "decide_on_spark"]

ASKS_PER_TASK = 2000  # customers a Spark task decides (at least one task per executor core)


class CustomerAsk(NamedTuple):
    """One customer to decide: the decision's ``id`` (it seeds an exploring channel), the
    ``request`` (customer, channel, placements, the run's time) and the customer's ``state``."""

    id: str
    request: Request
    state: CustomerState


class Decided(NamedTuple):
    """The engine's answer: the decision as ``Decision.to_dict()`` gives it, the offers
    shown (``Decision.offers()``) and whether its trace was sampled in."""

    decision: dict[str, Any]
    shown: list[str]
    detailed: bool


class Undecided(NamedTuple):
    """A customer the engine could not decide (``DecisionError``: its field and message)."""

    field: str
    message: str


# the snapshot each Python worker built, by its spec's digest (built once per worker)
_built: dict[str, Snapshot] = {}


def _decide_all(
    snapshot: Snapshot, asks: Iterable[tuple[int, CustomerAsk]], now: dt.datetime
) -> Iterator[tuple[int, Decided | Undecided]]:
    for i, ask in asks:
        try:
            decision = decide(snapshot, ask.request, ask.state, now=now, contacts_at=now,
                              seed=ask.id)  # fmt: skip
        except DecisionError as exc:
            yield i, Undecided(exc.field, exc.message)
            continue
        yield i, Decided(decision.to_dict(), decision.offers(), decision.trace.detailed)


def decide_on_spark(
    spark: SparkSession,
    spec: Mapping[str, Any],
    asks: Sequence[CustomerAsk],
    now: dt.datetime,
    *,
    per_task: int = ASKS_PER_TASK,
) -> list[Decided | Undecided]:
    """Every ask decided on Spark's executors by the snapshot built from ``spec`` (a
    published one), at ``now``; the answers in the asks' order."""
    if not asks:
        return []
    context = spark.sparkContext
    slices = max(context.defaultParallelism, -(-len(asks) // per_task))
    slices = min(slices, len(asks))
    shared = context.broadcast(dict(spec))
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()

    def run(part: Iterable[tuple[int, CustomerAsk]]) -> Iterator[tuple[int, Decided | Undecided]]:
        snapshot = _built.get(key)
        if snapshot is None:
            _built.clear()  # one campaign's snapshot at a time
            snapshot = _built[key] = build_snapshot(shared.value, published=True)
        yield from _decide_all(snapshot, part, now)

    try:
        answered = context.parallelize(list(enumerate(asks)), slices).mapPartitions(run).collect()
    finally:
        shared.unpersist()
    answers: list[Decided | Undecided | None] = [None] * len(asks)
    for i, answer in answered:
        answers[i] = answer
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]
