"""Off-policy evaluation from the ledger: what a target would have earned on the logged
decisions.

``evaluate`` reads the decisions logged in the last ``days`` (on one channel, or all),
with their outcomes, and replays each on the target snapshot in the core
(``core.learning.ope.logs``): the target's probabilities over each logged slot's
candidates, the rewards and the reward model. The core's estimators (IPS, SNIPS, DM, DR,
switch-DR, DRos) then estimate two metrics, each with a bootstrap interval, the effective
sample size, the largest weight and the support's warnings, next to the logging strategy's
own observed value:

- **acceptance**: the share of the offers shown (one per logged slot) that were accepted:
  an attributed accept event naming the decision and the offer;
- **revenue**: per decision, the value of the conversions of the offers shown: attributed
  convert events naming the decision and the offer (the estimate per slot times the slots
  per decision).

An outcome counts within ``window_days`` (30, as in the uplift and experiment reports)
after its decision. The target is a draft (``draft_target``: snapshot data, checked as a
publish checks it, with the ledger's attach counts merged into its own), a stored snapshot
version (``stored_target``) or the live snapshot.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from sqlalchemy.orm import Session

from ...core.decision import Snapshot, SnapshotError, build_snapshot
from ...core.learning.ope import ESTIMATORS, support
from ...core.learning.ope import evaluate as estimate_all
from ...core.learning.ope.logs import METRICS, LoggedDecision, Replay, logged, replay
from ..archive import service as archive
from ..errors import InvalidInput
from ..ledger.service import utc
from ..snapshots import service as snapshots
from ..uplift.schemas import WINDOW_DAYS
from . import repository
from .schemas import (
    MAX_DAYS,
    MAX_DECISIONS,
    EstimateRow,
    Evaluation,
    Metric,
    SupportReport,
    TargetInfo,
)

__all__ = [
    "CONFIDENCE",
    "RESAMPLES",
    "TargetKind",
    "draft_target",
    "evaluate",
    "ledger_now",
    "live_target",
    "replayed",
    "stored_target",
    "summary",
    "value_per_accept",
    "versions",
]

CONFIDENCE = 0.95
RESAMPLES = 1000
UNITS = {
    "acceptance": "accepted per offer shown",
    "revenue": "conversion value per decision",
}
TargetKind = Literal["draft", "snapshot", "live"]


def ledger_now(session: Session) -> dt.datetime:
    """The ledger's clock (the database server's): the end of the window an evaluation
    reads, on the clock that timed the decisions and their outcomes."""
    return repository.ledger_now(session)


def versions(session: Session, limit: int = 100) -> list[str]:
    """The newest stored snapshot versions, newest first (what can be evaluated)."""
    return repository.snapshot_versions(session, limit)


def stored_target(session: Session, version: str) -> Snapshot:
    """Stored snapshot ``version``, built; refused (naming ``snapshot``) when there is none."""
    spec = repository.snapshot_spec(session, version)
    if spec is None:
        newest = ", ".join(versions(session, 5)) or "none published yet"
        raise InvalidInput.one("snapshot", f"no snapshot version {version!r} (newest: {newest})")
    try:
        return build_snapshot(spec, published=True)
    except SnapshotError as exc:  # pragma: no cover - stored snapshots were built to be stored
        raise InvalidInput([{"field": f"snapshot.{d.path}", "message": d.message}
                            for d in exc.diagnostics]) from None  # fmt: skip


def live_target(session: Session) -> Snapshot:
    """The newest published snapshot, built (what the live path runs); refused (naming
    ``snapshot``) before the first publish."""
    spec = snapshots.live_spec(session)
    if spec is None:
        raise InvalidInput.one("snapshot", "no snapshot is published yet: nothing is live")
    return build_snapshot(spec, published=True)


def draft_target(session: Session, draft: object, field: str = "draft") -> Snapshot:
    """A draft snapshot (its data, as a snapshot file holds it), checked as a publish checks
    it, every problem named at ``field``.<its place>; with the ledger's attach counts merged
    into its own, as a publish would."""
    if not isinstance(draft, Mapping):
        raise InvalidInput.one(field, "must be a snapshot: an object with products, offers, "
                                      "channels, … (as a snapshot file holds it)")  # fmt: skip
    spec = {**draft, "version": draft.get("version") or "draft"}
    published = snapshots.published_rules(session)
    found = snapshots.problems(spec, published)
    if found:
        raise InvalidInput([{"field": f"{field}.{p['field']}", "message": p["message"]}
                            for p in found])  # fmt: skip
    offers = {o["id"] for o in spec.get("offers", ())}
    channels = {c["id"] for c in spec.get("channels", ())}
    spec["attach"] = snapshots.merged_counts(session, list(spec.get("attach") or []), offers,
                                             channels)  # fmt: skip
    return build_snapshot(spec, published=published)


def _check(target: Snapshot, days: int, channel: str | None, window_days: int) -> None:
    errors = []
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        errors.append({"field": "days", "message": f"must be a whole number from 1 to {MAX_DAYS}, "
                                                   f"got {days!r}"})  # fmt: skip
    if channel is not None and channel not in target.channels:
        known = ", ".join(sorted(target.channels)) or "none"
        errors.append({"field": "channel", "message": f"unknown channel {channel!r} (the "
                                                      f"target's channels: {known})"})  # fmt: skip
    if window_days < 1:
        errors.append({"field": "window_days", "message": "must be at least 1"})
    if errors:
        raise InvalidInput(errors)


def _outcomes(
    session: Session,
    rows: list[Any],
    window: dt.timedelta,
    archived: archive.ArchiveView | None = None,
    since: dt.datetime | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Per decision and offer: accepted (1.0) and the value of its conversions, counting the
    events within ``window`` after the decision (in ``seq`` order; with ``archived``, the
    archive's events since ``since`` too)."""
    at = {row.id: utc(row.occurred_at) for row in rows}
    accepted: dict[str, dict[str, float]] = {}
    revenue: dict[str, dict[str, float]] = {}
    found = sorted(repository.outcomes(session, list(at)), key=lambda row: row.seq)
    if archived is not None and at:
        old = archive.archived_rows(
            archived, "events", repository.OUTCOME_COLUMNS, since=since,
            where=[("decision_id", "in", list(at)), ("type", "in", repository.OUTCOME_TYPES),
                   ("offer_id", "not null", None), ("attributed", "true", None)],
        )  # fmt: skip
        found = archive.merged(archived, old, found)
    for _, decision_id, offer_id, kind, value, occurred_at in found:
        start = at[decision_id]
        if not start <= utc(occurred_at) <= start + window:
            continue
        if kind == "accept":
            accepted.setdefault(decision_id, {})[offer_id] = 1.0
        else:
            mine = revenue.setdefault(decision_id, {})
            mine[offer_id] = mine.get(offer_id, 0.0) + float(value or 0.0)
    return accepted, revenue


