"""Backtest: what a changed rule would have done to past requests.

Each request is decided twice, with the live snapshot and with the candidate snapshot (the
same, with the rule's draft in place of its live revision), without customer history (the
policies' counters are not replayed). The report says how often the draft fires, which
offers it adds and which it pushes out, and the change in expected value (the sum of
p × margin over the offers shown) per request, with a bootstrap confidence interval.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ..request import Request
from ..stats import bootstrap_mean
from .engine import decide
from .result import Decision, DecisionError
from .snapshot import Snapshot

__all__ = ["BacktestReport", "backtest"]


@dataclass(frozen=True)
class BacktestReport:
    requests: int
    skipped: int
    fires: int
    changed: int
    added: dict[str, int]
    pushed_out: dict[str, int]
    ev_change_mean: float
    ev_change_low: float
    ev_change_high: float
    confidence: float

    @property
    def fire_rate(self) -> float:
        return self.fires / self.requests if self.requests else 0.0


def _ev(decision: Decision) -> float:
    return sum(s.ev or 0.0 for p in decision.placements for s in p.offers)


def backtest(
    live: Snapshot,
    candidate: Snapshot,
    rule_id: str,
    requests: Iterable[Request],
    *,
    confidence: float = 0.95,
) -> BacktestReport:
    fires = changed = skipped = 0
    added: Counter[str] = Counter()
    pushed: Counter[str] = Counter()
    deltas: list[float] = []
    for request in requests:
        try:
            before = decide(live, request, detail=False)
            after = decide(candidate, request, detail=False)
        except DecisionError:
            skipped += 1  # a request the snapshots cannot decide (e.g. a channel since removed)
            continue
        if any(r.id == rule_id for r in after.rules_fired):
            fires += 1
        old, new = set(before.offers()), set(after.offers())
        if old != new:
            changed += 1
        added.update(new - old)
        pushed.update(old - new)
        deltas.append(_ev(after) - _ev(before))
    mean, low, high = bootstrap_mean(deltas, confidence=confidence)
    return BacktestReport(
        requests=len(deltas),
        skipped=skipped,
        fires=fires,
        changed=changed,
        added=dict(added.most_common()),
        pushed_out=dict(pushed.most_common()),
        ev_change_mean=mean,
        ev_change_low=low,
        ev_change_high=high,
        confidence=confidence,
    )
