"""What the dashboard's pages show, computed from the ledger, the rules and the live snapshot.

- **Overview**: decisions per second, acceptance (accepts / impressions), expected value
  served (the EV of every offer shown outside the control group) and the rules that fired
  most, per time bucket. The buckets adapt to the data: the span from the window's first
  decision to now, cut into about 40 buckets of a round width. Counts are exact (grouped
  in the database); EV and rules come from the newest ``DECISION_SAMPLE`` decisions of the
  window, and the page says so when the window holds more.
- **Proposals inbox**: each proposal with its mining statistics and its expected value per
  firing, confidence × the margin of its best offer in the live snapshot; filtered and
  sorted by lift, confidence, support, expected value or significance (q-value).
- **Funnel**: a decision's trace as the candidates left at each stage, with the reasons.
- **A customer's journeys**: where they are in each journey they entered, and the steps
  they went through, for the decision pages.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from ...core.decision import Snapshot
from ..journeys import service as journeys
from ..ledger import repository as ledger
from ..ledger.service import utc
from ..rules import service as rules
from ..rules.schemas import Proposal
from . import repository

__all__ = ["DECISION_SAMPLE", "SORTS", "WINDOWS", "InboxFilter", "Overview", "Series", "ValuedProposal",
           "catalog_status", "customer_journeys", "decisions_of", "funnel", "inbox", "overview",
           "path_of", "proposal_value"]  # fmt: skip

WINDOWS: dict[str, dt.timedelta] = {
    "1h": dt.timedelta(hours=1),
    "24h": dt.timedelta(days=1),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
}
DECISION_SAMPLE = 20_000
_WIDTHS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
           86400)  # fmt: skip
SORTS: tuple[str, ...] = ("lift", "confidence", "support", "expected_value", "significance",
                          "created")  # fmt: skip


def _width(span: dt.timedelta, buckets: int = 40) -> int:
    target = span.total_seconds() / buckets
    return next((w for w in _WIDTHS if w >= target), _WIDTHS[-1])


@dataclass
class Series:
    """Values per bucket (``times`` are the buckets' starts, in UTC)."""

    times: list[dt.datetime] = field(default_factory=list)
    decisions_per_second: list[float] = field(default_factory=list)
    acceptance: list[float] = field(default_factory=list)  # NaN where nothing was shown
    ev_served: list[float] = field(default_factory=list)
    rules: dict[str, list[float]] = field(default_factory=dict)  # the top rules' firings


@dataclass
class Overview:
    window: str
    since: dt.datetime
    width: int  # seconds per bucket
    decisions: int = 0
    control: int = 0
    impressions: int = 0
    accepts: int = 0
    conversions: int = 0
    revenue: float = 0.0
    ev_served: float = 0.0
    sampled: int = 0  # decisions read for EV and rules
    peak_per_second: float = 0.0
    mean_per_second: float = 0.0
    top_rules: dict[str, int] = field(default_factory=dict)
    series: Series = field(default_factory=Series)

    @property
    def acceptance(self) -> float | None:
        return self.accepts / self.impressions if self.impressions else None


def overview(session: Session, window: str = "24h", now: dt.datetime | None = None) -> Overview:
    now = now or dt.datetime.now(dt.UTC)
    since = now - WINDOWS[window]
    first = repository.first_decision(session, since)
    if first is None:
        return Overview(window, since, _width(WINDOWS[window]))
    start = utc(first)
    width = _width(max(now - start, dt.timedelta(seconds=60)))
    first_bucket = int(start.timestamp()) // width
    n = int(now.timestamp()) // width - first_bucket + 1
    result = Overview(window, since, width)
    series = result.series
    series.times = [dt.datetime.fromtimestamp((first_bucket + i) * width, dt.UTC) for i in range(n)]

    def slot(bucket: int) -> int:  # the series' position of a bucket (clamped to the span)
        return min(max(bucket - first_bucket, 0), n - 1)

    per_bucket = [0] * n
    for bucket, count, control in repository.decision_counts(session, since, width):
        per_bucket[slot(bucket)] += count
        result.decisions += count
        result.control += control
    series.decisions_per_second = [c / width for c in per_bucket]
    result.peak_per_second = max(series.decisions_per_second)
    # over the chosen window (the charts span only the part of it that holds decisions)
    result.mean_per_second = result.decisions / WINDOWS[window].total_seconds()
    shown, accepted = [0] * n, [0] * n
    kinds = ("impression", "accept", "convert")
    for bucket, kind, count, value in repository.event_counts(session, since, width, kinds):
        i = slot(bucket)
        if kind == "impression":
            shown[i] += count
            result.impressions += count
        elif kind == "accept":
            accepted[i] += count
            result.accepts += count
        else:
            result.conversions += count
            result.revenue += value
    series.acceptance = [a / s if s else float("nan") for a, s in zip(accepted, shown, strict=True)]
    ev = [0.0] * n
    fired: Counter[str] = Counter()
    fired_at: list[Counter[str]] = [Counter() for _ in range(n)]
    rows = repository.decision_rows(session, since, DECISION_SAMPLE)
    result.sampled = len(rows)
    for row in rows:
        i = slot(int(utc(row.occurred_at).timestamp()) // width)
        if not row.control:
            ev[i] += row.ev
        for rule in row.rules:
            fired[rule] += 1
            fired_at[i][rule] += 1
    series.ev_served = ev
    result.ev_served = sum(ev)
    result.top_rules = dict(fired.most_common(10))
    series.rules = {r: [float(c[r]) for c in fired_at] for r in list(result.top_rules)[:5]}
    return result


class ValuedProposal(Proposal):
    """A proposal with its expected value per firing (None: no confidence, or none of its
    offers in the live snapshot)."""

    expected_value: float | None


def proposal_value(proposal: Proposal, snapshot: Snapshot | None) -> float | None:
    """Expected value per firing: confidence × the best margin among the proposal's offers."""
    confidence = (proposal.get("stats") or {}).get("confidence")
    if confidence is None or snapshot is None:
        return None
    margins = [snapshot.offers[o].margin for o in proposal["offers"] if o in snapshot.offers]
    return float(confidence) * max(margins) if margins else None


@dataclass(frozen=True)
class InboxFilter:
    status: str = "open"
    sort: str = "lift"
    descending: bool = True
    min_lift: float | None = None
    min_confidence: float | None = None
    min_support: float | None = None
    max_q: float | None = None
    text: str = ""


def _sort_key(row: ValuedProposal, sort: str) -> float | str | None:
    """The value ``sort`` orders by; None when the proposal has none (no statistics)."""
    if sort == "created":
        return str(row["created_at"])
    stats = row.get("stats") or {}
    value = row["expected_value"] if sort == "expected_value" else stats.get(
        "q_value" if sort == "significance" else sort)  # fmt: skip
    return None if value is None else float(value)


def inbox(session: Session, snapshot: Snapshot | None, f: InboxFilter) -> list[ValuedProposal]:
    """Proposals with their expected value, filtered and sorted (unknown values last)."""
    proposals = rules.list_proposals(session, None if f.status == "all" else f.status)
    out: list[ValuedProposal] = []
    for proposal in proposals:
        row: ValuedProposal = {**proposal, "expected_value": proposal_value(proposal, snapshot)}
        stats = row.get("stats") or {}
        needs = ((f.min_lift, stats.get("lift")), (f.min_confidence, stats.get("confidence")),
                 (f.min_support, stats.get("support")))  # fmt: skip
        if any(low is not None and (v is None or v < low) for low, v in needs):
            continue
        if f.max_q is not None and (stats.get("q_value") is None or stats["q_value"] > f.max_q):
            continue
        if (
            f.text
            and f.text.lower()
            not in " ".join(
                [row["text"], row["rule_id"], *row["offers"], row["description"]]
            ).lower()
        ):
            continue
        out.append(row)
    # significance: the smallest q-value is the most significant, so it sorts the other way
    descending = f.descending != (f.sort == "significance")
    known: list[tuple[Any, ValuedProposal]] = []
    unknown: list[ValuedProposal] = []
    for row in out:
        key = _sort_key(row, f.sort)
        if key is None:
            unknown.append(row)
        else:
            known.append((key, row))
    known.sort(key=lambda kr: kr[0], reverse=descending)
    return [r for _, r in known] + unknown


def decisions_of(
    session: Session, customer_id: str | None, limit: int = 50
) -> list[dict[str, Any]]:
    out = []
    for r in ledger.recent_decisions(session, customer_id, limit):
        out.append({"id": r.id, "customer_id": r.customer_id, "channel": r.channel,
                    "session_id": r.session_id, "control": r.control, "experiment": r.experiment,
                    "shown": r.shown, "rules": [f"{f['id']} v{f['revision']}"
                                                for f in r.decision.get("rules_fired", ())],
                    "snapshot_version": r.snapshot_version,
                    "occurred_at": utc(r.occurred_at)})  # fmt: skip
    return out


def funnel(trace: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per stage: candidates in and out, and the drops (offer and reason) at that stage."""
    if not trace:
        return []
    drops: dict[str, list[dict[str, str]]] = {}
    for d in trace.get("drops", ()):
        drops.setdefault(d["stage"], []).append(d)
    top = max((s["entered"] for s in trace["stages"]), default=0) or 1
    return [{**s, "dropped": s["entered"] - s["left"], "share_in": s["entered"] / top,
             "share_out": s["left"] / top, "drops": drops.get(s["stage"], [])}
            for s in trace["stages"]]  # fmt: skip


def catalog_status(session: Session) -> dict[str, Any]:
    """The live version, when it was published, and whether the catalog changed since."""
    live = repository.published_at(session)
    changed = repository.catalog_changed_at(session)
    if live is None:
        return {"version": None, "published_at": None, "unpublished_changes": changed is not None}
    version, at = live
    return {"version": version, "published_at": utc(at),
            "unpublished_changes": changed is not None and utc(changed) > utc(at)}  # fmt: skip


def path_of(transitions: Sequence[Mapping[str, Any]]) -> list[str]:
    """The steps a customer reached, in order (a step again only when they came back to
    it), then how they left: ``["lead", "wait_lead", "left: converted"]``."""
    out: list[str] = []
    for t in transitions:
        if t["to_step"] and t["to_step"] != t["from_step"]:
            out.append(t["to_step"])
        if t["kind"] == "exit":
            out.append(f"left: {t['reason'] or 'exit'}")
    return out


def customer_journeys(session: Session, customer_id: str) -> list[dict[str, Any]]:
    """The customer's journeys (``journeys.customer_journeys``), each with ``steps``, its
    path as the steps reached."""
    return [{**e, "steps": path_of(e["path"])}
            for e in journeys.customer_journeys(session, customer_id)]  # fmt: skip
