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

The CATE store, live models and scoring ahead are ``estimates.py``'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from ...core.decision.spec import HoldoutSpec
from ...core.learning.segments import SEGMENTS, Thresholds
from ...jobs.uplift import METHODS, UpliftDataError, UpliftModel, fit_model
from ..archive import service as archive
from ..db import Database
from ..errors import InvalidInput, NotFound
from ..ledger.service import utc
from ..snapshots import service as snapshots
from . import repository
from .estimates import bulk_rows, customer_estimates, feature_columns, feature_row
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
    "Training",
    "check_windows",
    "customer_uplift",
    "exposures",
    "models",
    "prepare",
    "prepare_request",
    "report",
    "store",
    "train",
]

OUTCOMES = ("conversion", "value")


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
    archived: archive.ArchiveView | None = None,
) -> list[Exposure]:
    """Each customer's first exposure to each offer in the lookback, with its outcome
    (``archived``: the archive's rows of the lookback too, as if never archived)."""
    now = now or dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(days=lookback_days)
    decided = repository.decisions_since(session, since, experiment)
    converted = repository.conversions_between(session, since, now)
    if archived is not None:
        wanted: list[archive.Condition] = [("customer_id", "not null", None)]
        if experiment is not None:
            wanted.append(("experiment", "==", experiment))
        old = archive.archived_rows(archived, "decisions", repository.DECISION_COLUMNS,
                                    since=since, where=wanted)  # fmt: skip
        decided = archive.merged(archived, old, decided)
        old = archive.archived_rows(
            archived, "events", repository.CONVERSION_COLUMNS, since=since, until=now,
            where=[("type", "==", "convert"), ("offer_id", "not null", None),
                   ("attributed", "true", None), ("customer_id", "not null", None)],
        )  # fmt: skip
        converted = archive.merged(archived, old, converted)
    first: dict[tuple[str, str], Exposure] = {}
    for row in decided:
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
    for row in converted:
        hit = first.get((row.customer_id, row.offer_id))
        if hit is not None and hit.at <= utc(row.occurred_at) <= hit.at + window:
            hit.converted = 1
            hit.value += float(row.value or 0.0)
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
    by offer, ``estimates`` their scores for every customer stored when it read; what it
    read of an archive (``archived``), and the archived months of the lookback it did not
    read (``unread``)."""

    results: list[OfferResult]
    stored: list[StoredModel]
    trained: dict[str, tuple[str, UpliftModel]]
    estimates: list[EstimateRow]
    archived: archive.ArchiveView | None = None
    unread: list[str] = field(default_factory=list)


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
    archive_dir: Path | None = None,
    now: dt.datetime | None = None,
) -> Training:
    """Read the ledger, train a model per offer and score every stored customer with it
    (``thresholds``: the segments' cut-offs, kept with the model), all in read-only
    transactions: fitting takes seconds to minutes, and on SQLite a write transaction holds
    the only write lock for that long (every decision and event would wait, then get 503).
    ``store`` writes the result."""
    _check(method, outcome, window_days, lookback_days, min_per_arm)
    now = now or dt.datetime.now(dt.UTC)
    with db.read() as session:
        view = None if archive_dir is None else archive.open_archive(session, archive_dir)
        data = exposures(session, offer=offer, window_days=window_days,
                         lookback_days=lookback_days, now=now, archived=view)  # fmt: skip
        share = _holdout_share(session)
        unread = archive.unread(session, view, now - dt.timedelta(days=lookback_days))
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
        estimates = bulk_rows(trained, customers)
    return Training(results, stored, trained, estimates, view, unread)


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
