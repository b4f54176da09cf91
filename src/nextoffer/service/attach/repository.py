"""Attach-count SQL: the ledger's impressions and acceptances per pitch, and the stored counts.

The stored counts are kept from a watermark on the events' sequence (``ledger_watermarks``,
``ATTACH_WATERMARK``): a refresh reads only the events after it, up to the newest sequence
number no transaction can still fill in (``settled_seq``), adds what they show to the
stored counts and moves the watermark, in one transaction. ``count_ledger`` recounts the
whole ledger: the reference the incremental counts are tested against.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from ...core.learning.attach import nominating_rules
from ..db import dialect_insert
from ..ledger.repository import lock_watermark, settled_seqs
from ..tables import attach_counts, decisions, events, ledger_watermarks

__all__ = ["ATTACH_WATERMARK", "SHOWING_COLUMNS", "Key", "add_counts", "count_ledger",
           "count_new", "lock_watermark", "replace_counts", "settled_seq", "showings",
           "stored_counts", "tally"]  # fmt: skip
# the columns of a showing, as the archive's rows give them
SHOWING_COLUMNS = ("seq", "type", "offer_id", "channel", "decision_id")

Key = tuple[str, str, str]  # (offer, rule or "", channel or "")
Showing = tuple[str, str, str | None, str]  # (event type, offer, channel as stored, decision)
ATTACH_WATERMARK = "attach_counts"
_BATCH = 500
# the memory a PostgreSQL refresh may use for its new showings (its transaction only)
REFRESH_WORK_MEM = "64MB"
_COUNTED = (
    events.c.type.in_(("impression", "accept")), events.c.offer_id.is_not(None),
    events.c.decision_id.is_not(None), events.c.attributed,
)  # fmt: skip


def _showings(session: Session, *where: Any) -> set[Showing]:
    rows = session.execute(
        sa.select(events.c.type, events.c.offer_id, events.c.channel, events.c.decision_id)
        .where(*_COUNTED, *where)
        .distinct()
    )
    return {(kind, offer, channel, decision) for kind, offer, channel, decision in rows}


def showings(session: Session, upto: int) -> set[Showing]:
    """The hot ledger's showings (event type, offer, channel, decision) of the counted events
    with ``seq <= upto``, each once."""
    return _showings(session, events.c.seq <= upto)


def tally(
    session: Session, found: Iterable[Showing], archived: Mapping[str, Any]
) -> dict[Key, list[int]]:
    """[impressions, accepts] per pitch of ``found``, each showing counted once, its decision
    looked up in the hot ledger, else in ``archived`` (decision JSON by id)."""
    return _tally(session, found, archived)


def replace_counts(session: Session, counts: dict[Key, list[int]], name: str, seq: int) -> None:
    """Replace every stored count with ``counts`` ([impressions, accepts] per pitch) and move
    the watermark ``name`` to ``seq``, in the caller's transaction."""
    session.execute(sa.delete(attach_counts))
    add_counts(session, counts, name, seq)


def _tally(
    session: Session, showings: Iterable[Showing], archived: Mapping[str, Any] | None = None
) -> dict[Key, list[int]]:
    """[impressions, accepts] per (offer, nominating rule, channel) of ``showings``, each
    counted once; a showing whose decision is not in the ledger (nor ``archived``) does not
    count."""
    by_decision: dict[str, list[tuple[str, str, str | None]]] = {}
    for kind, offer, channel, decision_id in showings:
        by_decision.setdefault(decision_id, []).append((kind, offer, channel))
    counted: list[tuple[str, str, str | None, str | None, int]] = []
    ids = sorted(by_decision)
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        found = {
            row.id: row.decision
            for row in session.execute(
                sa.select(decisions.c.id, decisions.c.decision).where(decisions.c.id.in_(chunk))
            )
        }
        for decision_id in chunk:
            if decision_id not in found and archived and decision_id in archived:
                found[decision_id] = archived[decision_id]
            if decision_id not in found:  # (rows from before attribution was checked)
                continue
            nominated = nominating_rules(found[decision_id])
            counted += [(kind, offer, channel, nominated.get(offer), 1)
                        for kind, offer, channel in by_decision[decision_id]]  # fmt: skip
    return _add_up(counted)


