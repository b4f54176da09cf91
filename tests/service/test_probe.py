"""A standing probe: a bounded, seeded, stateful property-based run against the HTTP API of a
real server, on SQLite and on PostgreSQL.

It mixes what traffic and testers send that no example test scripts: customers never seen
before, mistyped and undeclared attributes, hostile time zones and times, deep and large
bodies, NUL characters and non-finite numbers, reused idempotency keys with changed bodies,
concurrent writers, forged outcomes and partial catalog changes. Whatever it sends:

- no answer is a 5xx;
- nothing is partially written: a refused event, batch or decision leaves no trace, and a
  refused catalog write leaves the item as it was;
- every acknowledged event is retrievable, as it was sent;
- caps are never exceeded: the demo's monthly total cap (4 contacts on email, in-app and
  branch) and the credit card's 72-hour cooldown, per customer, by the server's clock; and
  no body beyond the configured limits is taken.

Hypothesis is derandomized (the same examples every run) and bounded (``max_examples`` ×
``stateful_step_count`` steps), so a run takes well under a minute per database.
"""

from __future__ import annotations

import itertools
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from nextoffer.scenarios.demo import WORKED_EXAMPLE

from .server import Server

MAX_BODY = 65_536
MAX_DEPTH = 32
SERVER_ENV = {
    "NEXTOFFER_ATTACH_REFRESH_SECONDS": "0",
    "NEXTOFFER_MAX_BODY_BYTES": str(MAX_BODY),
    "NEXTOFFER_MAX_JSON_DEPTH": str(MAX_DEPTH),
}
PROBE = settings(
    max_examples=5,
    stateful_step_count=20,
    derandomize=True,  # seeded: the same examples on every run
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],  # no shrinking: its time has no bound
    report_multiple_bugs=False,
)
QUALIFIES = {k: WORKED_EXAMPLE[k] for k in ("attributes", "holdings", "segments")}
CAPPED_CHANNELS = {"email", "in_app", "branch"}  # the demo's total cap: 4 a month
TOTAL_CAP = 4
CHANNELS = ["email", "in_app", "branch", "pos", "kiosk"]
OFFERS = ["savings-account", "credit-card", "mortgage", "brokerage", "RED-WINE-01", "COFFEE-01"]
OUTCOMES = ["impression", "click", "accept", "decline"]
serial = itertools.count()  # customers never seen before, keys and tokens, across examples


def token() -> str:
    return f"t{next(serial):08d}"


# -- values -----------------------------------------------------------------------------------

hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "\udfff", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "é", "'; DROP TABLE events;--",
                     "%00", "../..", " ", "\u202e", "x" * 300]),
)  # fmt: skip
zones = st.one_of(
    st.sampled_from(["UTC", "America/New_York", "Europe/Lisbon", "Asia/Kathmandu", "Pacific/Kiritimati",
                     "America", "Europe/", "x" * 300, "../../etc/passwd", "/etc/localtime", "",
                     "utc", "America/New_York\x00", "Etc/GMT+14", "posixrules", "Factory"]),
    hostile_text,
)  # fmt: skip
times = st.one_of(
    st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59+14:00",
                     "2001-01-01T12:00:00Z", "2026-03-08T07:30:00-05:00", "2026-11-01T01:30:00-04:00",
                     "1899-12-31T23:59:59Z", "2026-03-08T14:30:00", "not a time", "2026-02-30T00:00:00Z"]),
    st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
    st.integers(),
)  # fmt: skip
numbers = st.one_of(
    st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["NaN", "Infinity", "1e999", "-Infinity"])
)  # fmt: skip
attribute_values = st.one_of(
    st.integers(-(10**6), 10**6), st.floats(allow_nan=False), st.booleans(), st.none(),
    hostile_text, st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(10**4000 - 1),
)  # fmt: skip
attributes = st.one_of(
    st.fixed_dictionaries({}, optional={"tier": st.sampled_from(["premium", "standard"]),
                                        "tenureMonths": st.integers(0, 600), "hasCreditCard": st.booleans(),
                                        "balance": st.floats(0, 1e6), "loyalty": st.sampled_from(["gold", "none"])}),
    st.dictionaries(st.sampled_from(["tier", "tenureMonths", "hasCreditCard", "balance", "loyalty",
                                     "email", "shoeSize", "tenure_months"]), attribute_values, max_size=4),
)  # fmt: skip


def raw(value: Any) -> str:
    """JSON text of ``value``; the strings "NaN", "Infinity", "-Infinity" and "1e999" in a
    number's place are written as bare tokens, which JSON does not allow and Python reads."""
    text = json.dumps(value, ensure_ascii=True, allow_nan=False)
    for token in ("NaN", "Infinity", "-Infinity", "1e999"):
        text = text.replace(f'"{token}"', token)
    return text


