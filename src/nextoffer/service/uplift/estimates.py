"""Uplift estimates as the decision path reads them, and how they get there.

**The CATE store** holds τ, its interval, the base rate and the segment per (customer,
offer) with the model version: bulk-scored for every stored customer after training (or by
``nextoffer uplift score``) and read by the decision path.

**A customer not yet scored** (never seen before, or stored after the last bulk scoring)
gets, for each offer with a live model, **the offer's average τ**: the model's mean τ over
the customers it was trained on (``average_tau``), and the offer's own uplift segment. The
request runs no model and writes nothing. ``ScoreAhead``, in a background process of its
own, follows the ledger's decisions (each records the customer's features), scores such
customers in batches a second or so later, and stores their estimates (filling in only what
is missing: it never overwrites a bulk scoring's row), so that their next decision has their
own τ. Scoring inside the request cost a new customer
40 ms on a quiet machine and up to 870 ms under load (a scikit-learn call per model and its
bootstrap replicas, then an upsert); compiling the models to plain arithmetic would be exact
only for linear ones, and ours are boosted trees with bootstrap replicas.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import psycopg
from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from ...core.learning.features import columns_of
from ...jobs.uplift import UpliftDataError, UpliftModel
from ..db import Database
from . import repository
from .schemas import EstimateRow, Estimates

__all__ = [
    "ModelCache",
    "ScoreAhead",
    "average_tau",
    "bulk_rows",
    "customer_estimates",
    "customers_estimates",
    "estimates_from",
    "feature_columns",
    "feature_row",
    "score_customers",
    "scored",
    "stored_estimates_async",
]

_FLAGS = ("holds:", "segment:")
log = logging.getLogger("nextoffer")


def feature_row(customer: Mapping[str, Any]) -> dict[str, Any]:
    """A customer (attributes, holdings, segments) as one flat row of features."""
    row = dict(customer.get("attributes") or {})
    row.update({f"holds:{sku}": True for sku in customer.get("holdings") or ()})
    row.update({f"segment:{name}": True for name in customer.get("segments") or ()})
    return row


def feature_columns(
    rows: Sequence[Mapping[str, Any]], names: Sequence[str] | None = None
) -> dict[str, list[Any]]:
    """Rows to columns (``names``: exactly these); an absent holding or segment is False."""
    columns = columns_of(rows) if names is None else {k: [r.get(k) for r in rows] for k in names}
    for name, values in columns.items():
        if name.startswith(_FLAGS):
            columns[name] = [bool(v) for v in values]
    return columns


def _estimate_rows(
    version: str,
    model: UpliftModel,
    offer_id: str,
    customers: Sequence[Mapping[str, Any]],
    now: dt.datetime,
) -> list[EstimateRow]:
    names = [*model.encoder.numeric, *model.encoder.categorical]
    rows = [feature_row(c) for c in customers]
    scores = model.score(feature_columns(rows, names))
    out: list[EstimateRow] = []
    for i, c in enumerate(customers):
        out.append({
            "customer_id": c["id"], "offer_id": offer_id,
            "tau": float(np.clip(scores.tau[i], -1, 1)) if model.outcome == "conversion" else float(scores.tau[i]),
            "lower": None if scores.lower is None else float(scores.lower[i]),
            "upper": None if scores.upper is None else float(scores.upper[i]),
            "base_rate": float(scores.base_rate[i]), "segment": scores.segments[i],
            "model_version": version, "scored_at": now,
        })  # fmt: skip
    return out


def bulk_rows(
    trained: Mapping[str, tuple[str, UpliftModel]],
    customers: Sequence[Mapping[str, Any]],
    *,
    batch: int = 5000,
) -> list[EstimateRow]:
    """Estimate rows for every customer with each offer's model, ``batch`` customers a call."""
    now = dt.datetime.now(dt.UTC)
    rows: list[EstimateRow] = []
    for offer_id, (version, model) in trained.items():
        for start in range(0, len(customers), batch):
            rows += _estimate_rows(version, model, offer_id, customers[start : start + batch], now)
    return rows


def score_customers(
    session: Session, trained: Mapping[str, tuple[str, UpliftModel]] | None = None
) -> int:
    """Score every stored customer with each offer's model (default: the live ones)."""
    if trained is None:
        trained = {}
        for offer_id, row in repository.latest_models(session).items():
            blob = repository.get_model(session, row.version)
            assert blob is not None
            trained[offer_id] = (row.version, UpliftModel.loads(blob, f"model {row.version}"))
    customers = [c._mapping for c in repository.all_customers(session)]
    return repository.upsert_estimates(session, bulk_rows(trained, customers))