def count_ledger(session: Session) -> dict[Key, list[int]]:
    """Impressions and accepts per (offer, nominating rule, channel), from the whole ledger
    (the full recount, which the incremental counts always equal).

    Only attributed outcomes count: an event that names a decision that showed its offer to
    its customer (checked when it was written, in the transaction that wrote it, so the
    decision is always in the ledger before its outcomes; an event without a decision, or
    naming one that does not exist, never counts). A decision's showing of an offer counts
    once, however many impressions or accepts name it. The nominating rule of a shown offer
    is the first rule the decision lists for it (none: ""). Returns [shown, accepted], where
    an accept without its impression still counts as shown.
    """
    return {key: [max(i, a), a] for key, (i, a) in _tally(session, _showings(session)).items()}


def count_new(
    session: Session, after: int, upto: int, archived_until: dt.datetime | None = None
) -> dict[Key, list[int]]:
    """[impressions, accepts] that the events with ``after < seq <= upto`` add to the counts
    of the events up to ``after``: their showings that no earlier event showed already, each
    with its decision's nominating rule (a showing whose decision is not in the ledger does
    not count). PostgreSQL: ``_count_new_pg``, whose work does not grow with the ledger;
    ``archived_until``, the end of the newest month archived (None: none), whose showings
    are left to a recount with the archive."""
    if session.get_bind().dialect.name == "postgresql":
        return _count_new_pg(session, after, upto, archived_until)
    earlier = events.alias("earlier")
    shown_before = (
        sa.select(sa.literal(1))
        .where(earlier.c.decision_id == events.c.decision_id, earlier.c.type == events.c.type,
               earlier.c.offer_id == events.c.offer_id,
               earlier.c.channel.is_not_distinct_from(events.c.channel), earlier.c.attributed,
               earlier.c.seq <= after)
        .exists()
    )  # fmt: skip
    new = (
        sa.select(events.c.type, events.c.offer_id, events.c.channel, events.c.decision_id)
        .where(*_COUNTED, events.c.seq > after, events.c.seq <= upto, ~shown_before)
        .distinct()
        .subquery()
    )
    rows = session.execute(
        sa.select(new.c.type, new.c.offer_id, new.c.channel, decisions.c.decision).join(
            decisions, decisions.c.id == new.c.decision_id
        )
    )
    return _add_up((kind, offer, channel, nominating_rules(decision).get(offer), 1)
                   for kind, offer, channel, decision in rows)  # fmt: skip


def _add_up(
    showings: Iterable[tuple[str, str, str | None, str | None, int]],
) -> dict[Key, list[int]]:
    """[impressions, accepts] per pitch of (event type, offer, channel, rule, how many) rows."""
    out: dict[Key, list[int]] = {}
    for kind, offer, channel, rule, n in showings:
        cell = out.setdefault((offer, rule or "", channel or ""), [0, 0])
        cell[0 if kind == "impression" else 1] += n
    return out


# PostgreSQL's key table of the decisions (revision 0014; ``occurred_at`` since 0016)
_DECISION_KEYS = sa.table(
    "decisions_keys",
    sa.column("id", sa.String),
    sa.column("seq", sa.BigInteger),
    sa.column("occurred_at", sa.DateTime(timezone=True)),
)
# an event naming a decision was written after it (both times are the database's clock, at
# the start of their transactions; an hour of slack for transactions that overlapped)
_AFTER_ITS_DECISION = dt.timedelta(hours=1)


