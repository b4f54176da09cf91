"""Uplift from the ledger: training sets per offer, models, the CATE store, on-demand scoring.

**Training set per offer** (``exposures``): over the ``lookback_days`` (90), each customer's
first decision that involved the offer: *treated* when the offer was shown outside the
control group, *control* when the customer was in the control group and the offer is what
they would have got (the decision's counterfactual). The outcome is a convert event for that
offer by that customer within ``window_days`` (30) after the decision (and its value, for
``outcome="value"``); the features are the customer as the engine saw them at the decision
(attributes, holdings as ``holds:SKU``, segments as ``segment:NAME``; decisions written
before features were recorded use the customer's stored row). An offer with fewer than
``min_per_arm`` (50) customers in either arm gets no model: its τ stays unknown.

**Models** are stored per offer (newest is live) with their evaluation. The X-learner uses
the holdout's known assignment probability (1 − share: among customers the offer would be
chosen for, that share is treated) when the live snapshot has a holdout; otherwise it fits a
propensity model.

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
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from ...core.decision.spec import HoldoutSpec
from ...core.learning.features import columns_of
from ...core.learning.segments import SEGMENTS, Thresholds
from ...jobs.uplift import METHODS, UpliftDataError, UpliftModel, fit_model
from ..db import Database
from ..errors import InvalidInput, NotFound
from ..ledger.service import utc
from ..snapshots import service as snapshots
from . import repository
from .schemas import (
    LOOKBACK_DAYS,
    MIN_PER_ARM,
    WINDOW_DAYS,
    CustomerUplift,
    EstimateRow,
    Estimates,
    Exposure,
    ModelRow,
    OfferResult,
    Report,
    ReportOffer,
    StoredModel,
    Trained,
    TrainIn,
)

__all__ = [
    "Estimates",
    "Exposure",
    "ModelCache",
    "ScoreAhead",
    "Training",
    "average_tau",
    "check_windows",
    "customer_estimates",
    "customer_uplift",
    "estimates_from",
    "exposures",
    "feature_columns",
    "feature_row",
    "models",
    "prepare",
    "prepare_request",
    "report",
    "score_customers",
    "scored",
    "store",
    "stored_estimates_async",
    "train",
]

OUTCOMES = ("conversion", "value")
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


def _offers_of(row: Any) -> list[str]:
    if not row.control:
        return list(row.shown or ())
    placements = (row.decision or {}).get("counterfactual", ())
    return [s["offer"] for p in placements for s in p.get("offers", ())]


def exposures(
    session: Session,
    *,
    offer: str | None = None,
    experiment: str | None = None,
    window_days: int = WINDOW_DAYS,
    lookback_days: int = LOOKBACK_DAYS,
    now: dt.datetime | None = None,
) -> list[Exposure]:
    """Each customer's first exposure to each offer in the lookback, with its outcome."""
    now = now or dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(days=lookback_days)
    first: dict[tuple[str, str], Exposure] = {}
    for row in repository.decisions_since(session, since, experiment):
        for offer_id in _offers_of(row):
            if (offer is None or offer_id == offer) and (row.customer_id, offer_id) not in first:
                first[(row.customer_id, offer_id)] = Exposure(
                    row.customer_id, offer_id, row.id, utc(row.occurred_at), not row.control,
                    feature_row(row.features) if row.features is not None else None,
                )  # fmt: skip
    missing = sorted({e.customer_id for e in first.values() if e.features is None})
    if missing:  # decisions from before features were recorded: the stored customer
        stored = {c.id: feature_row(c._mapping) for c in repository.all_customers(session, missing)}
        for e in first.values():
            if e.features is None:
                e.features = stored.get(e.customer_id, {})
    window = dt.timedelta(days=window_days)
    for customer_id, offer_id, value, at in repository.conversions_between(session, since, now):
        hit = first.get((customer_id, offer_id))
        if hit is not None and hit.at <= utc(at) <= hit.at + window:
            hit.converted = 1
            hit.value += float(value or 0.0)
    return list(first.values())


def _holdout_share(session: Session) -> float | None:
    holdout = (snapshots.live_spec(session) or {}).get("holdout")
    return HoldoutSpec.model_validate(holdout).share if holdout else None


def check_windows(
    window_days: int, lookback_days: int, min_per_arm: int, fewest: int = 1
) -> list[dict[str, str]]:
    """The window, the lookback and the fewest customers per arm, as field errors."""
    return [
        {"field": name, "message": f"must be at least {low}"}
        for name, value, low in (
            ("window_days", window_days, 1),
            ("lookback_days", lookback_days, 1),
            ("min_per_arm", min_per_arm, fewest),
        )
        if value < low
    ]


