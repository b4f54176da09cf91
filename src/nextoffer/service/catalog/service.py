"""Catalog items and publishing snapshots.

Each item is stored as the JSON the core's spec model validates: ``product`` →
``ProductSpec``, ``offer`` → ``OfferSpec``, ``channel`` → ``ChannelSpec`` (with its
placements, coupling and scoring), ``policy`` → ``PolicySpec``, and one ``settings`` item (customer and offer schemas, guardrails, holdout, attach
priors, estimates, trace sampling). Each write is checked as the snapshot would check it
(every problem at once, named by id: ``offers.mortgage.attributes.foo``) and stays pending:
only an approver's **publish** takes the catalog live. It assembles the items, with the live
revision of every active rule (the rules domain governs those), into a ``SnapshotSpec``,
builds it (which checks every reference and condition) and stores it as a new, numbered,
audited snapshot version; API workers pick it up within a second.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
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
from ..attach.service import merged_counts
from ..db import Database
from ..errors import InvalidInput, NotFound, Unavailable
from ..publish import (
    PLURALS,
    live_rules,
    live_spec,
    problems,
    published_any,
    published_rules,
    store,
)
from ..tables import catalog_items, snapshots

__all__ = ["KINDS", "SettingsSpec", "SnapshotCache", "delete_item", "get_item", "list_items",
           "live_spec", "load_spec", "merge_patch", "patch_item", "publish", "published_any",
           "put_item"]  # fmt: skip

log = logging.getLogger("nextoffer.snapshots")


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


def _place(kind: str, item_id: str) -> str:
    """Where an item's problems are named: ``offers.mortgage``, ``settings``."""
    return "settings" if kind == "settings" else f"{_PLURAL[kind]}.{item_id}"


def _named(field: str) -> str:
    """A snapshot problem's place as the catalog names it: the settings' fields under
    ``settings.`` (``settings.holdout.fallback_offer``), items by id (``offers.mortgage.sku``)."""
    head = re.split(r"[.\[]", field, maxsplit=1)[0]
    return f"settings.{field}" if head in SettingsSpec.model_fields else field


def _validate(kind: str, item_id: str, body: Any) -> dict[str, Any]:
    """The item as stored, or every problem of the item by itself (its fields' types and
    ranges), each named ``offers.<id>.<field>``."""
    if kind not in KINDS:
        raise NotFound(f"no catalog kind {kind!r}; kinds: {', '.join(KINDS)}")
    model, id_field = KINDS[kind]
    if not isinstance(body, dict):
        raise InvalidInput.one("body", "expected a JSON object")
    place = _place(kind, item_id)
    if id_field:
        if body.get(id_field, item_id) != item_id:
            raise InvalidInput.one(
                f"{place}.{id_field}",
                f"{body[id_field]!r} differs from the id in the path {item_id!r}",
            )
        body = {**body, id_field: item_id}
    elif item_id != "default":
        raise NotFound("the settings item is called 'default'")
    try:
        return model.model_validate(body).model_dump(mode="json", exclude_defaults=True) | (
            {id_field: item_id} if id_field else {}
        )
    except ValidationError as exc:
        errors = InvalidInput.from_validation(exc).errors
        raise InvalidInput([{**e, "field": f"{place}.{e['field']}"} for e in errors]) from None


def _pending(session: Session) -> dict[str, Any]:
    """The catalog tables (edits not yet published included) as snapshot data, without rules
    and with the settings' own attach counts."""
    spec: dict[str, Any] = dict(get_item(session, "settings", "default", missing_ok=True) or {})
    for kind, plural in _PLURAL.items():
        spec[plural] = list_items(session, kind)
    return spec


