"""Ingesting events; and the decision path's contract with the ledger: a customer's state
read back as the engine's contacts (``customers_and_contacts``, ``CustomerContacts``) and
the decision written (``record_decision``), each sync and async, single and batched.

**Batches are all or nothing.** The whole batch is validated first; if any event is invalid
the response lists every error by position (``events[3].value``) and nothing is written.
A client then fixes the batch and sends it again with the same idempotency keys, and knows
exactly what is stored: writing the valid part would leave it guessing which events to
resend. Events whose key was seen before are not written again (they count as duplicates).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ...core.decision import Seen
from ..customers.schemas import Customer
from ..errors import InvalidInput
from ..operations.metrics import metrics
from . import repository
from .event_types import EVENT_TYPES
from .payloads import payload_problems
from .schemas import (
    BUILTIN_TYPES,
    BatchIngested,
    CustomerContacts,
    DecisionRow,
    Event,
    EventIn,
    HistoryDecision,
    HistoryEvent,
    OneIngested,
    StoredDecision,
)

__all__ = [
    "MAX_BATCH",
    "CustomerContacts",
    "DecisionRow",
    "IdempotencyKey",
    "KeyReused",
    "StoredDecision",
    "append_new_decisions",
    "customer_and_contacts",
    "customer_and_contacts_async",
    "customers_and_contacts",
    "customers_and_contacts_async",
    "decided_under",
    "history_of",
    "ingest",
    "is_reuse",
    "keep_partitions",
    "record_decision",
    "record_decision_async",
    "record_decisions",
    "record_decisions_async",
    "record_new_decisions",
    "stored_decision",
    "utc",
]

MAX_BATCH = 10_000


def utc(value: dt.datetime) -> dt.datetime:
    """Database times as aware UTC (SQLite hands them back naive)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _posix(value: dt.datetime) -> float:
    """A database time as POSIX seconds."""
    return utc(value).timestamp()


def _field(prefix: str, loc: tuple[Any, ...]) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or "body"