def _logs(
    rows: list[Any],
    accepted: dict[str, dict[str, float]],
    revenue: dict[str, dict[str, float]],
    progress: Callable[[int, int], None] | None,
) -> Iterator[LoggedDecision]:
    for i, row in enumerate(rows):
        if progress is not None and i % 200 == 0:
            progress(i, len(rows))
        yield logged(id=row.id, channel=row.channel, occurred_at=utc(row.occurred_at),
                     customer_id=row.customer_id, control=bool(row.control),
                     request=row.request or {}, decision=row.decision or {},
                     features=row.features, accepted=accepted.get(row.id),
                     revenue=revenue.get(row.id))  # fmt: skip
    if progress is not None:
        progress(len(rows), len(rows))


def _metric(done: Replay, metric: str, seed: int, resamples: int) -> tuple[Metric, list[str]]:
    data = done.data[metric]
    observed = done.observed[metric]
    if data is None:
        return {"unit": UNITS[metric], "observed": None, "estimates": []}, []
    # revenue per decision: the estimate per logged slot times the slots per decision
    scale = data.rows / done.decisions if metric == "revenue" else 1.0
    rows: list[EstimateRow] = []
    warnings: list[str] = []
    for e in estimate_all(data, confidence=CONFIDENCE, resamples=resamples, seed=seed):
        warnings = list(e.warnings)
        rows.append({"estimator": e.estimator, "formula": ESTIMATORS[e.estimator].formula,
                     "parameters": dict(e.parameters), "value": e.value * scale,
                     "low": e.interval[0] * scale, "high": e.interval[1] * scale,
                     "standard_error": e.standard_error * scale,
                     "effective_sample_size": e.effective_sample_size,
                     "max_weight": e.max_weight, "warnings": list(e.warnings)})  # fmt: skip
    value = None if observed is None else observed * scale
    return {"unit": UNITS[metric], "observed": value, "estimates": rows}, warnings


def _support(done: Replay) -> SupportReport | None:
    data = done.data[METRICS[0]]
    if data is None:
        return None
    s, c = support(data), done.coverage
    return {"rows": s.rows, "effective_sample_size": s.effective_sample_size,
            "max_weight": s.max_weight, "zero_weight_rows": s.zero_weight_rows,
            "deterministic_rows": c.deterministic_rows,
            "deterministic_differing": c.deterministic_differing, "outside_rows": c.outside_rows,
            "outside_mass": c.outside_mass, "empty_rows": c.empty_rows}  # fmt: skip


def value_per_accept(
    accepted: Mapping[str, Mapping[str, float]], revenue: Mapping[str, Mapping[str, float]]
) -> dict[str, float]:
    """Per offer, what an accept earned on average in the logs: the value of the
    conversions of the decisions that accepted it, per accept (the revenue reward model's
    value; offers never accepted are left out)."""
    accepts: Counter[str] = Counter()
    earned: dict[str, float] = {}
    for decision_id, offers in accepted.items():
        for offer in offers:
            accepts[offer] += 1
            earned[offer] = earned.get(offer, 0.0) + revenue.get(decision_id, {}).get(offer, 0.0)
    return {offer: earned[offer] / n for offer, n in accepts.items()}