def _count_new_pg(
    session: Session, after: int, upto: int, archived_until: dt.datetime | None
) -> dict[Key, list[int]]:
    """``count_new`` on PostgreSQL, where the ledger is partitioned by month. Each new
    showing (the events after the watermark, through the primary key's ``seq``) looks for an
    earlier event of the same showing only in the partitions from its decision's month on
    (by ``decision_id``), as a lateral subquery (``LIMIT 1``), so that the planner keeps the
    lookup per showing and prunes partitions with its values: joined as sets, it hashed the
    whole ledger's events and probed every partition for each decision, work that grew with
    the ledger.

    The decision's time and nominating rule come from the event (revision 0017, which
    halved the refresh's time): ``_recorded``. Events written before it do not have them,
    and look their decision up: ``_looked_up``. Each is added up per pitch in the database
    (a row per pitch, not per showing, comes back), with room in memory for the new events'
    showings (``REFRESH_WORK_MEM``: the default 4 MB spilled 100,000 to disk)."""
    session.execute(sa.text(f"SET LOCAL work_mem = '{REFRESH_WORK_MEM}'"))
    rows: list[tuple[str, str, str | None, str | None, int]] = []
    for showings in (_recorded(after, upto, archived_until), _looked_up(after, upto)):
        counted = showings.subquery("counted")
        per_pitch = sa.select(*counted.c, sa.func.count()).group_by(*counted.c)
        rows += session.execute(per_pitch).tuples().all()
    return _add_up(rows)


def _new_showings(after: int, upto: int, recorded: bool) -> sa.Subquery:
    """The distinct showings of the counted events with ``after < seq <= upto`` that record
    their decision's time and rule (``recorded``) or do not."""
    known = events.c.decision_at.is_not(None) if recorded else events.c.decision_at.is_(None)
    return (
        sa.select(events.c.type, events.c.offer_id, events.c.channel, events.c.decision_id,
                  events.c.decision_at, events.c.rule_id)
        .where(*_COUNTED, events.c.seq > after, events.c.seq <= upto, known)
        .distinct()
        .subquery("new")
    )  # fmt: skip


def _first_shown(new: sa.Subquery, after: int, decided_at: Any) -> Any:
    """Whether an event up to ``after`` showed ``new``'s showing already: a lateral lookup in
    the partitions from its decision's month on (``decided_at``)."""
    earlier = events.alias("earlier")
    return (
        sa.select(sa.literal(1).label("seen"))
        .where(earlier.c.decision_id == new.c.decision_id, earlier.c.type == new.c.type,
               earlier.c.offer_id == new.c.offer_id,
               earlier.c.channel.is_not_distinct_from(new.c.channel), earlier.c.attributed,
               earlier.c.seq <= after,
               earlier.c.occurred_at >= decided_at - _AFTER_ITS_DECISION)
        .limit(1)
        .lateral("seen")
    )  # fmt: skip


def _recorded(after: int, upto: int, archived_until: dt.datetime | None) -> sa.Select[Any]:
    """The new showings whose events record their decision's time and rule: no decision is
    read. A showing whose earlier events may be archived (its decision less than an hour
    after ``archived_until``) is left out, as a decision archived is in ``_looked_up``."""
    new = _new_showings(after, upto, recorded=True)
    seen = _first_shown(new, after, new.c.decision_at)
    hot = [] if archived_until is None else [
        new.c.decision_at >= archived_until + _AFTER_ITS_DECISION]  # fmt: skip
    return (
        sa.select(new.c.type, new.c.offer_id, new.c.channel, new.c.rule_id)
        .select_from(new.outerjoin(seen, sa.true()))
        .where(seen.c.seen.is_(None), *hot)
    )