def ingest(
    session: Session,
    body: object,
    header_key: str | None = None,
    client: str = "",
    new: list[Event] | None = None,
) -> OneIngested | BatchIngested:
    """Validate and store one event (an object) or a batch (a list, or ``{"events": [...]}``).
    ``body`` is the JSON as sent, checked here (anything else is refused), each event's
    problems named by its place in the batch (``events[3].value``).

    ``client`` (the sender's API key id) scopes the idempotency keys: two clients' equal
    keys are two events. A key seen before with the same event is a retry (the original
    comes back); with a different event it is refused (``KeyReused``, 409), as is a key
    repeated inside one batch with a different event (422 at its position). ``new``, when
    given, receives the events this call wrote (not the duplicates): what the journeys see.
    """
    single = isinstance(body, dict) and "events" not in body
    items = [body] if single else body.get("events") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise InvalidInput.one(
            "events", 'expected an event, a list of events, or {"events": [...]}'
        )
    if not items:
        raise InvalidInput.one("events", "the batch is empty")
    if len(items) > MAX_BATCH:
        raise InvalidInput.one("events", f"at most {MAX_BATCH} events per batch, got {len(items)}")
    if header_key is not None and not single:
        raise InvalidInput.one(
            "Idempotency-Key", "the header is for a single event; give each event its own key"
        )
    if header_key is not None and not header_key.strip():
        raise InvalidInput.one("Idempotency-Key", "must not be empty")
    custom = repository.outcome_classes(session)
    payloads: dict[str, dict[str, str]] | None = None  # read once, when a custom type has one
    errors: list[dict[str, str]] = []
    # (position, event, key, key as stored, body hash)
    parsed: list[tuple[int, EventIn, str, str, str]] = []
    first: dict[str, tuple[int, str]] = {}  # key -> (position, body hash) of its first use
    for i, item in enumerate(items):
        where = "" if single else f"events[{i}]"
        try:
            event = EventIn.model_validate(item)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                errors.append(
                    {
                        "field": _field(where, err["loc"]),
                        "message": err["msg"].removeprefix("Value error, "),
                    }
                )
            continue
        if event.type not in BUILTIN_TYPES and event.type not in custom:
            errors.append({
                "field": _field(where, ("type",)),
                "message": f"unknown event type {event.type!r}; built in: {', '.join(BUILTIN_TYPES)}"
                + (f"; registered: {', '.join(sorted(custom))}" if custom else ""),
            })  # fmt: skip
        if event.payload and event.type in custom and payloads is None:
            payloads = repository.outcome_payloads(session)
        for field, message in payload_problems(event.type, event.payload, payloads or {}):
            errors.append({"field": _field(where, tuple(field.split("."))), "message": message})
        key = event.idempotency_key or (header_key if single else None)
        if key is None:
            errors.append({"field": _field(where, ("idempotency_key",)),
                           "message": "every event needs an idempotency key (or the Idempotency-Key header)"})  # fmt: skip
            continue
        stored_key, digest = IdempotencyKey(client, key).stored(
            event.model_dump(mode="json", exclude={"idempotency_key"})
        )
        if key in first and first[key][1] != digest:
            errors.append({"field": _field(where, ("idempotency_key",)),
                           "message": f"repeats the key of events[{first[key][0]}] with a different event"})  # fmt: skip
        first.setdefault(key, (i, digest))
        parsed.append((i, event, key, stored_key, digest))
    if errors:
        raise InvalidInput(errors)
    attribution = _attribution(session, [e for _, e, _, _, _ in parsed], single)
    rows: dict[str, dict[str, Any]] = {}  # by stored key: a key repeated unchanged is one row
    for (_, e, _, stored_key, digest), decided in zip(parsed, attribution, strict=True):
        rows.setdefault(stored_key, {
            "id": str(uuid.uuid4()),
            "idempotency_key": stored_key,
            "client": client,
            "body_hash": digest,
            **decided,
            "type": e.type,
            "customer_id": e.customer_id,
            "session_id": e.session_id,
            "decision_id": e.decision_id,
            "offer_id": e.offer_id,
            "channel": e.channel,
            "placement": e.placement,
            "value": e.value,
            "payload": e.payload,
            "reported_at": e.reported_at,
        })  # fmt: skip
    start = time.perf_counter()
    stored, _ = repository.insert_events(session, list(rows.values()))
    metrics().ledger_written("events", time.perf_counter() - start)
    by_key = {r["idempotency_key"]: r for r in stored}
    reused = [
        {"field": "Idempotency-Key" if single and e.idempotency_key is None
         else _field("" if single else f"events[{i}]", ("idempotency_key",)),
         "message": f"{key!r} was used before for a different event"}
        for i, e, key, stored_key, digest in parsed
        if is_reuse(by_key[stored_key], digest)
    ]  # fmt: skip
    if reused:  # nothing of the batch is written (the transaction rolls back)
        raise KeyReused(reused)
    written = {r["id"] for r in rows.values()} & {r["id"] for r in stored}
    out = [_public(by_key[stored_key]) for _, _, _, stored_key, _ in parsed]
    if new is not None:  # the events this call wrote (not the duplicates), once each
        new.extend({e["id"]: e for e in out if e["id"] in written}.values())
    duplicates = len(parsed) - len(written)
    if single:
        return {**out[0], "duplicate": duplicates == 1}
    return {"accepted": len(parsed) - duplicates, "duplicates": duplicates, "events": out}