class ModelCache:
    """The live model of each offer, loaded once per version; checked every ``poll`` s.

    A stored model that cannot be loaded (a pickle from an earlier version, or a row naming
    types no model holds) is refused once, with an error in the log naming it: its offer is
    decided as without a model until one is trained again."""

    def __init__(self, db: Database, poll: float = 1.0) -> None:
        self.db, self.poll = db, poll
        self._lock = threading.Lock()
        self._checked = -1e9
        self._live: dict[str, str] = {}
        self._loaded: dict[str, UpliftModel] = {}
        self._refused: set[str] = set()

    def cached(self) -> dict[str, tuple[str, UpliftModel]] | None:
        """The live models when they were checked within ``poll`` seconds, else None (no
        query: the event loop may call it; ``live()`` may read the database)."""
        return self._current() if time.monotonic() - self._checked < self.poll else None

    @property
    def loaded(self) -> bool:
        """Whether the live models were read at least once (no query)."""
        return self._checked > -1e9

    def versions(self) -> dict[str, str]:
        """The live model version of each offer, as last read (no query)."""
        return dict(self._live)

    def live(self, check: bool = False) -> dict[str, tuple[str, UpliftModel]]:
        """The live models, checked again when ``check`` or ``poll`` seconds have passed."""
        if check or time.monotonic() - self._checked >= self.poll:
            with self._lock, self.db.read() as session:
                live = repository.live_versions(session)
                for offer_id, version in live.items():
                    if version in self._loaded or version in self._refused:
                        continue
                    blob = repository.get_model(session, version)
                    if blob is None:
                        continue
                    try:
                        self._loaded[version] = UpliftModel.loads(blob, f"model {version}")
                    except UpliftDataError as exc:
                        self._refused.add(version)
                        log.error("uplift model refused (offer %s): %s; the offer is decided "
                                  "without it until it is trained again", offer_id, exc)  # fmt: skip
                self._live, self._checked = live, time.monotonic()
        return self._current()

    def _current(self) -> dict[str, tuple[str, UpliftModel]]:
        return {o: (v, self._loaded[v]) for o, v in self._live.items() if v in self._loaded}


def average_tau(model: UpliftModel) -> float | None:
    """The offer's average τ under ``model``: its mean τ over the customers it was trained
    on, clipped to [−1, 1]; what a customer not yet scored gets. None for a model of value
    (its τ is money, not a change in the conversion rate) or without a mean."""
    mean = model.report.get("mean_tau")
    if model.outcome != "conversion" or not isinstance(mean, (int, float)):
        return None
    return float(np.clip(mean, -1, 1)) if math.isfinite(mean) else None


def customer_estimates(
    session: Session,
    customer_id: str,
    live: Mapping[str, tuple[str, UpliftModel]] | None,
) -> Estimates:
    """τ and segment per offer for one customer, read from the CATE store; an offer with a
    live model (``live``, from the ``ModelCache``; None: no cache) but no estimate for this
    customer gets the offer's average τ (``average_tau``) and is listed in ``unscored``.
    Runs no model and writes nothing (the decision path calls it). While no model is live
    (the estimates come only from models) the store is not read at all."""
    if live is not None and not live:
        return Estimates({}, {})
    return estimates_from(repository.estimates_of(session, customer_id), live)


def customers_estimates(
    session: Session,
    customer_ids: Collection[str],
    live: Mapping[str, tuple[str, UpliftModel]] | None,
) -> dict[str, Estimates]:
    """``customer_estimates`` of several customers, read in one statement."""
    if live is not None and not live:
        return {c: Estimates({}, {}) for c in customer_ids}
    stored = repository.estimates_of_many(session, customer_ids)
    return {c: estimates_from(rows, live) for c, rows in stored.items()}


async def stored_estimates_async(
    connection: psycopg.AsyncConnection[Any], customer_ids: Collection[str]
) -> dict[str, list[Any]]:
    """The stored CATE rows (offer_id, tau, segment) of several customers, by customer, in
    one statement on PostgreSQL's asyncio driver connection: the decision path's batched
    read (``estimates_from`` makes each customer's ``Estimates``). Writes nothing."""
    return await repository.estimates_of_many_async(connection, customer_ids)


