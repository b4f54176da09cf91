"""Catalog items and publishing snapshots.

Each item is stored as the JSON the core's spec model validates: ``product`` →
``ProductSpec``, ``offer`` → ``OfferSpec``, ``channel`` → ``ChannelSpec`` (with its
placements, coupling and scoring), ``policy`` → ``PolicySpec``, and one ``settings`` item (customer and offer schemas, guardrails, holdout, attach
priors, estimates, trace sampling). **Publishing** assembles them, with the live revision of every active rule (the rules
domain governs those), into a ``SnapshotSpec``,
builds it (which checks every reference and condition) and stores it as a new, numbered
snapshot version; API workers pick it up within a second.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from ...core.decision import (
    AttachEstimate,
    ChannelSpec,
    Guardrails,
    HoldoutSpec,
    OfferSpec,
    PolicySpec,
    ProductSpec,
    Snapshot,
    SnapshotError,
    UpliftEstimate,
    build_snapshot,
)
from ...core.rules import CustomerSchema, OfferSchema
from ..db import Database
from ..errors import Conflict, InvalidInput, NotFound
from ..tables import catalog_items, snapshots

__all__ = ["KINDS", "SettingsSpec", "SnapshotCache", "delete_item", "get_item", "list_items",
           "load_spec", "publish", "published_any", "put_item"]  # fmt: skip


class SettingsSpec(BaseModel):
    """Everything in a snapshot that is not a list of catalog items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_schema: CustomerSchema = Field(default_factory=CustomerSchema)
    offer_schema: OfferSchema = Field(default_factory=OfferSchema)
    guardrails: Guardrails = Field(default_factory=Guardrails)
    holdout: HoldoutSpec | None = None
    attach_prior: float = Field(0.05, ge=0, le=1)
    attach_prior_strength: float = Field(20.0, gt=0, le=1e6)
    attach: tuple[AttachEstimate, ...] = ()
    uplift: tuple[UpliftEstimate, ...] = ()
    trace_sample_rate: float = Field(1.0, ge=0, le=1)


KINDS: dict[str, tuple[type[BaseModel], str]] = {
    # kind: (model, id field)
    "product": (ProductSpec, "sku"),
    "offer": (OfferSpec, "id"),
    "channel": (ChannelSpec, "id"),
    "policy": (PolicySpec, "id"),
    "settings": (SettingsSpec, ""),
}
_PLURAL = {"product": "products", "offer": "offers", "channel": "channels", "policy": "policies"}


def _validate(kind: str, item_id: str, body: Any) -> dict[str, Any]:
    if kind not in KINDS:
        raise NotFound(f"no catalog kind {kind!r}; kinds: {', '.join(KINDS)}")
    model, id_field = KINDS[kind]
    if not isinstance(body, dict):
        raise InvalidInput.one("body", "expected a JSON object")
    if id_field:
        if body.get(id_field, item_id) != item_id:
            raise InvalidInput.one(
                id_field, f"{body[id_field]!r} differs from the id in the path {item_id!r}"
            )
        body = {**body, id_field: item_id}
    elif item_id != "default":
        raise NotFound("the settings item is called 'default'")
    try:
        return model.model_validate(body).model_dump(mode="json", exclude_defaults=True) | (
            {id_field: item_id} if id_field else {}
        )
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from None


def put_item(session: Session, kind: str, item_id: str, body: Any) -> tuple[dict[str, Any], bool]:
    """Create or replace an item; returns it and whether it was new."""
    clean = _validate(kind, item_id, body)
    now = dt.datetime.now(dt.UTC)
    exists = get_item(session, kind, item_id, missing_ok=True) is not None
    if exists:
        session.execute(
            sa.update(catalog_items)
            .where(catalog_items.c.kind == kind, catalog_items.c.id == item_id)
            .values(body=clean, updated_at=now)
        )
    else:
        session.execute(
            sa.insert(catalog_items).values(kind=kind, id=item_id, body=clean, updated_at=now)
        )
    return clean, not exists


def get_item(
    session: Session, kind: str, item_id: str, *, missing_ok: bool = False
) -> dict[str, Any] | None:
    row = session.execute(
        sa.select(catalog_items.c.body).where(
            catalog_items.c.kind == kind, catalog_items.c.id == item_id
        )
    ).first()
    if row is None and not missing_ok:
        raise NotFound(f"no {kind} {item_id!r}")
    return None if row is None else dict(row.body)


def list_items(session: Session, kind: str) -> list[dict[str, Any]]:
    if kind not in KINDS:
        raise NotFound(f"no catalog kind {kind!r}; kinds: {', '.join(KINDS)}")
    rows = session.execute(
        sa.select(catalog_items.c.body)
        .where(catalog_items.c.kind == kind)
        .order_by(catalog_items.c.id)
    )
    return [dict(r.body) for r in rows]