class KeyReused(InvalidInput):
    """An idempotency key used before for a different event or decision: a conflict (409)
    with what is stored, in the house error shape, naming the key's field (as Stripe
    answers)."""

    status = 409


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """An idempotency key as a client gave it (``key``), and the API key id that sent it
    (``client``): keys are each client's own. Events and decisions both store theirs
    through ``stored`` and tell a retry from a reuse with ``is_reuse``."""

    client: str
    key: str

    def stored(self, body: Mapping[str, Any]) -> tuple[str, str]:
        """The key as the ledger stores it, ``client:key``, and the SHA-256 of ``body`` (the
        request as validated, as JSON, without its key): a retry gives the same pair."""
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return f"{self.client}:{self.key}", hashlib.sha256(text.encode()).hexdigest()


def is_reuse(stored: Mapping[str, Any], body_hash: str | None) -> bool:
    """Whether the row stored under a key came with another body than ``body_hash``'s (a
    row from before body hashes were kept counts as the original)."""
    return stored["body_hash"] not in (body_hash, None)


def _attribution(session: Session, parsed: list[EventIn], single: bool) -> list[dict[str, Any]]:
    """Per event, the columns its decision gives it: ``attributed``, whether what it refers
    to holds (the decision it names exists and is its customer's, and an event about an
    offer names a decision that showed that offer; a control decision: would have shown
    it, its counterfactual); ``decision_at``, the named decision's time; ``rule_id``, the
    rule that nominated its offer there ("" none; attributed events about an offer). An
    event about an offer the catalog does not hold is refused, unless its decision showed
    it. One read of the named decisions and one of the catalog's offers, by primary key,
    per batch."""
    named = repository.shown_by_decisions(
        session, {e.decision_id for e in parsed if e.decision_id is not None}
    )
    columns: list[dict[str, Any]] = []
    for e in parsed:
        found = None if e.decision_id is None else named.get(e.decision_id)
        if found is None:  # about an offer, it must name a decision in the ledger
            ok = e.decision_id is None and e.offer_id is None
            columns.append({"attributed": ok, "decision_at": None, "rule_id": None})
            continue
        ok = found.customer_id == e.customer_id and (
            e.offer_id is None or e.offer_id in found.offers
        )
        rule = found.rules.get(e.offer_id, "") if ok and e.offer_id is not None else None
        columns.append({"attributed": ok, "decision_at": found.occurred_at, "rule_id": rule})
    unknown = {e.offer_id for e, c in zip(parsed, columns, strict=True)
               if e.offer_id is not None and not c["attributed"]}  # fmt: skip
    missing = unknown - repository.offers_in_catalog(session, unknown) if unknown else set()
    errors = [
        {"field": _field("" if single else f"events[{i}]", ("offer_id",)),
         "message": f"no offer {e.offer_id!r} in the catalog"}
        for i, e in enumerate(parsed) if e.offer_id in missing
    ]  # fmt: skip
    if errors:
        raise InvalidInput(errors)
    return columns


def _public(row: Mapping[str, Any]) -> Event:
    """A stored event as the API shows it: the key as its client gave it, no hash."""
    key, client, reported = row["idempotency_key"], row["client"], row["reported_at"]
    return {
        "id": row["id"],
        "idempotency_key": key if client is None else key[len(client) + 1 :],
        "type": row["type"],
        "customer_id": row["customer_id"],
        "session_id": row["session_id"],
        "decision_id": row["decision_id"],
        "offer_id": row["offer_id"],
        "channel": row["channel"],
        "placement": row["placement"],
        "value": row["value"],
        "payload": row["payload"],
        "reported_at": None if reported is None else utc(reported).isoformat(),
        "occurred_at": utc(row["occurred_at"]).isoformat(),
        "attributed": row["attributed"],
    }


# The decision path's contract with the ledger: the customer-state read and the decision
# write, each sync (a SQLAlchemy session) and async (PostgreSQL's asyncio driver
# connection), single and batched. Both forms run the same statements (the repository's)
# and shape rows with the same functions (``_with_contacts``; the repository's ``_stored``).