def _check(
    method: str, outcome: str, window_days: int, lookback_days: int, min_per_arm: int
) -> None:
    errors = []
    if method not in METHODS:
        errors.append({"field": "method", "message": f"must be one of {', '.join(METHODS)}"})
    if outcome not in OUTCOMES:
        errors.append({"field": "outcome", "message": f"must be one of {', '.join(OUTCOMES)}"})
    errors += check_windows(window_days, lookback_days, min_per_arm, fewest=2)
    if errors:
        raise InvalidInput(errors)


@dataclass(frozen=True)
class Training:
    """A training run read from the ledger and fitted, not yet stored (``prepare``):
    ``results`` per offer, ``stored`` the model rows to insert, ``trained`` the fitted models
    by offer, ``estimates`` their scores for every customer stored when it read."""

    results: list[OfferResult]
    stored: list[StoredModel]
    trained: dict[str, tuple[str, UpliftModel]]
    estimates: list[EstimateRow]


def prepare(
    db: Database,
    *,
    offer: str | None = None,
    method: str = "x-learner",
    outcome: str = "conversion",
    window_days: int = WINDOW_DAYS,
    lookback_days: int = LOOKBACK_DAYS,
    min_per_arm: int = MIN_PER_ARM,
    n_bootstrap: int = 30,
    seed: int = 0,
    thresholds: Thresholds | None = None,
    score: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Training:
    """Read the ledger, train a model per offer and score every stored customer with it
    (``thresholds``: the segments' cut-offs, kept with the model), all in read-only
    transactions: fitting takes seconds to minutes, and on SQLite a write transaction holds
    the only write lock for that long (every decision and event would wait, then get 503).
    ``store`` writes the result."""
    _check(method, outcome, window_days, lookback_days, min_per_arm)
    now = dt.datetime.now(dt.UTC)
    with db.read() as session:
        data = exposures(session, offer=offer, window_days=window_days,
                         lookback_days=lookback_days, now=now)  # fmt: skip
        share = _holdout_share(session)
    by_offer: dict[str, list[Exposure]] = {}
    for e in data:
        by_offer.setdefault(e.offer_id, []).append(e)
    if offer is not None:
        by_offer.setdefault(offer, [])
    results: list[OfferResult] = []
    stored: list[StoredModel] = []
    trained: dict[str, tuple[str, UpliftModel]] = {}
    for offer_id, rows in sorted(by_offer.items()):
        if progress:
            progress(offer_id)
        treated = sum(e.treated for e in rows)
        control = len(rows) - treated
        result = OfferResult(offer=offer_id, treated=treated, control=control, trained=False)
        if min(treated, control) < min_per_arm:
            results.append({**result, "trained": False,
                            "reason": f"{treated} treated and {control} control customers; "
                                      f"at least {min_per_arm} per arm are needed, so τ stays "
                                      "unknown"})  # fmt: skip
            continue
        t = np.array([e.treated for e in rows], dtype=np.int8)
        y = np.array([e.converted if outcome == "conversion" else e.value for e in rows])
        try:
            model = fit_model(
                feature_columns([e.features or {} for e in rows]), t, y, method=method,
                outcome=outcome, propensity=None if share is None else 1 - share,
                n_bootstrap=n_bootstrap, thresholds=thresholds, seed=seed,
            )  # fmt: skip
        except UpliftDataError as exc:
            results.append({**result, "trained": False, "reason": exc.message})
            continue
        version = f"{offer_id}@{now:%Y%m%dT%H%M%S.%f}"
        model.report.update(window_days=window_days, lookback_days=lookback_days)
        stored.append({"version": version, "offer_id": offer_id, "method": method,
                       "outcome": outcome, "treated": treated, "control": control,
                       "report": _json(model.report), "model": model.dumps(),
                       "trained_at": now})  # fmt: skip
        trained[offer_id] = (version, model)
        results.append({**result, "trained": True, "version": version,
                        "qini": model.report.get("qini", {}).get("nextoffer"),
                        "mean_tau": model.report["mean_tau"]})  # fmt: skip
    estimates: list[EstimateRow] = []
    if score and trained:
        if progress:
            progress("scoring every customer")
        with db.read() as session:
            customers = [c._mapping for c in repository.all_customers(session)]
        estimates = _bulk_rows(trained, customers)
    return Training(results, stored, trained, estimates)


def store(session: Session, training: Training) -> Trained:
    """Write a prepared training: its models (each the newest, so live, for its offer) and
    their estimates (replacing the customers' earlier ones). A customer stored after
    ``prepare`` read keeps the offer's average τ until scored ahead or in bulk."""
    for row in training.stored:
        repository.store_model(session, row)
    scored = repository.upsert_estimates(session, training.estimates)
    return {"models": training.results, "scored": scored}


def prepare_request(db: Database, body: TrainIn) -> Training:
    """``prepare`` what an API request asks for."""
    return prepare(
        db, offer=body.offer, method=body.method, outcome=body.outcome,
        window_days=body.window_days, lookback_days=body.lookback_days,
        min_per_arm=body.min_per_arm, n_bootstrap=body.bootstrap, thresholds=body.thresholds(),
    )  # fmt: skip


def train(db: Database, **params: Any) -> Trained:
    """``prepare`` (``params``: its keywords), then ``store`` in one short transaction."""
    training = prepare(db, **params)
    with db.transaction() as session:
        return store(session, training)


def _json(report: dict[str, Any]) -> dict[str, Any]:
    """NaN (an empty calibration group) as null: JSON has no NaN."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return clean(report)  # type: ignore[no-any-return]


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


def _bulk_rows(
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
            trained[offer_id] = (row.version, UpliftModel.loads(blob))
    customers = [c._mapping for c in repository.all_customers(session)]
    return repository.upsert_estimates(session, _bulk_rows(trained, customers))


class ModelCache:
    """The live model of each offer, loaded once per version; checked every ``poll`` s."""

    def __init__(self, db: Database, poll: float = 1.0) -> None:
        self.db, self.poll = db, poll
        self._lock = threading.Lock()
        self._checked = -1e9
        self._live: dict[str, str] = {}
        self._loaded: dict[str, UpliftModel] = {}

    def cached(self) -> dict[str, tuple[str, UpliftModel]] | None:
        """The live models when they were checked within ``poll`` seconds, else None (no
        query: the event loop may call it; ``live()`` may read the database)."""
        return self._current() if time.monotonic() - self._checked < self.poll else None

    def live(self, check: bool = False) -> dict[str, tuple[str, UpliftModel]]:
        """The live models, checked again when ``check`` or ``poll`` seconds have passed."""
        if check or time.monotonic() - self._checked >= self.poll:
            with self._lock, self.db.read() as session:
                live = repository.live_versions(session)
                for version in set(live.values()) - set(self._loaded):
                    blob = repository.get_model(session, version)
                    if blob is not None:
                        self._loaded[version] = UpliftModel.loads(blob)
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
    """``customer_estimates`` from the customer's stored rows (offer_id, tau, segment)."""
    rows = {r.offer_id: r for r in stored}
    cate = {o: r.tau for o, r in rows.items() if -1 <= r.tau <= 1}
    segments = {o: r.segment for o, r in rows.items()}
    unscored: list[str] = []
    for offer_id, (_version, model) in (live or {}).items():
        if offer_id in rows:
            continue
        average = average_tau(model)
        if average is not None:
            cate[offer_id] = average
            unscored.append(offer_id)
    return Estimates(cate, segments, tuple(unscored))


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


def models(session: Session, offer: str | None = None) -> list[ModelRow]:
    """Every stored model (``offer``: of that offer only), newest first, with its evaluation."""
    return [
        {"version": r.version, "offer": r.offer_id, "method": r.method, "outcome": r.outcome,
         "treated": r.treated, "control": r.control, "trained_at": utc(r.trained_at).isoformat(),
         "report": r.report}
        for r in repository.list_models(session, offer)
    ]  # fmt: skip


def report(session: Session, offer: str | None = None) -> Report:
    """Per offer: the live model's evaluation (Qini in three conventions, AUUC, uplift@30%,
    calibration, the Qini curve's points) and the segment mix of the scored customers."""
    latest = repository.latest_models(session)
    if offer is not None:
        if offer not in latest:
            raise NotFound(f"no uplift model for offer {offer!r}: train one first")
        latest = {offer: latest[offer]}
    mix = repository.segment_mix(session)
    offers: list[ReportOffer] = []
    for offer_id, r in sorted(latest.items()):
        counts = mix.get(offer_id, {})
        offers.append({
            "offer": offer_id, "version": r.version, "method": r.method, "outcome": r.outcome,
            "trained_at": utc(r.trained_at).isoformat(), "treated": r.treated,
            "control": r.control, "evaluation": r.report,
            "segments": {s: counts.get(s, 0) for s in SEGMENTS},
        })  # fmt: skip
    return {"convention": "nextoffer (normalised area; equals scikit-uplift's on binary outcomes)",
            "offers": offers}  # fmt: skip


def customer_uplift(
    session: Session, customer_id: str, live: Mapping[str, tuple[str, UpliftModel]] | None
) -> CustomerUplift:
    """The customer's τ and segment per offer (``customer_estimates``), in offer order;
    ``scored`` is false for an offer whose τ is still the offer's average."""
    estimates = customer_estimates(session, customer_id, live)
    cate, segments, unscored = estimates.cate, estimates.segments, set(estimates.unscored)
    return {"customer_id": customer_id,
            "offers": [{"offer": o, "tau": cate.get(o), "segment": segments.get(o),
                        "scored": o not in unscored}
                       for o in sorted(set(cate) | set(segments))]}  # fmt: skip
