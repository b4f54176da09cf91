"""The dashboard's numbers, on SQLite and on PostgreSQL: the overview's counts per time bucket
(grouped in the database, in each dialect's words), the inbox's filters and order, the funnel."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa

from nextoffer.service.dashboard import service
from nextoffer.service.db import Database
from nextoffer.service.ledger import repository
from nextoffer.service.ledger.service import utc
from nextoffer.service.tables import decisions


def decision(n: int, *, control: bool, evs: list[float], rules: list[str]) -> dict[str, Any]:
    offers = [{"offer": f"o{i}", "rank": i + 1, "score": ev, "ev": ev, "p": 0.1, "tau": None,
               "uplift_segment": None, "probability": 1.0, "rules": [], "fallback": False}
              for i, ev in enumerate(evs)]  # fmt: skip
    return {
        "id": str(uuid.uuid4()), "idempotency_key": f"d{n}", "customer_id": f"c{n % 3}",
        "session_id": None, "channel": "pos", "snapshot_version": "v1", "control": control,
        "experiment": "holdout" if control else None, "shown": [o["offer"] for o in offers],
        "request": {"channel": "pos"}, "features": None, "trace": None,
        "decision": {"placements": [{"placement": "main", "offers": offers}], "counterfactual": [],
                     "rules_fired": [{"id": r, "revision": 1} for r in rules], "cascade": None},
    }  # fmt: skip


def event(n: int, kind: str, value: float | None = None) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "idempotency_key": f"e{n}", "type": kind, "customer_id": "c1",
            "offer_id": "o0", "value": value, "payload": {}}  # fmt: skip


def test_the_overview_counts_what_the_ledger_holds(db: Database) -> None:
    with db.transaction() as session:
        repository.insert_decision(
            session, decision(1, control=False, evs=[2.5, 1.0], rules=["a", "b"])
        )
        repository.insert_decision(session, decision(2, control=False, evs=[4.0], rules=["a"]))
        repository.insert_decision(session, decision(3, control=True, evs=[100.0], rules=["a"]))
        kinds = ["impression"] * 4 + ["accept", "decline", "convert", "convert"]
        values = [None] * 6 + [30.0, 12.5]
        repository.insert_events(
            session, [event(i, k, v) for i, (k, v) in enumerate(zip(kinds, values, strict=True))]
        )
    with db.read() as session:
        o = service.overview(session, "1h")
    assert (o.decisions, o.control) == (3, 1)
    assert (o.impressions, o.accepts, o.conversions) == (4, 1, 2)
    assert o.revenue == pytest.approx(42.5)
    assert o.acceptance == pytest.approx(0.25)
    assert o.ev_served == pytest.approx(7.5)  # the control group's offers were not served
    assert o.top_rules == {"a": 3, "b": 1}
    assert o.sampled == 3
    s = o.series
    assert len(s.times) == len(s.decisions_per_second) == len(s.acceptance) == len(s.ev_served)
    assert sum(s.decisions_per_second) * o.width == pytest.approx(3)
    assert sum(s.ev_served) == pytest.approx(7.5)
    assert sum(v for v in s.acceptance if not math.isnan(v)) == pytest.approx(0.25)
    assert set(s.rules) == {"a", "b"}
    assert o.peak_per_second >= o.mean_per_second > 0


def test_an_empty_window_says_so(db: Database) -> None:
    with db.read() as session:
        o = service.overview(session, "24h")
    assert o.decisions == 0
    assert o.acceptance is None
    assert o.series.times == []


def test_bucket_widths_are_round_and_about_forty_per_span() -> None:
    assert service._width(dt.timedelta(seconds=60)) == 2
    assert service._width(dt.timedelta(hours=1)) == 120
    assert service._width(dt.timedelta(days=30)) == 86400


def proposal(
    rule: str, lift: float | None, confidence: float, q: float | None, offers: list[str]
) -> dict[str, Any]:
    stats = (
        None
        if lift is None
        else {"lift": lift, "confidence": confidence, "support": 0.01 * lift, "q_value": q}
    )
    return {"id": rule, "rule_id": rule, "text": f'cart.has_sku("{rule}")', "offers": offers,
            "description": "", "stats": stats, "created_at": rule}  # fmt: skip


class FakeSnapshot:
    class Offer:
        def __init__(self, margin: float) -> None:
            self.margin = margin

    offers: ClassVar[dict[str, Offer]] = {"cheap": Offer(10.0), "dear": Offer(100.0)}


def test_the_inbox_filters_and_sorts_unknown_values_last(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [proposal("p1", 2.0, 0.5, 0.01, ["cheap"]), proposal("p2", 5.0, 0.2, 0.001, ["dear"]),
            proposal("p3", 1.2, 0.9, 0.04, ["cheap", "dear"]), proposal("hand", None, 0, None, ["cheap"])]  # fmt: skip
    monkeypatch.setattr(
        service.rules, "list_proposals", lambda session, status: [dict(r) for r in rows]
    )
    snapshot: Any = FakeSnapshot()

    def ids(**f: Any) -> list[str]:
        return [r["id"] for r in service.inbox(None, snapshot, service.InboxFilter(**f))]  # type: ignore[arg-type]

    assert ids(sort="lift") == ["p2", "p1", "p3", "hand"]
    assert ids(sort="lift", descending=False) == ["p3", "p1", "p2", "hand"]
    # EV per firing: confidence × the best margin of the proposal's offers
    assert ids(sort="expected_value") == ["p3", "p2", "p1", "hand"]  # 90, 20, 5
    assert ids(sort="significance") == ["p2", "p1", "p3", "hand"]  # smallest q first
    assert ids(min_lift=1.5) == ["p2", "p1"]
    assert ids(min_confidence=0.4, max_q=0.02) == ["p1"]
    assert ids(min_support=0.03) == ["p2"]
    assert ids(text="P3") == ["p3"]


def test_the_funnel_puts_each_drop_at_its_stage() -> None:
    trace = {"stages": [{"stage": "candidates", "entered": 4, "left": 4, "micros": 1.0},
                        {"stage": "qualify", "entered": 4, "left": 2, "micros": 1.0},
                        {"stage": "policies", "entered": 2, "left": 1, "micros": 1.0}],
             "drops": [{"offer": "x", "stage": "qualify", "reason": "eligibility: no"},
                       {"offer": "y", "stage": "qualify", "reason": "fit: no"},
                       {"offer": "z", "stage": "policies", "reason": "frequency_cap: 4 of 4"}]}  # fmt: skip
    rows = service.funnel(trace)
    assert [r["dropped"] for r in rows] == [0, 2, 1]
    assert [d["offer"] for d in rows[1]["drops"]] == ["x", "y"]
    assert rows[2]["share_out"] == pytest.approx(0.25)
    assert service.funnel(None) == []


@pytest.mark.parametrize("window", ["1h", "24h", "7d", "30d"])
def test_the_average_decision_rate_is_over_the_chosen_window(db: Database, window: str) -> None:
    # the data span a moment; the window is much longer
    with db.transaction() as session:
        for n in range(3):
            repository.insert_decision(session, decision(n, control=False, evs=[1.0], rules=[]))
    with db.read() as session:
        latest = session.execute(sa.select(sa.func.max(decisions.c.occurred_at))).scalar_one()
        o = service.overview(session, window, now=utc(latest) + dt.timedelta(seconds=1))
    assert o.decisions == 3
    assert o.mean_per_second == pytest.approx(3 / service.WINDOWS[window].total_seconds())
    assert o.peak_per_second >= o.mean_per_second