def delete_item(session: Session, kind: str, item_id: str) -> None:
    result = session.execute(
        sa.delete(catalog_items).where(catalog_items.c.kind == kind, catalog_items.c.id == item_id)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"no {kind} {item_id!r}")


def load_spec(session: Session, data: dict[str, Any], actor: str = "loader") -> None:
    """Put every item of a snapshot's plain data (as the scenarios provide it); its rules
    become live revision 1 of each rule (recorded in the audit log)."""
    from ..rules.service import seed_rule  # the rules domain builds on the catalog

    for kind, plural in _PLURAL.items():
        id_field = KINDS[kind][1]
        for item in data.get(plural, ()):
            put_item(session, kind, item[id_field], item)
    settings = {k: v for k, v in data.items() if k in SettingsSpec.model_fields}
    put_item(session, "settings", "default", settings)
    for rule in data.get("rules", ()):
        seed_rule(session, actor, rule)


def live_spec(session: Session) -> dict[str, Any] | None:
    """The newest published snapshot's spec (None before the first publish)."""
    spec: dict[str, Any] | None = session.execute(
        sa.select(snapshots.c.spec).order_by(snapshots.c.seq.desc()).limit(1)
    ).scalar()
    return spec


def published_any(session: Session) -> bool:
    """Whether a snapshot has ever been published."""
    return session.execute(sa.select(snapshots.c.seq).limit(1)).first() is not None


def publish(session: Session, version: str | None = None) -> dict[str, Any]:
    """Assemble, build (validating everything) and store a new snapshot version."""
    from ..attach.service import merged_counts
    from ..rules.service import live_rules

    spec: dict[str, Any] = dict(get_item(session, "settings", "default", missing_ok=True) or {})
    for kind, plural in _PLURAL.items():
        spec[plural] = list_items(session, kind)
    spec["rules"] = live_rules(session)
    spec["attach"] = merged_counts(
        session,
        spec.get("attach", []),
        {o["id"] for o in spec["offers"]},
        {c["id"] for c in spec["channels"]},
    )
    seq = session.execute(sa.select(sa.func.max(snapshots.c.seq))).scalar() or 0
    spec["version"] = version or f"v{seq + 1}"
    try:
        build_snapshot(spec)
    except SnapshotError as exc:
        raise InvalidInput.from_diagnostics(exc.diagnostics) from None
    exists = session.execute(
        sa.select(snapshots.c.seq).where(snapshots.c.version == spec["version"])
    ).first()
    if exists is not None:
        raise Conflict(f"snapshot version {spec['version']!r} exists already")
    now = dt.datetime.now(dt.UTC)
    session.execute(
        sa.insert(snapshots).values(version=spec["version"], spec=spec, published_at=now)
    )
    return {"version": spec["version"], "published_at": now.isoformat(),
            "offers": len(spec["offers"]), "rules": len(spec["rules"])}  # fmt: skip


class SnapshotCache:
    """The live snapshot of one worker: rebuilt when a newer version is published.

    ``get()`` looks at the newest version number at most every ``poll`` seconds (one indexed
    query), so every worker swaps to a new snapshot within about ``poll`` seconds of a
    publish, without a restart.
    """

    def __init__(self, db: Database, poll: float = 0.25) -> None:
        self.db, self.poll = db, poll
        self._lock = threading.Lock()
        self._seq = -1
        self._snapshot: Snapshot | None = None
        self._checked = 0.0

    def cached(self) -> Snapshot | None:
        """The snapshot when it was checked within ``poll`` seconds, else None (no query:
        the event loop may call it; ``get()`` may read the database)."""
        if self._snapshot is not None and time.monotonic() - self._checked < self.poll:
            return self._snapshot
        return None

    def get(self, check: bool = False) -> Snapshot:
        """The live snapshot, checked again when ``check`` or ``poll`` seconds have passed."""
        snapshot = None if check else self.cached()
        if snapshot is not None:
            return snapshot
        with self._lock:
            snapshot = None if check else self.cached()  # another thread may have just checked
            if snapshot is not None:
                return snapshot
            with self.db.read() as session:
                seq = session.execute(sa.select(sa.func.max(snapshots.c.seq))).scalar()
                if seq is None:
                    raise NotFound("nothing is published yet: POST /v1/catalog/publish")
                if seq != self._seq:
                    spec = session.execute(
                        sa.select(snapshots.c.spec).where(snapshots.c.seq == seq)
                    ).scalar_one()
                    self._snapshot, self._seq = build_snapshot(spec), seq
            self._checked = time.monotonic()
            assert self._snapshot is not None
            return self._snapshot