def customers_and_contacts(
    session: Session, customer_ids: Collection[str], since: dt.datetime
) -> dict[str, CustomerContacts]:
    """Per customer: the stored customer (None when unknown) and their contacts since
    ``since``, for the policies; all read in one statement (the registered outcome types
    are read too, only when a history holds one)."""
    states = repository.customer_states(session, customer_ids, since)
    custom = repository.outcome_classes(session) if _has_custom_outcomes(states) else {}
    return _with_contacts(states, custom)


def customer_and_contacts(
    session: Session, customer_id: str, since: dt.datetime
) -> CustomerContacts:
    """``customers_and_contacts`` of one customer."""
    return customers_and_contacts(session, [customer_id], since)[customer_id]


async def customers_and_contacts_async(
    connection: psycopg.AsyncConnection[Any], customer_ids: Collection[str], since: dt.datetime
) -> dict[str, CustomerContacts]:
    """``customers_and_contacts`` on PostgreSQL's asyncio driver connection (autocommit):
    the same statement, without SQLAlchemy's statement and row machinery."""
    states = await repository.customer_states_async(connection, customer_ids, since)
    custom = {}
    if _has_custom_outcomes(states):
        custom = await repository.outcome_classes_async(connection)
    return _with_contacts(states, custom)


async def customer_and_contacts_async(
    connection: psycopg.AsyncConnection[Any], customer_id: str, since: dt.datetime
) -> CustomerContacts:
    """``customers_and_contacts_async`` of one customer."""
    return (await customers_and_contacts_async(connection, [customer_id], since))[customer_id]


def record_decision(
    session: Session, row: DecisionRow, key: IdempotencyKey | None = None
) -> StoredDecision:
    """Write one decision (a ledger row; with ``key``, the key as stored and the request's
    hash in it) in ``session``'s transaction; returns the decision as stored: its own, or,
    when its key was seen before with the same request, the original. A key used before for
    another request is refused (``KeyReused``, 409)."""
    stored, replay = repository.insert_decision(session, row)
    if replay and key is not None and is_reuse(stored, row["body_hash"]):
        raise KeyReused.one(
            "Idempotency-Key", f"{key.key!r} was used before for a different decision"
        )
    return cast(StoredDecision, stored)


def record_decisions(session: Session, rows: Sequence[DecisionRow]) -> list[StoredDecision]:
    """Write decisions without idempotency keys in one statement; each as stored, in the
    order given."""
    return cast("list[StoredDecision]", repository.insert_decisions(session, rows))


def record_new_decisions(session: Session, rows: Sequence[DecisionRow]) -> list[StoredDecision]:
    """Write decisions whose idempotency keys must be new (a journey step's attempt) in one
    statement: a key stored before fails it, and the transaction with it, so that no
    attempt is ever decided twice. Each as stored, in the order given."""
    return cast("list[StoredDecision]", repository.insert_new_decisions(session, rows))


def append_new_decisions(session: Session, rows: Sequence[DecisionRow]) -> None:
    """Write many decisions whose idempotency keys must be new (a campaign's customers),
    nothing read back: on PostgreSQL one ``COPY``. A key stored before fails the write, and
    the transaction with it, so that no customer is ever decided twice under one key."""
    repository.copy_new_decisions(session, rows)


def decided_under(session: Session, keys: Collection[str]) -> list[Any]:
    """The decisions stored under these idempotency keys (as stored: ``id``,
    ``idempotency_key``, ``customer_id``, ``control``, ``shown``, ``decision``)."""
    return repository.decisions_by_key(session, keys)


async def record_decision_async(
    session: AsyncSession, row: DecisionRow, key: IdempotencyKey | None = None
) -> StoredDecision:
    """``record_decision`` in an asyncio session (PostgreSQL, autocommit): a keyed decision
    takes the same statements, in the session's worker greenlet."""
    return await session.run_sync(record_decision, row, key)


async def record_decisions_async(
    connection: psycopg.AsyncConnection[Any], rows: Sequence[DecisionRow]
) -> list[StoredDecision]:
    """``record_decisions`` on PostgreSQL's asyncio driver connection, in one statement
    committed by itself (the connection's autocommit)."""
    return cast("list[StoredDecision]", await repository.insert_decisions_async(connection, rows))


