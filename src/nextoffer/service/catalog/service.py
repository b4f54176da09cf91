"""Catalog items: products, offers, channels, policies and the settings.

Each item is stored as the JSON the core's spec model validates: ``product`` →
``ProductSpec``, ``offer`` → ``OfferSpec``, ``channel`` → ``ChannelSpec`` (with its
placements, coupling and scoring), ``policy`` → ``PolicySpec``, and one ``settings`` item (customer and offer schemas, guardrails, holdout, attach
priors, estimates, trace sampling). Each write is checked as the snapshot would check it
(every problem at once, named by id: ``offers.mortgage.attributes.foo``) and stays pending:
only an approver's **publish** (the snapshots domain) takes the catalog live, with the live
revision of every active rule.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import JsonValue, ValidationError
from sqlalchemy.orm import Session

from ..errors import InvalidInput, NotFound
from ..snapshots import service as snapshots
from ..snapshots.schemas import PLURALS
from . import repository
from .schemas import KINDS, PLURAL, CatalogItem, SettingsSpec, Written

__all__ = ["KINDS", "CatalogItem", "SettingsSpec", "Written", "delete_item", "get_item",
           "list_items", "merge_patch", "patch_item", "put_item"]  # fmt: skip


def _place(kind: str, item_id: str) -> str:
    """Where an item's problems are named: ``offers.mortgage``, ``settings``."""
    return "settings" if kind == "settings" else f"{PLURAL[kind]}.{item_id}"


def _named(field: str) -> str:
    """A snapshot problem's place as the catalog names it: the settings' fields under
    ``settings.`` (``settings.holdout.fallback_offer``), items by id (``offers.mortgage.sku``)."""
    head = re.split(r"[.\[]", field, maxsplit=1)[0]
    return f"settings.{field}" if head in SettingsSpec.model_fields else field


def _validate(kind: str, item_id: str, body: JsonValue) -> CatalogItem:
    """The item as stored, or every problem of the item by itself (its fields' types and
    ranges), each named ``offers.<id>.<field>``. ``body`` is JSON as given: the API's is an
    object, the dashboard editor's whatever its text parses to."""
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


def _with(spec: dict[str, Any], kind: str, item_id: str, clean: CatalogItem) -> dict[str, Any]:
    """``spec`` with one item replaced by ``clean``."""
    if kind == "settings":
        return {k: v for k, v in spec.items() if k in PLURALS} | clean
    plural, id_field = PLURAL[kind], KINDS[kind][1]
    items = [i for i in spec[plural] if i[id_field] != item_id]
    items.append(clean)
    return {**spec, plural: sorted(items, key=lambda i: str(i[id_field]))}


# a reference to something not (yet) in the catalog: refused at publish, not at write (a
# catalog is written one item at a time, and offers and channels refer to each other)
_DANGLING = re.compile(r"^unknown (product|offer|channel|placement|category|sku) '")


def _check_write(session: Session, kind: str, item_id: str, clean: CatalogItem) -> None:
    """Refuse a write that makes the catalog unpublishable: every problem of the item itself
    (undeclared attributes, conditions against the schemas, ...) and every problem it makes
    elsewhere (a settings change breaking an offer or a live rule), at once. References to
    items not written yet are left to the publish; problems elsewhere that were there before
    are not this write's."""
    before = {**snapshots.pending(session), "rules": snapshots.live_rules(session)}
    after = _with(before, kind, item_id, clean)
    sku = (
        clean.get("sku") if kind == "offer" and clean.get("kind", "product") == "product" else None
    )
    if sku and sku not in {p["sku"] for p in after["products"]}:
        # an offer of a product not written yet: checked in full against a stand-in for it
        # (a build stops at the unknown product and would check nothing else of the offer)
        stand_in = {"sku": sku, "category": clean.get("category") or "uncategorised", "price": 0}
        after = {**after, "products": [*after["products"], stand_in]}
    published = snapshots.published_rules(
        session
    )  # a published rule the cost bound refuses: disabled
    old = {(_named(e["field"]), e["message"]) for e in snapshots.problems(before, published)}
    own = re.compile(rf"{re.escape(_place(kind, item_id))}(\.|\[|$)")
    found = []
    for e in snapshots.problems(after, published):
        field = _named(e["field"])
        if _DANGLING.match(e["message"]):
            continue
        if own.match(field) or (field, e["message"]) not in old:
            found.append({"field": field, "message": e["message"]})
    if found:
        raise InvalidInput(found)


def put_item(session: Session, kind: str, item_id: str, body: JsonValue) -> Written:
    """Create or replace an item from its JSON (a full replacement: fields it does not give
    take their defaults); returns it as stored and whether it was new. Nothing goes live
    until an approver publishes."""
    clean = _validate(kind, item_id, body)
    _check_write(session, kind, item_id, clean)
    now = dt.datetime.now(dt.UTC)
    exists = repository.get_item(session, kind, item_id) is not None
    if exists:
        repository.update_item(session, kind, item_id, clean, now)
    else:
        repository.insert_item(session, kind, item_id, clean, now)
    return Written(clean, not exists)


def merge_patch(target: JsonValue, patch: JsonValue) -> JsonValue:
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


def patch_item(session: Session, kind: str, item_id: str, patch: JsonValue) -> CatalogItem:
    """Change the fields ``patch`` names (a JSON merge patch) of an existing item, validated
    like ``put_item``."""
    if kind not in KINDS:
        raise NotFound(f"no catalog kind {kind!r}; kinds: {', '.join(KINDS)}")
    if not isinstance(patch, dict):
        raise InvalidInput.one("body", "expected a JSON object (a JSON merge patch)")
    current = get_item(session, kind, item_id)
    return put_item(session, kind, item_id, merge_patch(current, patch)).item


def get_item(
    session: Session, kind: str, item_id: str, *, missing_ok: bool = False
) -> CatalogItem | None:
    """The item (pending edits included); ``NotFound``, or None when ``missing_ok``."""
    item = repository.get_item(session, kind, item_id)
    if item is None and not missing_ok:
        raise NotFound(f"no {kind} {item_id!r}")
    return item


def list_items(session: Session, kind: str) -> list[CatalogItem]:
    """Every item of ``kind`` (pending edits included), by id."""
    if kind not in KINDS:
        raise NotFound(f"no catalog kind {kind!r}; kinds: {', '.join(KINDS)}")
    return repository.list_items(session, kind)


def delete_item(session: Session, kind: str, item_id: str) -> None:
    """Delete an item (an approver's publish refuses a catalog that still refers to it)."""
    if not repository.delete_item(session, kind, item_id):
        raise NotFound(f"no {kind} {item_id!r}")