def _with(spec: dict[str, Any], kind: str, item_id: str, clean: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with one item replaced by ``clean``."""
    if kind == "settings":
        return {k: v for k, v in spec.items() if k in PLURALS} | clean
    plural, id_field = _PLURAL[kind], KINDS[kind][1]
    items = [i for i in spec[plural] if i[id_field] != item_id]
    items.append(clean)
    return {**spec, plural: sorted(items, key=lambda i: str(i[id_field]))}


# a reference to something not (yet) in the catalog: refused at publish, not at write (a
# catalog is written one item at a time, and offers and channels refer to each other)
_DANGLING = re.compile(r"^unknown (product|offer|channel|placement|category|sku) '")


def _check_write(session: Session, kind: str, item_id: str, clean: dict[str, Any]) -> None:
    """Refuse a write that makes the catalog unpublishable: every problem of the item itself
    (undeclared attributes, conditions against the schemas, ...) and every problem it makes
    elsewhere (a settings change breaking an offer or a live rule), at once. References to
    items not written yet are left to the publish; problems elsewhere that were there before
    are not this write's."""
    before = {**_pending(session), "rules": live_rules(session)}
    after = _with(before, kind, item_id, clean)
    sku = (
        clean.get("sku") if kind == "offer" and clean.get("kind", "product") == "product" else None
    )
    if sku and sku not in {p["sku"] for p in after["products"]}:
        # an offer of a product not written yet: checked in full against a stand-in for it
        # (a build stops at the unknown product and would check nothing else of the offer)
        stand_in = {"sku": sku, "category": clean.get("category") or "uncategorised", "price": 0}
        after = {**after, "products": [*after["products"], stand_in]}
    published = published_rules(session)  # a published rule the cost bound refuses: disabled
    old = {(_named(e["field"]), e["message"]) for e in problems(before, published)}
    own = re.compile(rf"{re.escape(_place(kind, item_id))}(\.|\[|$)")
    found = []
    for e in problems(after, published):
        field = _named(e["field"])
        if _DANGLING.match(e["message"]):
            continue
        if own.match(field) or (field, e["message"]) not in old:
            found.append({"field": field, "message": e["message"]})
    if found:
        raise InvalidInput(found)


def put_item(session: Session, kind: str, item_id: str, body: Any) -> tuple[dict[str, Any], bool]:
    """Create or replace an item (a full replacement: fields it does not give take their
    defaults); returns it and whether it was new. Nothing goes live until an approver
    publishes."""
    clean = _validate(kind, item_id, body)
    _check_write(session, kind, item_id, clean)
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


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, ``null`` removes a key, anything
    else (arrays included) replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def patch_item(session: Session, kind: str, item_id: str, patch: Any) -> dict[str, Any]:
    """Change the fields ``patch`` names (a JSON merge patch) of an existing item, validated
    like ``put_item``."""
    if kind not in KINDS:
        raise NotFound(f"no catalog kind {kind!r}; kinds: {', '.join(KINDS)}")
    if not isinstance(patch, dict):
        raise InvalidInput.one("body", "expected a JSON object (a JSON merge patch)")
    current = get_item(session, kind, item_id)
    clean, _ = put_item(session, kind, item_id, merge_patch(current, patch))
    return clean


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
    """Delete an item (an approver's publish refuses a catalog that still refers to it)."""
    result = session.execute(
        sa.delete(catalog_items).where(catalog_items.c.kind == kind, catalog_items.c.id == item_id)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"no {kind} {item_id!r}")


def load_spec(session: Session, data: dict[str, Any], actor: str = "loader") -> None:
    """Put every item of a snapshot's plain data (as the scenarios provide it); its rules
    become live revision 1 of each rule (recorded in the audit log)."""
    from ..rules.service import seed_rule  # the rules domain builds on the catalog

    settings = {k: v for k, v in data.items() if k in SettingsSpec.model_fields}
    put_item(session, "settings", "default", settings)
    for kind, plural in _PLURAL.items():
        id_field = KINDS[kind][1]
        for item in data.get(plural, ()):
            put_item(session, kind, item[id_field], item)
    for rule in data.get("rules", ()):
        seed_rule(session, actor, rule)


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What a publish takes live: the items added, changed and removed, by kind, and the
    settings that changed."""
    out: dict[str, Any] = {}
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
) -> dict[str, Any]:
    """An approver's publish: the catalog tables (with every pending edit) and the live rules,
    built (validating everything), stored as a new snapshot version and audited."""
    spec = {**_pending(session), "rules": live_rules(session)}
    spec["attach"] = merged_counts(
        session,
        spec.get("attach", []),
        {o["id"] for o in spec["offers"]},
        {c["id"] for c in spec["channels"]},
    )
    took_live = _changes(live_spec(session) or {}, spec)
    done = store(session, spec, actor=actor, cause="catalog", took_live=took_live, version=version)
    return {**done, "took_live": took_live}


class SnapshotCache:
    """The live snapshot of one worker: rebuilt when a newer version is published.

    ``get()`` looks at the newest version number at most every ``poll`` seconds (one indexed
    query), so every worker swaps to a new snapshot within about ``poll`` seconds of a
    publish, without a restart.

    A stored snapshot was published: it loads even where a newer check would refuse it. A
    rule whose trigger the cost bound refuses (published before the bound) is loaded
    disabled: it never fires or runs, a warning is logged, and the API and the dashboard show
    it as needing attention. Should a stored snapshot not load at all, the worker logs it
    once and keeps serving the one it has (a 503 when it has none), without building it
    again at every request.
    """

    def __init__(self, db: Database, poll: float = 0.25) -> None:
        self.db, self.poll = db, poll
        self._lock = threading.Lock()
        self._seq = -1
        self._snapshot: Snapshot | None = None
        self._checked = 0.0
        self._unloadable: tuple[int, str] | None = None  # the newest seq that did not load

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
                if seq != self._seq and (self._unloadable is None or self._unloadable[0] != seq):
                    spec = session.execute(
                        sa.select(snapshots.c.spec).where(snapshots.c.seq == seq)
                    ).scalar_one()
                    self._load(seq, spec)
            self._checked = time.monotonic()
            if self._snapshot is None:
                assert self._unloadable is not None
                raise Unavailable(f"the live snapshot does not load: {self._unloadable[1]}")
            return self._snapshot

    def _load(self, seq: int, spec: dict[str, Any]) -> None:
        version = spec.get("version")
        try:
            snapshot = build_snapshot(spec, published=True)
        except SnapshotError as exc:
            self._unloadable = (seq, str(exc).splitlines()[0])
            kept = self._snapshot.version if self._snapshot is not None else "none"
            log.error("snapshot %s does not load; serving %s meanwhile:\n%s", version, kept, exc)
            return
        self._snapshot, self._seq, self._unloadable = snapshot, seq, None
        for rule in snapshot.disabled.values():
            log.warning(
                "snapshot %s: rule %s v%d is disabled (it never fires): %s; deactivate it"
                " (nextoffer rules deactivate %s) or approve a revision within the bound",
                version, rule.id, rule.revision, "; ".join(rule.problems), rule.id,
            )  # fmt: skip