def stored_decision(session: Session, decision_id: str) -> StoredDecision | None:
    """The decision stored with ``decision_id`` (None when there is none)."""
    return cast("StoredDecision | None", repository.get_decision(session, decision_id))


def _has_custom_outcomes(states: repository.States) -> bool:
    """Whether a history holds a custom outcome type (only then are the registered types
    read, to classify it)."""
    return any(e.type not in BUILTIN_TYPES for _, _, outcomes in states.values() for e in outcomes)


def _with_contacts(
    states: repository.States, custom: dict[str, str]
) -> dict[str, CustomerContacts]:
    """The stored customers and their contacts (as the engine's ``Seen`` tuples), from
    ``customer_states``' rows.

    A decision that showed offers is a contact per offer (``shown``); ``accept`` and
    positive custom outcomes (``custom``: the registered types' classes) are ``accepted``,
    ``decline`` and negative ones ``declined``. Times are the database's ``occurred_at``.
    """
    classes = {n: t.outcome for n, t in EVENT_TYPES.items() if t.outcome is not None}
    for name, classification in custom.items():
        if classification in ("positive", "negative"):
            classes[name] = "accepted" if classification == "positive" else "declined"
    out: dict[str, CustomerContacts] = {}
    for customer_id, (customer, shown, outcomes) in states.items():
        stored: Customer | None = None
        if customer is not None:
            stored = {"id": customer_id, "attributes": customer.attributes,
                      "holdings": customer.holdings, "segments": customer.segments}  # fmt: skip
        contacts: list[Seen] = []
        for d in shown:  # contacts only: the read leaves out control and empty decisions
            t = _posix(d.occurred_at)
            contacts += [Seen(offer, d.channel, "shown", d.session_id, t) for offer in d.shown]
        for e in outcomes:
            outcome = classes.get(e.type)
            if outcome is not None and e.offer_id is not None:
                contacts.append(Seen(e.offer_id, e.channel, outcome, e.session_id,
                                     _posix(e.occurred_at)))  # fmt: skip
        out[customer_id] = CustomerContacts(stored, contacts)
    return out


def history_of(
    session: Session, customer_id: str, since: dt.datetime
) -> list[HistoryDecision | HistoryEvent]:
    """The customer's decisions and outcome events since ``since``, for people, oldest first."""
    _customer, shown, outcomes = repository.customer_states(
        session, [customer_id], since, every_decision=True
    )[customer_id]
    readable: list[HistoryDecision | HistoryEvent] = [
        {"kind": "decision", "decision_id": d.id, "channel": d.channel, "session_id": d.session_id,
         "shown": d.shown, "control": d.control, "occurred_at": utc(d.occurred_at).isoformat()}
        for d in shown
    ]  # fmt: skip
    readable += [
        {"kind": "event", "event_id": e.id, "type": e.type, "offer_id": e.offer_id,
         "channel": e.channel, "session_id": e.session_id, "decision_id": e.decision_id,
         "value": e.value, "occurred_at": utc(e.occurred_at).isoformat(),
         "reported_at": None if e.reported_at is None else utc(e.reported_at).isoformat()}
        for e in outcomes
    ]  # fmt: skip
    readable.sort(key=lambda r: r["occurred_at"])
    return readable


def keep_partitions(session: Session, now: dt.datetime | None = None) -> int:
    """PostgreSQL: create this month's and next month's ledger partitions if missing (the
    service does at start-up and every hour, so that a row never finds its month without
    one); how many were created. SQLite: the ledger is not partitioned (0)."""
    if session.get_bind().dialect.name != "postgresql":
        return 0
    now = now or dt.datetime.now(dt.UTC)
    return repository.create_partitions(session, now, now + dt.timedelta(days=31))
