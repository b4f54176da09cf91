"""Strategy experiments under four eyes: propose, start, stop, promote; and their reports.

- An author (or an approver) **proposes** a definition (``StrategyExperimentSpec``),
  checked against the live snapshot: known channels, stored snapshot versions that have
  those channels, and every arm's snapshot builds. Every problem names its field.
- An approver who did not propose it **starts** it (four eyes, unless an admin allowed
  self-approval for the install); at most one experiment runs on a channel. The arms are
  checked again against the live snapshot of that moment.
- Any approver **stops** a running experiment.
- An approver who did not propose it **promotes** an arm of a running or stopped
  experiment, never automatically: a strategy arm's strategy becomes its channels'
  strategy in a new published snapshot, a snapshot arm's snapshot is published (with the
  live holdout, as it ran), the champion keeps the live snapshot; the experiment ends.

Every action is in the audit log (``experiment_propose``, ``experiment_start``,
``experiment_stop``, ``experiment_promote``) with its actor and reason.

**The report.** Customers are the units: each customer is in one arm (the split is
deterministic). Per arm: its decisions, its customers, the customers who accepted an offer
of one of their decisions in the arm (an ``accept`` event naming it), those who converted
(a ``convert`` event naming one) and the revenue (the convert events' values). Acceptance
and conversion come with Wilson 95% intervals and revenue per decision; with
``core.stats.compare`` each arm against the holdout's control group (its control decisions
on the experiment's channels while it ran, when the holdout covers them: conversions the
control customers made on what they would have got) and each challenger against the
champion (the ``live`` arm; without one, the first arm). An arm with fewer than
``min_per_arm`` customers is flagged ``insufficient_data``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from ...core.decision import StrategyExperimentSpec, StrategySpec, build_snapshot
from ...core.stats import compare, wilson
from ..catalog import repository as catalog
from ..catalog.schemas import KINDS, PLURAL, SettingsSpec
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..ledger.service import utc
from ..rules.service import self_approval
from ..snapshots import service as snapshots
from . import repository
from .arms import ArmError, compile_arms
from .schemas import ArmReport, ExperimentOut, Report

__all__ = ["check", "get", "list_experiments", "promote", "propose", "report", "start", "stop"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else utc(value).isoformat()


def _out(row: Any) -> ExperimentOut:
    return {"id": row.id, "status": row.status, "definition": row.definition,
            "proposer": row.proposer, "reason": row.reason, "created_at": utc(row.created_at).isoformat(),
            "started_by": row.started_by, "started_at": _iso(row.started_at),
            "stopped_by": row.stopped_by, "stopped_at": _iso(row.stopped_at),
            "stop_reason": row.stop_reason, "promoted_by": row.promoted_by,
            "promoted_at": _iso(row.promoted_at), "promotion_reason": row.promotion_reason,
            "promoted_arm": row.promoted_arm,
            "promoted_version": row.promoted_version}  # fmt: skip


def check(session: Session, definition: object) -> StrategyExperimentSpec:
    """The definition, validated and checked against the live snapshot; every problem is an
    ``InvalidInput`` error naming its field (``arms.1.strategy.scoring.weights``)."""
    try:
        spec = StrategyExperimentSpec.model_validate(definition)
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from None
    live = snapshots.live_spec(session)
    if live is None:
        raise InvalidInput.one("channels", "nothing is published yet: no channel to run on")
    live_snapshot = build_snapshot(live, published=True)
    errors: list[dict[str, str]] = []
    known = sorted(live_snapshot.channels)
    for i, channel in enumerate(spec.channels):
        if channel not in live_snapshot.channels:
            errors.append({"field": f"channels.{i}",
                           "message": f"unknown channel {channel!r} (known: {', '.join(known)})"})  # fmt: skip
    stored: dict[str, dict[str, Any]] = {}
    for i, arm in enumerate(spec.arms):
        if arm.snapshot is None or arm.champion:
            continue
        found = snapshots.stored_spec(session, arm.snapshot)
        if found is None:
            errors.append({"field": f"arms.{i}.snapshot",
                           "message": f"no stored snapshot {arm.snapshot!r} (or 'live')"})  # fmt: skip
            continue
        has = {c.get("id") for c in found.get("channels") or ()}
        missing = [c for c in spec.channels if c not in has]
        if missing:
            errors.append({"field": f"arms.{i}.snapshot",
                           "message": f"snapshot {arm.snapshot} has no channel {', '.join(missing)}"})  # fmt: skip
        stored[arm.snapshot] = found
    if errors:
        raise InvalidInput(errors)
    try:
        compile_arms(spec, live_snapshot, stored)
    except ArmError as exc:
        raise InvalidInput([{"field": f"arms.{exc.index}", "message": f"{path}: {message}"}
                            for path, message in exc.problems]) from None  # fmt: skip
    return spec


def propose(session: Session, actor: str, definition: object, reason: str = "") -> ExperimentOut:
    """Store a checked definition as a proposed experiment (its id must be new)."""
    spec = check(session, definition)
    if repository.get(session, spec.id) is not None:
        raise Conflict(f"an experiment {spec.id!r} exists already; choose another id")
    now = _now()
    repository.insert(session, {
        "id": spec.id, "definition": spec.model_dump(mode="json", exclude_unset=True),
        "status": "proposed", "proposer": actor, "reason": reason, "created_at": now,
        "updated_at": now,
    })  # fmt: skip
    repository.record(session, "experiment_propose", actor, spec.id, {"reason": reason})
    return get(session, spec.id)


def _row(session: Session, experiment_id: str, *, for_update: bool = False) -> Any:
    row = repository.get(session, experiment_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no strategy experiment {experiment_id!r}")
    return row


def _four_eyes(session: Session, row: Any, actor: str, what: str) -> None:
    if row.proposer == actor and not self_approval(session):
        raise Forbidden(f"four eyes: an experiment cannot be {what} by the one who proposed it")


def start(session: Session, actor: str, experiment_id: str, reason: str = "") -> ExperimentOut:
    """Start a proposed experiment: four eyes; its channels free; its arms build."""
    repository.lock_all(session)  # one start at a time: one experiment per channel
    row = _row(session, experiment_id, for_update=True)
    _four_eyes(session, row, actor, "started")
    if row.status != "proposed":
        raise Conflict(f"experiment {experiment_id!r} is {row.status}; only a proposed one starts")
    spec = check(session, row.definition)
    for other in repository.running(session):
        taken = set(StrategyExperimentSpec.model_validate(other.definition).channels)
        clash = sorted(taken & set(spec.channels))
        if clash:
            raise Conflict(f"experiment {other.id!r} runs on {', '.join(clash)} already; stop "
                           "it first (one experiment per channel)")  # fmt: skip
    now = _now()
    repository.update(session, experiment_id, {
        "status": "running", "started_by": actor, "started_at": now,
        "started_seq": repository.last_decision(session), "updated_at": now})  # fmt: skip
    repository.record(session, "experiment_start", actor, experiment_id, {"reason": reason})
    return get(session, experiment_id)


def stop(session: Session, actor: str, experiment_id: str, reason: str = "") -> ExperimentOut:
    """Stop a running experiment (any approver): its customers go back to the live snapshot."""
    row = _row(session, experiment_id, for_update=True)
    if row.status != "running":
        raise Conflict(f"experiment {experiment_id!r} is {row.status}; only a running one stops")
    now = _now()
    repository.update(session, experiment_id, {
        "status": "stopped", "stopped_by": actor, "stopped_at": now, "stop_reason": reason,
        "stopped_seq": repository.last_decision(session), "updated_at": now})  # fmt: skip
    repository.record(session, "experiment_stop", actor, experiment_id, {"reason": reason})
    return get(session, experiment_id)


def promote(
    session: Session, actor: str, experiment_id: str, arm_name: str, reason: str
) -> ExperimentOut:
    """Promote an arm of a running or stopped experiment (four eyes): its strategy or its
    snapshot is published (the champion: the live snapshot stays); the experiment ends."""
    row = _row(session, experiment_id, for_update=True)
    _four_eyes(session, row, actor, "promoted")
    if row.status not in ("running", "stopped"):
        raise Conflict(f"experiment {experiment_id!r} is {row.status}; only a running or "
                       "stopped one is promoted")  # fmt: skip
    spec = StrategyExperimentSpec.model_validate(row.definition)
    arm = spec.arm(arm_name)
    if arm is None:
        names = ", ".join(a.name for a in spec.arms)
        raise InvalidInput.one("arm", f"no arm {arm_name!r} in {experiment_id} (arms: {names})")
    live = snapshots.live_spec(session)
    if live is None:  # pragma: no cover - an experiment started on a published snapshot
        raise Conflict("nothing is published")
    cause = f"strategy-experiment {experiment_id}: arm {arm.name}"
    if arm.champion:
        version = str(live["version"])
    elif arm.strategy is not None:
        _strategy_in_catalog(session, spec.channels, arm.strategy)
        new = {**live, "channels": [_with_strategy(c, spec.channels, arm.strategy)
                                    for c in live.get("channels") or ()]}  # fmt: skip
        took = {"channels": {"changed": sorted(spec.channels)}}
        version = snapshots.store(session, new, actor=actor, cause=cause, took_live=took)["version"]
    else:
        assert arm.snapshot is not None
        stored = snapshots.stored_spec(session, arm.snapshot)
        if stored is None:
            raise Conflict(f"snapshot {arm.snapshot!r} is no longer stored")
        new = {**stored, "holdout": live.get("holdout"), "rules": snapshots.live_rules(session)}
        took = {"snapshot": {"changed": [arm.snapshot]}}
        version = snapshots.store(session, new, actor=actor, cause=cause, took_live=took)["version"]
        _catalog_as(session, new)
    now = _now()
    ending: dict[str, Any] = {"status": "promoted", "promoted_by": actor, "promoted_at": now,
                              "promotion_reason": reason, "promoted_arm": arm.name,
                              "promoted_version": version, "updated_at": now}  # fmt: skip
    if row.status == "running":
        ending |= {"stopped_by": actor, "stopped_at": now, "stop_reason": f"promoted {arm.name}: {reason}",
                   "stopped_seq": repository.last_decision(session)}  # fmt: skip
    repository.update(session, experiment_id, ending)
    repository.record(session, "experiment_promote", actor, experiment_id,
                      {"arm": arm.name, "version": version, "reason": reason})  # fmt: skip
    return get(session, experiment_id)


def _strategy_in_catalog(
    session: Session, channels: tuple[str, ...], strategy: StrategySpec
) -> None:
    """The promoted strategy in the catalog's channel items too: the next catalog publish
    (which builds from the catalog) keeps it. Other pending edits stay pending."""
    for channel in channels:
        item = catalog.get_item(session, "channel", channel)
        if item is not None:
            catalog.update_item(session, "channel", channel,
                                _with_strategy(dict(item), channels, strategy), _now())  # fmt: skip


def _catalog_as(session: Session, spec: dict[str, Any]) -> None:
    """The catalog tables as a promoted snapshot's catalog (built and stored already): its
    products, offers, channels, policies and settings (the catalog's own attach counts
    kept), every other item removed. Pending edits are replaced: the snapshot won."""
    now = _now()
    settings = {k: v for k, v in spec.items() if k in SettingsSpec.model_fields and k != "attach"}
    current = catalog.get_item(session, "settings", "default") or {}
    if "attach" in current:
        settings["attach"] = current["attach"]
    _put(session, "settings", "default", settings, now)
    for kind, plural in PLURAL.items():
        key = KINDS[kind][1]
        items = {item[key]: item for item in spec.get(plural) or ()}
        for item_id, item in items.items():
            _put(session, kind, item_id, item, now)
        for item in catalog.list_items(session, kind):
            if item[key] not in items:
                catalog.delete_item(session, kind, str(item[key]))


def _put(session: Session, kind: str, item_id: str, item: dict[str, Any], now: dt.datetime) -> None:
    if catalog.get_item(session, kind, item_id) is None:
        catalog.insert_item(session, kind, item_id, item, now)
    else:
        catalog.update_item(session, kind, item_id, item, now)


def _with_strategy(
    channel: dict[str, Any], channels: tuple[str, ...], strategy: StrategySpec
) -> dict[str, Any]:
    """A stored channel with ``strategy`` when it is one of ``channels`` (what the strategy
    leaves out, and every other field, as stored)."""
    if channel.get("id") not in channels:
        return channel
    out = dict(channel)
    if strategy.scoring is not None:
        out["scoring"] = strategy.scoring.model_dump(mode="json", exclude_none=True)
    if strategy.exploration is not None:
        out["exploration"] = strategy.exploration.model_dump(mode="json", exclude_none=True)
    return out


def get(session: Session, experiment_id: str) -> ExperimentOut:
    return _out(_row(session, experiment_id))


def list_experiments(session: Session, status: str | None = None) -> list[ExperimentOut]:
    """Every strategy experiment (of ``status``), newest first."""
    return [_out(r) for r in repository.list_all(session, status)]


class _Units:
    """Customers of one arm (or of the control group): their decisions and outcomes."""

    def __init__(self) -> None:
        self.decisions = 0
        self.by_customer: dict[str, list[str]] = {}

    def add(self, decision_id: str, customer_id: str | None) -> None:
        self.decisions += 1
        if customer_id is not None:
            self.by_customer.setdefault(customer_id, []).append(decision_id)


def _arm_report(
    name: str, kind: str, share: float | None, units: _Units,
    outcomes: dict[str, tuple[bool, bool, float]], min_per_arm: int,
) -> tuple[ArmReport, list[float], list[float]]:  # fmt: skip
    accepted, converted, values = 0, [], []
    for ids in units.by_customer.values():
        seen = [outcomes.get(i, (False, False, 0.0)) for i in ids]
        accepted += any(a for a, _, _ in seen)
        converted.append(1.0 if any(c for _, c, _ in seen) else 0.0)
        values.append(sum(v for _, _, v in seen))
    n, x, revenue = len(values), int(sum(converted)), float(sum(values))
    out: ArmReport = {
        "arm": name, "kind": kind, "share": share, "decisions": units.decisions,
        "customers": n, "accepted": accepted, "acceptance": accepted / n if n else 0.0,
        "acceptance_interval": wilson(accepted, n), "converted": x,
        "conversion": x / n if n else 0.0, "conversion_interval": wilson(x, n),
        "revenue": revenue, "revenue_per_decision": revenue / units.decisions if units.decisions else 0.0,
        "insufficient_data": n < min_per_arm, "against_control": None, "against_champion": None,
    }  # fmt: skip
    return out, converted, values


def report(session: Session, experiment_id: str, *, min_per_arm: int = 50) -> Report:
    """Per arm, and the arms against the control group and the champion (see the module)."""
    if not 1 <= min_per_arm <= 1_000_000:
        raise InvalidInput.one("min_per_arm", "must be between 1 and 1,000,000")
    row = _row(session, experiment_id)
    spec = StrategyExperimentSpec.model_validate(row.definition)
    arms = {a.name: _Units() for a in spec.arms}
    for d in repository.arm_decisions(session, experiment_id):
        if d.arm in arms:
            arms[d.arm].add(d.id, d.customer_id)
    control: _Units | None = None
    if row.started_seq is not None:
        found = repository.control_decisions(session, spec.channels, row.started_seq,
                                             row.stopped_seq)  # fmt: skip
        if found:
            control = _Units()
            for d in found:
                control.add(d.id, d.customer_id)
    groups = [*arms.values(), *([control] if control is not None else [])]
    ids = [i for g in groups for of_customer in g.by_customer.values() for i in of_customer]
    outcomes: dict[str, tuple[bool, bool, float]] = {}
    for decision_id, event, value in repository.outcomes(session, ids):
        accepted, converted, revenue = outcomes.get(decision_id, (False, False, 0.0))
        if event == "accept":
            accepted = True
        else:
            converted, revenue = True, revenue + float(value or 0.0)
        outcomes[decision_id] = (accepted, converted, revenue)
    champion = next((a.name for a in spec.arms if a.champion), spec.arms[0].name)
    reports: dict[str, tuple[ArmReport, list[float], list[float]]] = {}
    for arm in spec.arms:
        kind = "champion" if arm.champion else "strategy" if arm.strategy else "snapshot"
        reports[arm.name] = _arm_report(arm.name, kind, arm.share, arms[arm.name], outcomes,
                                        min_per_arm)  # fmt: skip
    control_report = None
    if control is not None:
        control_report = _arm_report("control", "control", None, control, outcomes, min_per_arm)
    _, cc, cv = control_report if control_report else (None, [], [])
    _, hc, hv = reports[champion]
    for name, (out, conv, val) in reports.items():
        if control_report is not None:
            out["against_control"] = compare(conv, val, cc, cv, min_per_arm=min_per_arm).to_dict()
        if name != champion:
            out["against_champion"] = compare(conv, val, hc, hv, min_per_arm=min_per_arm).to_dict()
    return {
        "experiment": experiment_id, "status": row.status, "channels": list(spec.channels),
        "champion": champion, "min_per_arm": min_per_arm,
        "arms": [reports[a.name][0] for a in spec.arms],
        "control": control_report[0] if control_report else None,
    }  # fmt: skip
