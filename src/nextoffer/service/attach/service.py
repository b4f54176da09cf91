"""Attach rates: the ledger recounted into ``attach_counts``, published into the snapshot.

**Refresh** (a frequent job: ``serve`` runs it every ``attach_refresh_seconds``, and
``nextoffer attach-rates --refresh`` or ``POST /v1/attach-rates/refresh`` run it at once)
adds the impressions and accepts per pitch of the events written since the last refresh (a
watermark on the events' ``seq``) to the stored counts, so that its cost grows with the new
events, not with the ledger; when the counts changed it publishes a new snapshot, whose build estimates every attach rate with
hierarchical shrinkage (``core.learning.attach``) for the engine to use as p.

The counts a publish uses are the catalog settings' ``attach`` (history from before
nextoffer, entered by hand) plus the ledger's; for the same pitch the ledger's replace them.
A refresh merges the new ledger counts into the live snapshot's (the ledger's cells only
grow, so they replace the older ledger cells) and keeps the rest of the live snapshot.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ...core.decision import Snapshot
from ...core.learning.attach import AttachRate
from ..archive import service as archive
from ..errors import InvalidInput, Unavailable
from ..snapshots import service as snapshots
from . import repository
from .schemas import RateRow, Rates, Refreshed

__all__ = ["attach_rates", "recount", "refresh"]


def refresh(session: Session, actor: str = "attach-refresh") -> Refreshed:
    """Count the ledger's events since the last refresh into the stored counts and, when they
    changed, publish them: a new snapshot equal to the live one but for its attach counts
    (pending catalog edits stay pending: only an approver's catalog publish takes them live).

    Reads only the events after the watermark, up to the newest settled one, and moves the
    watermark in the same transaction as the counts (a refresh that fails or is killed
    half-way leaves both as they were). When the ledger's writers in flight do not finish
    in time (PostgreSQL), nothing is counted this time and the next refresh catches up."""
    settled = repository.settled_seq(session)
    after = repository.lock_watermark(session, repository.ATTACH_WATERMARK)
    upto = after if settled is None else max(settled, after)
    new = {}
    if upto > after:
        new = repository.count_new(session, after, upto, archive.archived_until(session))
    repository.add_counts(session, new, repository.ATTACH_WATERMARK, upto)
    counts = repository.stored_counts(session)
    published = None
    if new:
        took_live = {"attach_counts": len(counts)}
        published = snapshots.publish_attach_counts(session, actor=actor, took_live=took_live)
    return {
        "pitches": len(counts),
        "shown": sum(c[0] for c in counts.values()),
        "accepted": sum(c[1] for c in counts.values()),
        "changed": bool(new),
        "snapshot": published,
        "counted_up_to": upto,
    }


def recount(
    session: Session, archived: archive.ArchiveView | None = None, actor: str = "attach-recount"
) -> Refreshed:
    """Recount the whole ledger into the stored counts (replacing them) and move the
    watermark: the hot ledger's events up to the newest settled one and, with ``archived``,
    the archive's, each showing counted once wherever its events are. Refused (naming
    ``archive``) while months recorded as archived are not read: the stored counts hold
    their showings, and a recount without them would drop them. Publishes when the counts
    changed."""
    missing = archive.unread(session, archived)
    if missing:
        raise InvalidInput.one(
            "archive", f"{len(missing)} archived months ({', '.join(missing)}) would be left out"
                       " of the recount (the stored counts hold them): give the archive's folder",
        )  # fmt: skip
    settled = repository.settled_seq(session)
    if settled is None:
        raise Unavailable("the ledger's writers in flight did not finish in time: try again")
    after = repository.lock_watermark(session, repository.ATTACH_WATERMARK)
    upto = max(settled, after)
    found = repository.showings(session, upto)
    decisions: dict[str, Any] = {}
    if archived is not None:
        counted = [("type", "in", ("impression", "accept")), ("offer_id", "not null", None),
                   ("decision_id", "not null", None), ("attributed", "true", None)]  # fmt: skip
        rows = archive.archived_rows(archived, "events", repository.SHOWING_COLUMNS,
                                     where=counted)  # fmt: skip
        found |= {(r.type, r.offer_id, r.channel, r.decision_id) for r in rows}
        ids = sorted({r.decision_id for r in rows})
        if ids:
            decisions = {r.id: r.decision for r in archive.archived_rows(
                archived, "decisions", ["id", "decision"], where=[("id", "in", ids)])}  # fmt: skip
    before = repository.stored_counts(session)
    repository.replace_counts(session, repository.tally(session, found, decisions),
                              repository.ATTACH_WATERMARK, upto)  # fmt: skip
    counts = repository.stored_counts(session)
    published = None
    if counts != before:
        published = snapshots.publish_attach_counts(
            session, actor=actor, took_live={"attach_counts": len(counts)}
        )
    return {
        "pitches": len(counts),
        "shown": sum(c[0] for c in counts.values()),
        "accepted": sum(c[1] for c in counts.values()),
        "changed": counts != before,
        "snapshot": published,
        "counted_up_to": upto,
    }


def _row(rate: AttachRate, snapshot: Snapshot, level: float) -> RateRow:
    offer = rule = channel = category = None
    if rate.level == "category":
        (category,) = rate.key
    elif rate.level == "offer":
        (offer,) = rate.key
    elif rate.level == "rule":
        rule, offer = rate.key
    elif rate.level == "channel":
        offer, channel = rate.key
    if offer is not None and offer in snapshot.offers:
        category = snapshot.offers[offer].category
    low, high = rate.interval(level)
    return {
        "level": rate.level, "offer": offer, "rule": rule, "channel": channel,
        "category": category, "shown": rate.shown, "accepted": rate.accepted, "raw": rate.raw,
        "p": rate.p, "parent": rate.parent, "low": low, "high": high,
        "maturity": rate.maturity,
    }  # fmt: skip


def attach_rates(snapshot: Snapshot, level: float = 0.9) -> Rates:
    """Every attach rate the live snapshot's engine uses, with its interval and maturity."""
    return {
        "snapshot_version": snapshot.version,
        "interval": level,
        "strength": snapshot.attach.overall.strength,
        "rates": [_row(rate, snapshot, level) for rate in snapshot.attach.all()],
    }
