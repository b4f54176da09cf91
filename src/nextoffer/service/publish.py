"""Snapshots: the live one, and storing a new one (built, checked and audited).

Three things publish, each from its own part of the data and nothing else:

- an approver's **catalog publish** takes the catalog tables (the pending edits) live, with
  the live rules (``catalog.service.publish``);
- a **rule change** (approve, restore, activate, deactivate) replaces the live snapshot's
  rules and keeps its catalog (``rules.service``);
- an **attach-rate refresh** replaces the live snapshot's attach counts and keeps the rest
  (``attach.service.refresh``).

So pending catalog edits go live only through an approver's publish. Every publish is
written to the audit log (action ``publish``, subject the snapshot version) with its actor,
its cause and what it took live.

The checks govern what is published, not what was: a rule revision live in the snapshot a
publish builds on that a newer check refuses (a trigger over the cost bound, published
before the bound) is carried over **disabled** (``needs_attention``), not a reason to refuse
the publish; any other revision is checked in full.

This module imports no other domain: catalog, rules and attach all build on it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..core.decision import SnapshotError, build_snapshot
from ..core.rules import Diagnostic
from .errors import Conflict, InvalidInput
from .keys.service import labels
from .ledger.service import utc
from .tables import audit, rule_revisions, rules, snapshots

__all__ = ["PLURALS", "by_id", "live_rules", "live_spec", "problems", "published_any",
           "published_rules", "publishes", "store"]  # fmt: skip

# the snapshot's item lists, with each item's id field
PLURALS = {"products": "sku", "offers": "id", "channels": "id", "policies": "id", "rules": "id"}
_INDEXED = re.compile(r"^(products|offers|channels|policies|rules)\[(\d+)\]")


def live_spec(session: Session) -> dict[str, Any] | None:
    """The newest published snapshot's spec (None before the first publish)."""
    spec: dict[str, Any] | None = session.execute(
        sa.select(snapshots.c.spec).order_by(snapshots.c.seq.desc()).limit(1)
    ).scalar()
    return None if spec is None else dict(spec)


def published_rules(session: Session) -> frozenset[tuple[str, int]]:
    """The (id, revision) of every rule in the live snapshot: published already."""
    spec = live_spec(session) or {}
    return frozenset((r["id"], r.get("revision", 1)) for r in spec.get("rules") or ())


def published_any(session: Session) -> bool:
    """Whether a snapshot has ever been published."""
    return session.execute(sa.select(snapshots.c.seq).limit(1)).first() is not None


def live_rules(session: Session) -> list[dict[str, Any]]:
    """The live revision of every active rule, as snapshot data."""
    rows = session.execute(
        sa.select(rule_revisions)
        .join(
            rules,
            sa.and_(
                rules.c.id == rule_revisions.c.rule_id,
                rules.c.live_revision == rule_revisions.c.revision,
            ),
        )
        .order_by(rule_revisions.c.rule_id)
    )
    return [{"id": r.rule_id, "revision": r.revision, "trigger": r.trigger, "offers": r.offers,
             "priority": r.priority, "description": r.description} for r in rows]  # fmt: skip


def by_id(spec: dict[str, Any], path: str) -> str:
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
    spec: dict[str, Any], published: Collection[tuple[str, int]]
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
    spec: dict[str, Any], published: Collection[tuple[str, int]] = ()
) -> list[dict[str, str]]:
    """Every problem a build of ``spec`` finds, each at its place named by id (none: valid).
    A rule in ``published`` (id, revision) that only the cost bound refuses is no problem:
    it stays disabled."""
    return _build(spec, published)[0]


def store(
    session: Session,
    spec: dict[str, Any],
    *,
    actor: str,
    cause: str,
    took_live: dict[str, Any],
    version: str | None = None,
) -> dict[str, Any]:
    """Build ``spec`` (refused with every problem when it does not build), store it as the
    next snapshot version and audit it. A rule live in the current snapshot that only the
    cost bound refuses stays disabled (``needs_attention``); it does not block the publish."""
    seq = session.execute(sa.select(sa.func.max(snapshots.c.seq))).scalar() or 0
    spec = {**spec, "version": version or f"v{seq + 1}"}
    found, disabled = _build(spec, published_rules(session))
    if found:
        raise InvalidInput(found)
    exists = session.execute(
        sa.select(snapshots.c.seq).where(snapshots.c.version == spec["version"])
    ).first()
    if exists is not None:
        raise Conflict(f"snapshot version {spec['version']!r} exists already")
    now = dt.datetime.now(dt.UTC)
    session.execute(
        sa.insert(snapshots).values(version=spec["version"], spec=spec, published_at=now)
    )
    session.execute(
        sa.insert(audit).values(
            action="publish",
            actor=actor,
            subject=spec["version"],
            details={"cause": cause, "took_live": took_live}
            | ({"needs_attention": disabled} if disabled else {}),
        )
    )
    return {"version": spec["version"], "published_at": now.isoformat(),
            "offers": len(spec.get("offers", ())), "rules": len(spec.get("rules", ()))}  | (
        {"needs_attention": disabled} if disabled else {})  # fmt: skip


def publishes(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """The newest publishes, newest first: the version, who published it (key id and label),
    why (``catalog``, ``rule``, ``attach-refresh``) and what it took live."""
    rows = session.execute(
        sa.select(audit)
        .where(audit.c.action == "publish")
        .order_by(audit.c.seq.desc())
        .limit(limit)
    ).all()
    names = labels(session, (r.actor for r in rows))
    return [{"version": r.subject, "actor": r.actor, "actor_label": names[r.actor],
             "cause": r.details.get("cause"), "took_live": r.details.get("took_live"),
             "occurred_at": utc(r.occurred_at).isoformat()} for r in rows]  # fmt: skip
