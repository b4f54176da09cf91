"""Attach-count SQL: the ledger's impressions and acceptances per pitch, and the stored counts."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..tables import attach_counts, decisions, events

__all__ = ["Key", "count_ledger", "replace_counts", "stored_counts"]

Key = tuple[str, str, str]  # (offer, rule or "", channel or "")
_BATCH = 500


def count_ledger(session: Session) -> dict[Key, list[int]]:
    """Impressions and accepts per (offer, nominating rule, channel), from the whole ledger.

    Only attributed outcomes count: an event that names a decision that showed its offer to
    its customer (checked when it was written; an event without a decision, or naming one
    that does not exist, never counts). A decision's showing of an offer counts once, however
    many impressions or accepts name it. The nominating rule of a shown offer is the first
    rule the decision lists for it (none: "").
    """
    counts: Counter[tuple[str, str, str, str]] = Counter()
    by_decision: dict[str, list[tuple[str, str, str, int]]] = {}
    rows = session.execute(
        sa.select(events.c.type, events.c.offer_id, events.c.channel, events.c.decision_id,
                  sa.func.count())
        .where(events.c.type.in_(("impression", "accept")), events.c.offer_id.is_not(None),
               events.c.decision_id.is_not(None), events.c.attributed)
        .group_by(events.c.type, events.c.offer_id, events.c.channel, events.c.decision_id)
    )  # fmt: skip
    for kind, offer, channel, decision_id, _n in rows:  # once per showing
        by_decision.setdefault(decision_id, []).append((kind, offer, channel or "", 1))
    ids = list(by_decision)
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        found = {
            row.id: row.decision
            for row in session.execute(
                sa.select(decisions.c.id, decisions.c.decision).where(decisions.c.id.in_(chunk))
            )
        }
        for decision_id in chunk:
            if decision_id not in found:  # (rows from before attribution was checked)
                continue
            nominated = _nominating_rules(found.get(decision_id))
            for kind, offer, channel, n in by_decision[decision_id]:
                counts[(kind, offer, nominated.get(offer, ""), channel)] += n
    out: dict[Key, list[int]] = {}
    for (kind, offer, rule, channel), n in counts.items():
        cell = out.setdefault((offer, rule, channel), [0, 0])
        cell[0 if kind == "impression" else 1] += n
    for cell in out.values():  # an accept without its impression still counts as shown
        cell[0] = max(cell[0], cell[1])
    return out


def _nominating_rules(decision: dict[str, Any] | None) -> dict[str, str]:
    rules: dict[str, str] = {}
    for placement in (decision or {}).get("placements", ()):
        for shown in placement.get("offers", ()):
            if shown.get("rules"):
                rules.setdefault(shown["offer"], shown["rules"][0])
    return rules


def stored_counts(session: Session) -> dict[Key, list[int]]:
    rows = session.execute(
        sa.select(attach_counts.c.offer_id, attach_counts.c.rule_id, attach_counts.c.channel,
                  attach_counts.c.shown, attach_counts.c.accepted)
    )  # fmt: skip
    return {(o, r, c): [int(s), int(a)] for o, r, c, s, a in rows}


def replace_counts(session: Session, counts: dict[Key, list[int]]) -> None:
    now = dt.datetime.now(dt.UTC)
    session.execute(sa.delete(attach_counts))
    if counts:
        session.execute(
            sa.insert(attach_counts),
            [{"offer_id": o, "rule_id": r, "channel": c, "shown": s, "accepted": a,
              "updated_at": now} for (o, r, c), (s, a) in sorted(counts.items())],
        )  # fmt: skip