def _looked_up(after: int, upto: int) -> sa.Select[Any]:
    """The new showings of events from before revision 0017: each reads its decision's key
    (``decisions_keys``, by id), then the decision from the one partition of its ``(seq,
    occurred_at)`` (none when archived: not counted), each a lateral subquery. The
    nominating rule is found in the database (jsonpath, in document order, as
    ``nominating_rules`` does)."""
    new = _new_showings(after, upto, recorded=False)
    keys = _DECISION_KEYS.alias("k")
    found = (
        sa.select(keys.c.seq, keys.c.occurred_at)
        .where(keys.c.id == new.c.decision_id)
        .limit(1)
        .lateral("found")
    )
    rule = sa.func.jsonb_path_query_first(
        decisions.c.decision, sa.literal(_FIRST_RULE, sa.String).cast(_JsonPath),
        sa.func.jsonb_build_object("o", new.c.offer_id),
    ).op("#>>")(sa.literal("{}").cast(postgresql.ARRAY(sa.Text)))  # fmt: skip
    decision = (
        sa.select(rule.label("rule"))
        .where(decisions.c.seq == found.c.seq, decisions.c.occurred_at == found.c.occurred_at)
        .limit(1)
        .lateral("decision")
    )
    seen = _first_shown(new, after, found.c.occurred_at)
    return (
        sa.select(new.c.type, new.c.offer_id, new.c.channel, decision.c.rule)
        .select_from(new.join(found, sa.true()).join(decision, sa.true())
                     .outerjoin(seen, sa.true()))
        .where(seen.c.seen.is_(None))
    )  # fmt: skip


class _JsonPath(sa.types.UserDefinedType[str]):
    """PostgreSQL's ``jsonpath`` type, for a cast."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "jsonpath"


# the first rule listed for the offer ``$o`` among the decision's shown offers that list one
_FIRST_RULE = "$.placements[*].offers[*] ? (@.offer == $o && @.rules.size() > 0).rules[0]"


def settled_seq(session: Session) -> int | None:
    """The newest settled ``seq`` of ``events`` (``ledger.repository.settled_seqs``); None:
    the writers in flight did not finish in time (PostgreSQL; try again later)."""
    found = settled_seqs(session, ("events",))
    return None if found is None else found["events"]


def stored_counts(session: Session) -> dict[Key, list[int]]:
    """[shown, accepted] per pitch, as the engine uses them."""
    rows = session.execute(
        sa.select(attach_counts.c.offer_id, attach_counts.c.rule_id, attach_counts.c.channel,
                  attach_counts.c.shown, attach_counts.c.accepted)
    )  # fmt: skip
    return {(o, r, c): [int(s), int(a)] for o, r, c, s, a in rows}


def _raw_counts(session: Session, keys: Collection[Key]) -> dict[Key, list[int]]:
    rows = session.execute(
        sa.select(attach_counts.c.offer_id, attach_counts.c.rule_id, attach_counts.c.channel,
                  attach_counts.c.impressions, attach_counts.c.accepted)
    )  # fmt: skip
    return {(o, r, c): [int(i), int(a)] for o, r, c, i, a in rows if (o, r, c) in keys}


def add_counts(session: Session, new: dict[Key, list[int]], name: str, seq: int) -> None:
    """Add ``new`` ([impressions, accepts] per pitch) to the stored counts and move the
    watermark ``name`` to ``seq``, in the caller's transaction (all of it or none)."""
    now = dt.datetime.now(dt.UTC)
    if new:
        stored = _raw_counts(session, new.keys())
        rows = []
        for (offer, rule, channel), (impressions, accepts) in sorted(new.items()):
            before = stored.get((offer, rule, channel), [0, 0])
            i, a = before[0] + impressions, before[1] + accepts
            rows.append({"offer_id": offer, "rule_id": rule, "channel": channel,
                         "impressions": i, "accepted": a, "shown": max(i, a), "updated_at": now})  # fmt: skip
        stmt = dialect_insert(session, attach_counts)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["offer_id", "rule_id", "channel"],
                set_={c: stmt.excluded[c] for c in ("impressions", "accepted", "shown",
                                                    "updated_at")},
            ),
            rows,
        )  # fmt: skip
    session.execute(
        sa.update(ledger_watermarks)
        .where(ledger_watermarks.c.name == name)
        .values(seq=seq, updated_at=now)
    )
