"""Snapshots: the live one, and building, checking, storing and auditing a new one.

Three things publish, each from its own part of the data and nothing else:

- an approver's **catalog publish** takes the catalog tables (the pending edits) live, with
  the live rules and the attach counts (``publish``);
- a **rule change** (approve, restore, activate, deactivate) replaces the live snapshot's
  rules and keeps its catalog (``publish_rules``);
- an **attach-rate refresh** replaces the live snapshot's attach counts and keeps the rest
  (``publish_attach_counts``).

So pending catalog edits go live only through an approver's publish. Every publish is
written to the audit log (action ``publish``, subject the snapshot version) with its actor,
its cause and what it took live.

The checks govern what is published, not what was: a rule revision live in the snapshot a
publish builds on that a newer check refuses (a trigger over the cost bound, published
before the bound) is carried over **disabled** (``needs_attention``), not a reason to refuse
the publish; any other revision is checked in full.

This domain reads the catalog, the live rules and the attach counts through their
repositories; catalog, rules and attach call it, and not each other.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection

from sqlalchemy.orm import Session

from ...core.decision import Snapshot, SnapshotError, build_snapshot
from ...core.rules import Diagnostic
from ..attach import repository as attach_counts
from ..catalog import repository as catalog
from ..catalog.schemas import PLURAL, CatalogItem, SettingsSpec
from ..errors import Conflict, InvalidInput
from ..keys.service import labels
from ..ledger.service import utc
from ..rules import repository as rules
from ..rules.schemas import LiveRule
from . import repository
from .schemas import (
    PLURALS,
    AttachCount,
    CatalogPublished,
    DisabledRule,
    LiveSnapshot,
    Published,
    PublishRecord,
    SnapshotData,
    TookLive,
)

__all__ = ["by_id", "catalog_offers", "catalog_settings", "live_rules", "live_spec",
           "merged_counts", "pending", "problems", "publish", "publish_attach_counts",
           "publish_rules", "published_any", "published_rules", "publishes", "store",
           "stored_spec", "summary"]  # fmt: skip

_INDEXED = re.compile(r"^(products|offers|channels|policies|rules)\[(\d+)\]")


def live_spec(session: Session) -> SnapshotData | None:
    """The newest published snapshot's spec (None before the first publish)."""
    spec = repository.newest_spec(session)
    return None if spec is None else dict(spec)


def stored_spec(session: Session, version: str) -> SnapshotData | None:
    """A stored snapshot version's spec (None: no such version)."""
    spec = repository.spec_of(session, version)
    return None if spec is None else dict(spec)


def published_rules(session: Session) -> frozenset[tuple[str, int]]:
    """The (id, revision) of every rule in the live snapshot: published already."""
    spec = live_spec(session) or {}
    return frozenset((r["id"], r.get("revision", 1)) for r in spec.get("rules") or ())


def published_any(session: Session) -> bool:
    """Whether a snapshot has ever been published."""
    return repository.any_published(session)


def live_rules(session: Session) -> list[LiveRule]:
    """The live revision of every active rule, as snapshot data."""
    return rules.live_rules(session)


def catalog_settings(session: Session) -> CatalogItem:
    """The catalog's settings item as the next publish reads it (pending edits included)."""
    return catalog.get_item(session, "settings", "default") or {}


def catalog_offers(session: Session) -> list[CatalogItem]:
    """The catalog's offers as the next publish reads them (pending edits included)."""
    return catalog.list_items(session, "offer")


def pending(session: Session) -> SnapshotData:
    """The catalog tables (edits not yet published included) as snapshot data, without rules
    and with the settings' own attach counts."""
    spec: SnapshotData = dict(catalog_settings(session))
    for kind, plural in PLURAL.items():
        spec[plural] = catalog.list_items(session, kind)
    return spec


def merged_counts(
    session: Session, manual: list[AttachCount], offers: set[str], channels: set[str]
) -> list[AttachCount]:
    """The settings' counts with the ledger's (for offers and channels still in the catalog)."""
    cells: dict[tuple[str | None, str | None, str], AttachCount] = {
        (m.get("rule"), m.get("channel"), m["offer"]): m for m in manual
    }
    for (offer, rule, channel), (shown, accepted) in attach_counts.stored_counts(session).items():
        if offer not in offers or (channel and channel not in channels):
            continue
        cell: AttachCount = {"offer": offer, "shown": shown, "accepted": accepted}
        if rule:
            cell["rule"] = rule
        if channel:
            cell["channel"] = channel
        cells[(rule or None, channel or None, offer)] = cell
    # in one order whatever order the ledger's counts came in: equal counts, equal snapshots
    return [cells[k] for k in sorted(cells, key=lambda k: (k[0] or "", k[1] or "", k[2]))]


def _with_counts(session: Session, spec: SnapshotData) -> SnapshotData:
    """``spec`` with its own attach counts merged with the ledger's."""
    offers = {o["id"] for o in spec.get("offers", ())}
    channels = {c["id"] for c in spec.get("channels", ())}
    return {**spec, "attach": merged_counts(session, spec.get("attach", []), offers, channels)}


def by_id(spec: SnapshotData, path: str) -> str:
    """``offers.mortgage.attributes.foo`` for ``offers[2].attributes.foo``: a problem's place
    named by the item's id, which does not move when other items come and go."""
    match = _INDEXED.match(path)
    if match is None:
        return path
    plural, index = match.group(1), int(match.group(2))
    items = spec.get(plural) or []
    item = items[index] if index < len(items) else None
    key = item.get(PLURALS[plural]) if isinstance(item, dict) else None
    if not isinstance(key, str) or not key:
        return path
    return f"{plural}.{key}{path[match.end() :]}"


