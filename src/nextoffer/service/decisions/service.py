"""One decision: the live snapshot, the customer's state from the ledger, the engine, the ledger.

The customer's state is read per request: the stored customer (attributes, holdings,
segments; the request's own values win) and the contacts within the longest policy window,
through the ledger's (customer, occurred_at) indexes. The decision is then written to the
ledger with what was shown, the control flag, the counterfactual, the snapshot version,
the rule revisions that fired and the trace (when the request's trace was sampled in).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ...core.decision import CustomerState, DecisionError, Snapshot
from ...core.decision import decide as run_decision
from ...core.request import Request
from ...jobs.uplift import UpliftModel
from ..catalog.service import SnapshotCache
from ..db import Database
from ..errors import InvalidInput, NotFound
from ..ledger import repository
from ..ledger.service import customer_and_contacts, utc
from ..uplift.service import ModelCache, customer_estimates

__all__ = ["decide", "decide_async", "decide_with", "get", "lookback", "seen"]


def lookback(snapshot: Snapshot) -> dt.timedelta:
    """How far back the policies look (at least 30 days: sessions and monthly caps)."""
    longest = max((p.window for p in snapshot.contact_policies), default=0.0)
    return max(dt.timedelta(days=30), dt.timedelta(seconds=longest))


def seen(request: Request, stored: dict[str, Any], declared: Collection[str]) -> dict[str, Any]:
    """The customer as the engine sees them: the declared attributes, the request's winning
    over the stored ones; holdings and segments are the union (kept with the decision: the
    uplift features)."""
    ref = request.customer
    assert ref is not None
    merged = {**stored.get("attributes", {}),
              **{k: v for k, v in ref.attributes.items() if v is not None}}  # fmt: skip
    attributes = {k: v for k, v in merged.items() if k in declared}
    return {
        "attributes": attributes,
        "holdings": sorted({*stored.get("holdings", ()), *ref.holdings}),
        "segments": sorted({*stored.get("segments", ()), *ref.segments}),
    }


def _request(body: Any) -> Request:
    if isinstance(body, Request):
        return body
    try:
        return Request.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from None


def decide(
    session: Session,
    cache: SnapshotCache,
    body: Any,
    idempotency_key: str | None = None,
    models: ModelCache | None = None,
) -> dict[str, Any]:
    """One decision in ``session``'s transaction, from the live snapshot and models."""
    live = models.live() if models is not None else None
    return decide_with(session, cache.get(), live, body, idempotency_key)


async def decide_async(
    db: Database,
    cache: SnapshotCache,
    body: Any,
    idempotency_key: str | None = None,
    models: ModelCache | None = None,
) -> dict[str, Any]:
    """``decide`` in its own transaction, for the event loop: on PostgreSQL the same code runs
    on an asyncio connection (no thread, no wait for the GIL between the round trips); on
    SQLite in a worker thread. Committed before it returns."""
    snapshot = cache.cached()
    if snapshot is None:
        snapshot = await run_in_threadpool(cache.get)
    live = None
    if models is not None:
        live = models.cached()
        if live is None:
            live = await run_in_threadpool(models.live)
    if db.async_sessions is None:
        return await run_in_threadpool(_in_transaction, db, snapshot, live, body, idempotency_key)
    async with db.async_sessions() as session:
        return await session.run_sync(decide_with, snapshot, live, body, idempotency_key)


def _in_transaction(db: Database, *args: Any) -> dict[str, Any]:
    with db.transaction() as session:
        return decide_with(session, *args)


def decide_with(
    session: Session,
    snapshot: Snapshot,
    live: Mapping[str, tuple[str, UpliftModel]] | None,
    body: Any,
    idempotency_key: str | None,
) -> dict[str, Any]:
    request = _request(body)
    now = dt.datetime.now(dt.UTC)
    customer_id = request.customer.id if request.customer is not None else None
    state = None
    features = None
    if customer_id is not None:
        found, history = customer_and_contacts(session, customer_id, now - lookback(snapshot))
        stored = found or {}
        features = seen(request, stored, snapshot.spec.customer_schema.attributes)
        cate, segments = customer_estimates(session, customer_id, features, live)
        try:
            state = CustomerState(
                id=customer_id,
                attributes=stored.get("attributes", {}),
                holdings=tuple(stored.get("holdings", ())),
                segments=tuple(stored.get("segments", ())),
                history=tuple(history),
                cate=cate,
                uplift_segments=segments,
            )
        except ValidationError as exc:  # pragma: no cover - stored data was validated on write
            raise InvalidInput.one("customer", str(exc)) from None
    try:
        decision = run_decision(snapshot, request, state, now=now)
    except DecisionError as exc:
        raise InvalidInput.one(exc.field, exc.message) from None
    out = decision.to_dict()
    row = {
        "id": str(uuid.uuid4()),
        "idempotency_key": idempotency_key,
        "customer_id": customer_id,
        "session_id": request.session_id,
        "channel": decision.channel,
        "snapshot_version": decision.snapshot_version,
        "control": decision.control,
        "experiment": decision.experiment,
        "shown": decision.offers(),
        "request": request.model_dump(mode="json", exclude_none=True),
        "decision": {k: out[k] for k in ("placements", "counterfactual", "rules_fired", "cascade")},
        "trace": out["trace"] if decision.trace.detailed else None,
        "features": features,
    }
    stored_row, _replay = repository.insert_decision(session, row)
    return public(stored_row, with_trace=False)


def public(row: dict[str, Any], *, with_trace: bool) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "snapshot_version": row["snapshot_version"],
        "customer_id": row["customer_id"],
        "channel": row["channel"],
        "session_id": row["session_id"],
        "control": row["control"],
        "experiment": row["experiment"],
        **row["decision"],
        "occurred_at": utc(row["occurred_at"]).isoformat(),
    }
    if with_trace:
        out["request"] = row["request"]
        out["trace"] = row["trace"]
    return out


def get(session: Session, decision_id: str) -> dict[str, Any]:
    row = repository.get_decision(session, decision_id)
    if row is None:
        raise NotFound(f"no decision {decision_id!r}")
    return public(row, with_trace=True)