def replayed(
    session: Session,
    target: Snapshot,
    *,
    days: int,
    channel: str | None,
    now: dt.datetime,
    window_days: int = WINDOW_DAYS,
    progress: Callable[[int, int], None] | None = None,
    archived: archive.ArchiveView | None = None,
) -> tuple[list[Any], Replay]:
    """The decisions logged in the ``days`` before ``now`` (on ``channel``, or every
    channel), read with their outcomes and replayed on ``target`` (``core``'s ``replay``):
    what ``evaluate`` estimates from, and what a simulator that knows its true rates
    values the target on (the demo). Bad input is refused naming its field. With
    ``archived``, the archive's decisions and outcomes of the window are read too."""
    _check(target, days, channel, window_days)
    since = now - dt.timedelta(days=days)
    rows = repository.logged_decisions(session, since, now, channel, MAX_DECISIONS)
    if archived is not None:
        wanted: list[archive.Condition] = [] if channel is None else [("channel", "==", channel)]
        old = archive.archived_rows(archived, "decisions", repository.DECISION_COLUMNS,
                                    since=since, until=now, where=wanted)  # fmt: skip
        rows = archive.merged(archived, old, rows)[-MAX_DECISIONS:]
    accepted, revenue = _outcomes(session, rows, dt.timedelta(days=window_days), archived, since)
    values = value_per_accept(accepted, revenue)
    return rows, replay(target, _logs(rows, accepted, revenue, progress), values)


def evaluate(
    session: Session,
    target: Snapshot,
    *,
    days: int,
    channel: str | None,
    now: dt.datetime,
    seed: int = 0,
    target_kind: TargetKind = "snapshot",
    window_days: int = WINDOW_DAYS,
    resamples: int = RESAMPLES,
    progress: Callable[[int, int], None] | None = None,
    archived: archive.ArchiveView | None = None,
) -> Evaluation:
    """What ``target`` would have earned on the decisions logged in the ``days`` before
    ``now`` (on ``channel``, or every channel), by every estimator, for both metrics (see
    the module). ``seed`` seeds the bootstrap; ``progress(done, total)`` is called as the
    decisions are replayed. Bad input is refused naming its field (``days``, ``channel``);
    a window with no logged decisions is an answer (``message``), not an error."""
    rows, done = replayed(session, target, days=days, channel=channel, now=now,
                          window_days=window_days, progress=progress, archived=archived)  # fmt: skip
    return summary(
        target,
        rows,
        done,
        days=days,
        channel=channel,
        now=now,
        seed=seed,
        target_kind=target_kind,
        window_days=window_days,
        resamples=resamples,
    )


def summary(
    target: Snapshot,
    rows: list[Any],
    done: Replay,
    *,
    days: int,
    channel: str | None,
    now: dt.datetime,
    seed: int = 0,
    target_kind: TargetKind = "snapshot",
    window_days: int = WINDOW_DAYS,
    resamples: int = RESAMPLES,
) -> Evaluation:
    """``evaluate``'s answer from what ``replayed`` gave: every estimator for both metrics,
    the diagnostics and the warnings."""
    since = now - dt.timedelta(days=days)
    metrics: dict[str, Metric] = {}
    warnings: list[str] = []
    for metric in METRICS:
        metrics[metric], found = _metric(done, metric, seed, resamples)
        warnings += [w for w in found if w not in warnings]
    warnings += done.coverage.warnings()
    truncated = len(rows) >= MAX_DECISIONS
    if truncated:
        warnings.append(f"only the newest {MAX_DECISIONS:,} logged decisions were read")
    where = f" on channel {channel!r}" if channel is not None else ""
    message = None
    if not rows:
        message = f"no logged decisions{where} in the last {days} days"
    elif done.data[METRICS[0]] is None:
        message = (f"none of the {len(rows)} logged decisions{where} in the last {days} days "
                   f"can be evaluated (see skipped)")  # fmt: skip
    channels = [channel] if channel is not None else sorted(target.channels)
    info: TargetInfo = {"kind": target_kind, "version": target.version,
                        "strategies": {c: target.channels[c].strategy_text for c in channels}}  # fmt: skip
    return {
        "target": info,
        "days": days,
        "channel": channel,
        "since": since.isoformat(),
        "until": now.isoformat(),
        "window_days": window_days,
        "confidence": CONFIDENCE,
        "decisions_read": len(rows),
        "decisions_used": done.decisions,
        "skipped": dict(sorted(done.skipped.items(), key=lambda kv: -kv[1])),
        "truncated": truncated,
        "logging_strategies": dict(done.strategies),
        "metrics": metrics,
        "support": _support(done),
        "warnings": warnings,
        "message": message,
    }