def _build(
    spec: SnapshotData, published: Collection[tuple[str, int]]
) -> tuple[list[dict[str, str]], list[str]]:
    """Every problem a build of ``spec`` finds (by id), and the published rules it disables."""
    try:
        built = build_snapshot(
            {**spec, "version": spec.get("version") or "check"}, published=published
        )
    except SnapshotError as exc:
        found: list[Diagnostic] = exc.diagnostics
        return [{"field": by_id(spec, d.path), "message": d.message} for d in found], []
    return [], sorted(built.disabled)


def problems(
    spec: SnapshotData, published: Collection[tuple[str, int]] = ()
) -> list[dict[str, str]]:
    """Every problem a build of ``spec`` finds, each at its place named by id (none: valid).
    A rule in ``published`` (id, revision) that only the cost bound refuses is no problem:
    it stays disabled."""
    return _build(spec, published)[0]


def store(
    session: Session,
    spec: SnapshotData,
    *,
    actor: str,
    cause: str,
    took_live: TookLive,
    version: str | None = None,
) -> Published:
    """Build ``spec`` (refused with every problem when it does not build), store it as the
    next snapshot version and audit it. A rule live in the current snapshot that only the
    cost bound refuses stays disabled (``needs_attention``); it does not block the publish."""
    seq = repository.newest_seq(session) or 0
    spec = {**spec, "version": version or f"v{seq + 1}"}
    found, disabled = _build(spec, published_rules(session))
    if found:
        raise InvalidInput(found)
    if repository.version_exists(session, spec["version"]):
        raise Conflict(f"snapshot version {spec['version']!r} exists already")
    now = dt.datetime.now(dt.UTC)
    repository.insert_snapshot(session, spec["version"], spec, now)
    details = {"cause": cause, "took_live": took_live} | (
        {"needs_attention": disabled} if disabled else {}
    )
    repository.record_publish(session, actor, spec["version"], details)
    published: Published = {"version": spec["version"], "published_at": now.isoformat(),
                            "offers": len(spec.get("offers", ())), "rules": len(spec.get("rules", ()))}  # fmt: skip
    if disabled:
        published["needs_attention"] = disabled
    return published


def _changes(old: SnapshotData, new: SnapshotData) -> TookLive:
    """What a publish takes live: the items added, changed and removed, by kind, and the
    settings that changed."""
    out: TookLive = {}
    for plural, key in PLURALS.items():
        before = {i[key]: i for i in old.get(plural, ())}
        after = {i[key]: i for i in new.get(plural, ())}
        change = {"added": sorted(after.keys() - before.keys()),
                  "changed": sorted(k for k in after.keys() & before.keys() if after[k] != before[k]),
                  "removed": sorted(before.keys() - after.keys())}  # fmt: skip
        if any(change.values()):
            out[plural] = {k: v for k, v in change.items() if v}
    settings = sorted(k for k in SettingsSpec.model_fields if old.get(k) != new.get(k))
    if settings:
        out["settings"] = settings
    return out


def publish(
    session: Session, version: str | None = None, *, actor: str = "system"
) -> CatalogPublished:
    """An approver's publish: the catalog tables (with every pending edit), the live rules and
    the attach counts, built (validating everything), stored as a new snapshot version and
    audited with what it took live."""
    spec = _with_counts(session, {**pending(session), "rules": live_rules(session)})
    took_live = _changes(live_spec(session) or {}, spec)
    done = store(session, spec, actor=actor, cause="catalog", took_live=took_live, version=version)
    return {**done, "took_live": took_live}


def publish_rules(session: Session, *, actor: str, cause: str, took_live: TookLive) -> str | None:
    """Publish the live snapshot with the live rules as they are now: its catalog stays as
    it is (pending catalog edits stay pending and cannot block a rule change). The new
    version, or None before the first publish (nothing to publish)."""
    spec = live_spec(session)
    if spec is None:
        return None
    spec["rules"] = live_rules(session)
    return store(session, spec, actor=actor, cause=cause, took_live=took_live)["version"]


def publish_attach_counts(session: Session, *, actor: str, took_live: TookLive) -> str | None:
    """Publish the live snapshot with the stored attach counts merged into its own; the rest
    stays as it is. The new version, or None before the first publish."""
    spec = live_spec(session)
    if spec is None:
        return None
    done = store(
        session, _with_counts(session, spec), actor=actor, cause="attach-refresh",
        took_live=took_live,
    )  # fmt: skip
    return done["version"]


def publishes(session: Session, limit: int = 100) -> list[PublishRecord]:
    """The newest publishes, newest first: the version, who published it (key id and label),
    why (``catalog``, ``rule``, ``attach-refresh``) and what it took live."""
    rows = repository.publish_records(session, limit)
    names = labels(session, (r.actor for r in rows))
    return [{"version": r.subject, "actor": r.actor, "actor_label": names[r.actor],
             "cause": r.details.get("cause"), "took_live": r.details.get("took_live"),
             "occurred_at": utc(r.occurred_at).isoformat()} for r in rows]  # fmt: skip


def summary(snapshot: Snapshot) -> LiveSnapshot:
    """The live snapshot: its version, sizes, channels, and the rules it holds disabled
    (published before a check that now refuses their trigger)."""
    attention: list[DisabledRule] = [
        {"rule": r.id, "revision": r.revision, "trigger": r.trigger, "state": "disabled",
         "problems": list(r.problems)} for r in snapshot.disabled.values()]  # fmt: skip
    return {"version": snapshot.version, "offers": len(snapshot.offers), "rules": len(snapshot.rules),
            "channels": sorted(snapshot.channels), "needs_attention": attention}  # fmt: skip