def nested(depth: int) -> str:
    return '{"a": ' * (depth - 1) + '{"leaf": 1}' + "}" * (depth - 1)


class Probe(RuleBasedStateMachine):
    def __init__(self, server: Server) -> None:
        super().__init__()
        self.server = server
        self.http = {role: server.client(role) for role in ("client", "author", "admin")}
        self.sent: dict[
            str, tuple[str, dict[str, Any]]
        ] = {}  # acknowledged: token -> (customer, event)
        self.refused: dict[str, str] = {}  # refused: token -> customer; must leave no trace
        self.keys: dict[str, dict[str, Any]] = {}  # idempotency key -> the event first sent with it
        self.decided: set[str] = set()  # customers with decisions
        self.undecided: set[str] = set()  # customers whose every decision was refused
        self.catalog: dict[str, dict[str, Any]] = {}  # offer id -> as last read back

    # -- the calls --------------------------------------------------------------------------

    def call(self, role: str, method: str, url: str, body: str | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
        if body is not None:
            size = len(body.encode("utf-8", "surrogatepass"))
            headers = {"Content-Type": "application/json", **(headers or {})}
        r = self.http[role].request(
            method, url, headers=headers,
            content=None if body is None else body.encode("utf-8", "surrogatepass"),
        )  # fmt: skip
        assert r.status_code < 500, f"{method} {url}: {r.status_code} {r.text[:300]}"
        if body is not None and size > MAX_BODY:
            assert r.status_code == 413, f"{method} {url}: a {size}-byte body was taken"
        if r.status_code >= 400:
            detail = r.json()
            assert "detail" in detail, r.text
        return r

    def fresh(self) -> str:
        return f"probe-{next(serial)}"

    def event(self, customer: str, kind: str, offer: str, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"type": kind, "offer_id": offer, "customer_id": customer,
                                "session_id": token(), **extra}  # fmt: skip
        if kind == "convert":
            body.setdefault("value", 10.0)
        body.setdefault("idempotency_key", token())
        return body

    def record(self, status: int, events: list[dict[str, Any]]) -> None:
        for e in events:
            if 200 <= status < 300:
                self.sent[e["session_id"]] = (e["customer_id"], e)
            elif status >= 400:
                self.refused[e["session_id"]] = e["customer_id"]

    def post_events(self, body: Any, events: list[dict[str, Any]], text: str | None = None) -> int:
        r = self.call("client", "POST", "/v1/events", raw(body) if text is None else text)
        self.record(r.status_code, events)
        if r.status_code < 300:
            for e in events:
                self.keys.setdefault(e["idempotency_key"], e)
        return r.status_code

    # -- the rules --------------------------------------------------------------------------

    @rule(
        new=st.booleans(), attrs=attributes, channel=st.sampled_from([*CHANNELS, "fax"]),
        zone=st.none() | zones, at=st.none() | times,
        cart=st.lists(st.fixed_dictionaries({"sku": st.sampled_from(["STEAK-01", "X"]), "category": st.just("main_course"),
                                             "quantity": st.integers(-1, 5), "price": numbers}), max_size=4),
    )  # fmt: skip
    def decide(self, new: bool, attrs: dict[str, Any], channel: str, zone: str | None,
               at: Any, cart: list[dict[str, Any]]) -> None:  # fmt: skip
        customer = self.fresh() if new or not self.decided else sorted(self.decided)[-1]
        body: dict[str, Any] = {
            "customer": {"id": customer, "attributes": attrs},
            "channel": channel,
        }
        if zone is not None:
            body["store"] = {"id": "S1", "timezone": zone}
        if at is not None:
            body["at"] = at
        if cart:
            body["cart"] = {"items": cart}
        r = self.call("client", "POST", "/v1/decisions", raw(body))
        if r.status_code == 200:
            self.decided.add(customer)
            self.undecided.discard(customer)
        elif customer not in self.decided:
            self.undecided.add(customer)

    @rule(
        ats=st.lists(st.none() | times, min_size=3, max_size=6),
        channel=st.sampled_from(["email", "branch"]),
    )
    def one_customer_again_and_again(self, ats: list[Any], channel: str) -> None:  # fmt: skip
        """Decisions for one customer, each with its own (client's) time: the caps count by
        the server's clock whatever ``at`` says."""
        customer = self.fresh()  # one the demo's bank offers qualify for
        stored = self.call("client", "PUT", f"/v1/customers/{customer}", raw(QUALIFIES))
        assert stored.status_code == 200, stored.text
        for at in ats:
            body: dict[str, Any] = {"customer": {"id": customer}, "channel": channel}
            if at is not None:
                body["at"] = at
            if self.call("client", "POST", "/v1/decisions", raw(body)).status_code == 200:
                self.decided.add(customer)
        if customer not in self.decided:
            self.undecided.add(customer)

    @rule(n=st.integers(2, 6), channel=st.sampled_from(["email", "in_app"]))
    def concurrent_decisions_for_one_customer(self, n: int, channel: str) -> None:
        customer = self.fresh()
        body = raw({"customer": {"id": customer}, "channel": channel})
        with ThreadPoolExecutor(n) as pool:
            statuses = list(
                pool.map(
                    lambda _: self.call("client", "POST", "/v1/decisions", body).status_code,
                    range(n),
                )
            )
        if 200 in statuses:
            self.decided.add(customer)

    @rule(kind=st.sampled_from([*OUTCOMES, "convert", "bogus"]), offer=st.sampled_from([*OFFERS, "no-such-offer"]),
          value=st.none() | numbers, reported=st.none() | times, payload=st.dictionaries(hostile_text, attribute_values, max_size=3),
          key=st.none() | hostile_text, forged=st.booleans())  # fmt: skip
    def one_event(self, kind: str, offer: str, value: Any, reported: Any, payload: dict[str, Any],
                  key: str | None, forged: bool) -> None:  # fmt: skip
        extra: dict[str, Any] = {"payload": payload}
        if value is not None:
            extra["value"] = value
        if reported is not None:
            extra["reported_at"] = reported
        if key is not None:
            extra["idempotency_key"] = key
        if forged:  # an outcome naming a decision that exists nowhere
            extra["decision_id"] = str(uuid.UUID(int=next(serial)))
        self.post_events(body := self.event(self.fresh(), kind, offer, **extra), [body])

    @precondition(lambda self: bool(self.keys))
    @rule(data=st.data(), same=st.booleans())
    def reuse_a_key(self, data: st.DataObject, same: bool) -> None:
        key = data.draw(st.sampled_from(sorted(self.keys)))
        first = self.keys[key]
        if same:  # an exact retry: answers the original, stores nothing new
            r = self.call("client", "POST", "/v1/events", raw(first))
            assert r.status_code in (200, 201), r.text
            return
        changed = {**first, "session_id": token(),
                   "offer_id": data.draw(st.sampled_from(OFFERS)), "type": data.draw(st.sampled_from(OUTCOMES))}  # fmt: skip
        self.post_events(changed, [changed])

    @rule(n=st.integers(1, 8), bad=st.none() | st.integers(0, 7), reuse=st.booleans())
    def batch(self, n: int, bad: int | None, reuse: bool) -> None:
        customer = self.fresh()
        events = [self.event(customer, "click", "mortgage") for _ in range(n)]
        if bad is not None and bad < n:
            events[bad]["value"] = "NaN"  # one invalid event: the batch is all or nothing
        if reuse and n > 1:  # a repeated key with a different body inside one batch
            events[-1]["idempotency_key"] = events[0]["idempotency_key"]
        self.post_events({"events": events}, events)

    @rule(
        depth=st.integers(1, 300),
        size=st.integers(0, 2 * MAX_BODY),
        where=st.sampled_from(["payload", "stats", "attributes"]),
    )
    def deep_or_large(self, depth: int, size: int, where: str) -> None:  # fmt: skip
        inner = nested(depth)
        blob = "x" * size
        if where == "payload":
            e = self.event(self.fresh(), "click", "brokerage")
            text = raw(e)[:-1] + f', "payload": {{"blob": "{blob}", "deep": {inner}}}}}'
            self.post_events(None, [e], text=text)
        elif where == "stats":
            body = f'{{"trigger": "cart.count >= {depth}", "offers": ["COFFEE-01"], "description": "{blob[:1000]}", "stats": {inner}}}'
            self.call("author", "POST", "/v1/proposals", body)
        else:
            offer = f"probe-deep-{depth % 5}"
            before = self.call("author", "GET", f"/v1/catalog/offer/{offer}")
            body = f'{{"id": "{offer}", "sku": "COFFEE-01", "tags": ["{blob}"], "attributes": {inner}}}'
            r = self.call("author", "PUT", f"/v1/catalog/offer/{offer}", body)
            if r.status_code >= 400:  # refused: the item is as it was
                after = self.call("author", "GET", f"/v1/catalog/offer/{offer}")
                assert (after.status_code, after.text) == (before.status_code, before.text)

    @rule(n=st.integers(2, 6), shared=st.booleans())
    def concurrent_writers(self, n: int, shared: bool) -> None:
        customer = self.fresh()
        events = [self.event(customer, "impression", "savings-account") for _ in range(n)]
        if shared:  # one key, different bodies, at once: at most one may be taken
            for e in events:
                e["idempotency_key"] = events[0]["idempotency_key"]
        with ThreadPoolExecutor(n) as pool:
            statuses = list(
                pool.map(
                    lambda e: self.call("client", "POST", "/v1/events", raw(e)).status_code, events
                )
            )
        for e, status in zip(events, statuses, strict=True):
            self.record(status, [e])

    @rule(offer=st.sampled_from(["probe-offer-1", "probe-offer-2", "brokerage"]),
          patch=st.dictionaries(st.sampled_from(["emphasis", "priority", "channels", "eligibility", "sku", "colour"]),
                                st.one_of(st.floats(-1, 2), st.integers(-5, 500), st.lists(st.sampled_from(CHANNELS), max_size=2),
                                          st.sampled_from(["customer.tier == 'premium'", "nonsense ((", "X"]), st.none()),
                                min_size=1, max_size=3),
          method=st.sampled_from(["PATCH", "PUT"]))  # fmt: skip
    def partial_catalog_change(self, offer: str, patch: dict[str, Any], method: str) -> None:
        url = f"/v1/catalog/offer/{offer}"
        before = self.call("author", "GET", url)
        if before.status_code == 404 and offer != "brokerage":
            created = self.call(
                "author", "PUT", url, raw({"id": offer, "sku": "COFFEE-01", "channels": ["pos"]})
            )
            assert created.status_code in (200, 201), created.text
            before = self.call("author", "GET", url)
        body = patch if method == "PATCH" else {"id": offer, **patch}
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else None
        r = self.call("author", method, url, raw(body), headers=headers)
        after = self.call("author", "GET", url)
        if r.status_code >= 400:  # refused: nothing of it was written
            assert (after.status_code, after.text) == (before.status_code, before.text), (
                method,
                patch,
                r.text,
            )
        elif method == "PATCH":  # a merge patch changes what it names and keeps the rest
            old, new = before.json(), after.json()
            for name, value in old.items():
                if name not in patch and name not in ("updated_at", "created_at"):
                    assert new.get(name) == value, (name, old, new)

    # -- at the end of each example ---------------------------------------------------------

    def history(self, customer: str) -> list[dict[str, Any]]:
        r = self.call("client", "GET", f"/v1/customers/{quote(customer, safe='')}/history")
        assert r.status_code == 200, r.text
        history: list[dict[str, Any]] = r.json()["history"]
        return history

    def teardown(self) -> None:
        try:
            self.check()
        finally:
            for client in self.http.values():
                client.close()

    def check(self) -> None:
        histories: dict[str, list[dict[str, Any]]] = {}
        for customer in (
            {c for c, _ in self.sent.values()}
            | set(self.refused.values())
            | self.decided
            | self.undecided
        ):
            if "\x00" not in customer:
                histories[customer] = self.history(customer)
        for token, (customer, sent) in self.sent.items():
            stored = [h for h in histories[customer] if h.get("session_id") == token]
            assert len(stored) == 1, f"an acknowledged event is not retrievable as sent: {sent}"
            for name in ("type", "offer_id", "decision_id", "channel"):
                assert stored[0][name] == sent.get(name), (name, sent, stored[0])
        for token, customer in self.refused.items():
            if customer in histories:
                kept = [h for h in histories[customer] if h.get("session_id") == token]
                assert kept == [], f"a refused event was stored: {kept}"
        for customer in self.undecided:
            decisions = [h for h in histories[customer] if h["kind"] == "decision"]
            assert decisions == [], f"a refused decision was stored: {decisions}"
        for customer in self.decided:
            decisions = [
                h for h in histories[customer] if h["kind"] == "decision" and not h["control"]
            ]
            contacts = [o for d in decisions if d["channel"] in CAPPED_CHANNELS for o in d["shown"]]
            assert len(contacts) <= TOTAL_CAP, (
                f"{customer}: {len(contacts)} contacts in a month, cap {TOTAL_CAP}"
            )
            cards = [o for o in contacts if o == "credit-card"]
            assert len(cards) <= 1, (
                f"{customer}: the credit card {len(cards)} times within 72 hours"
            )


def test_the_probe_finds_no_server_error_partial_write_lost_event_or_broken_cap(
    server: Server,
) -> None:
    run_state_machine_as_test(lambda: Probe(server), settings=PROBE)