def estimates_from(
    stored: Sequence[Any], live: Mapping[str, tuple[str, UpliftModel]] | None
) -> Estimates:
    """``customer_estimates`` from the customer's stored rows (offer_id, tau, lower, upper,
    segment); an interval is clipped to [−1, 1], like τ."""
    rows = {r.offer_id: r for r in stored}
    cate = {o: r.tau for o, r in rows.items() if -1 <= r.tau <= 1}
    intervals = {
        o: (max(-1.0, r.lower), min(1.0, r.upper))
        for o, r in rows.items()
        if o in cate and r.lower is not None and r.upper is not None and r.lower <= r.upper
    }
    segments = {o: r.segment for o, r in rows.items()}
    unscored: list[str] = []
    for offer_id, (_version, model) in (live or {}).items():
        if offer_id in rows:
            continue
        average = average_tau(model)
        if average is not None:
            cate[offer_id] = average
            unscored.append(offer_id)
    return Estimates(cate, segments, tuple(unscored), intervals)


class ScoreAhead:
    """Scores the customers the decision path met without an estimate, following the ledger.

    The decision path does nothing for it: every decision about a customer already records
    the customer as the engine saw them (``decisions.features``). Each ``run`` reads the
    decisions written since the last run (at most ``batch``; the first run starts
    ``backlog`` decisions before the newest), finds the (customer, offer) pairs of the live
    conversion models that have no estimate, scores them in one batch per offer on one
    OpenMP thread, and inserts their estimates (only what is still missing: a bulk scoring's
    row is never overwritten). A decision it does not see (written before its start, or
    committed after a later one it has passed) is made good at the customer's next decision
    or at the next bulk scoring; until then the customer has the offer's average τ.

    The server runs it in a process of its own at a low CPU priority
    (``service/background.py``): in a thread of each API worker, its scikit-learn calls
    held the interpreter's lock that requests need (p99 31 ms against 13 ms without it in
    the service benchmark's new-customer mix)."""

    def __init__(
        self, db: Database, models: ModelCache, *, batch: int = 5_000, backlog: int = 10_000
    ) -> None:
        self.db, self.models, self.batch, self.backlog = db, models, batch, backlog
        self.after: int | None = None  # the last decision's sequence number read
        self.behind = False  # the last run read a full batch: more decisions may wait

    def run(self) -> int:
        """Score and store what the decisions since the last run need; the number of
        estimates scored. ``self.after`` then names the last decision read."""
        live = {o: vm for o, vm in self.models.live().items() if vm[1].outcome == "conversion"}
        with self.db.read() as session:
            if self.after is None:
                self.after = max(0, repository.last_decision_seq(session) - self.backlog)
            read = repository.decisions_after(session, self.after, self.batch)
            if read:
                self.after = read[-1].seq
            self.behind = len(read) >= self.batch
            if not live or not read:
                return 0
            latest = {r.customer_id: r.seq for r in read}  # each customer's newest decision
            have = repository.estimated_pairs(session, latest)
            wanted = {c: [o for o in live if (c, o) not in have] for c in latest}
            wanted = {c: offers for c, offers in wanted.items() if offers}
            if not wanted:
                return 0
            stored = repository.features_of_decisions(session, [latest[c] for c in wanted])
        now = dt.datetime.now(dt.UTC)
        rows: list[EstimateRow] = []
        with threadpool_limits(1):  # OpenMP threads would spin on the cores requests need
            for offer_id, (version, model) in live.items():
                customers = [{"id": c, **stored[latest[c]]} for c, offers in wanted.items()
                             if offer_id in offers and stored.get(latest[c]) is not None]  # fmt: skip
                if customers:
                    rows += scored(version, model, offer_id, customers, now)
        if not rows:
            return 0
        with self.db.transaction() as session:  # lost in a crash: the next decision brings them
            return repository.insert_missing_estimates(session, rows, wait_for_disk=False)


def scored(
    version: str,
    model: UpliftModel,
    offer_id: str,
    customers: Sequence[Mapping[str, Any]],
    now: dt.datetime,
) -> list[EstimateRow]:
    """``_estimate_rows`` for a batch; when the batch cannot be scored (a customer's
    attribute of the wrong type: the encoder's or the learner's ValueError or TypeError),
    each customer alone, leaving out those that cannot."""
    try:
        return _estimate_rows(version, model, offer_id, customers, now)
    except (ValueError, TypeError):
        rows: list[EstimateRow] = []
        for c in customers:
            try:
                rows += _estimate_rows(version, model, offer_id, [c], now)
            except (ValueError, TypeError) as exc:
                log.warning("cannot score customer %r for %s: %s", c["id"], offer_id, exc)
        return rows
