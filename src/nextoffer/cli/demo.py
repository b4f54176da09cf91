"""``nextoffer demo``: the two scenarios of DESIGN.md, as far as the product is built.

Today it runs the decision engine on both scenarios (the bank's worked example with and
without the uplift term, the monthly contact cap, a checkout with EV ranking, the price cap
and session back-off), shows upsell triggers matched through the trigger index (including a
breakfast rule across the US daylight-saving change of 2026-03-08), and a mistyped rule
rejected with an error that points.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from ..core.decision import CustomerState, build_snapshot, decide
from ..core.learning.mining import mine
from ..core.learning.ope.logs import NOTHING, Replay
from ..core.learning.significance import holdout_test
from ..core.request import Request
from ..core.rules import (
    CompiledCondition,
    CustomerSchema,
    Environment,
    RuleError,
    TriggerIndex,
    build_context,
)
from ..scenarios import bank_snapshot, checkout_snapshot, mortgage_journey
from ..scenarios.bank import BANK_SCHEMA
from ..scenarios.demo import (
    BANK_CHANNELS,
    MORTGAGE_TRUTH,
    SHOP_TRUTH,
    WORKED_EXAMPLE,
    bank_customers,
    demo_snapshot,
    shop_requests,
    true_effect,
)
from ..service.attach import service as attach
from ..service.config import load_settings
from ..service.customers import service as customers
from ..service.customers.schemas import CustomerIn, PersonalDataIn
from ..service.db import Database
from ..service.decisions import service as decisions_service
from ..service.evaluation import service as evaluation
from ..service.journeys import service as journeys
from ..service.journeys.runner import Arrival, Runner
from ..service.keys.service import create_key
from ..service.ledger import service as ledger
from ..service.migrate import upgrade
from ..service.rules.mining import ledger_transactions, propose_rules
from ..service.snapshots import service as snapshots
from ..service.snapshots.cache import SnapshotCache
from ..service.snapshots.loader import load_spec
from ..service.uplift import service as uplift
from ..service.uplift.estimates import ModelCache
from ..service.uplift.repository import estimates_of as uplift_estimates
from .decide import decision_table, print_trace
from .output import fail, out, progress

# the journey's simulated days start here (its time is the simulator's, not the wall clock)
JOURNEY_START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
# the simulated traffic's clock: decision i at TRAFFIC_START + i × TRAFFIC_STEP (5,000
# decisions span a day), so the shop's time-of-day rules fire the same in every run, at
# whatever hour the demo runs
TRAFFIC_START = dt.datetime(2026, 3, 9, 0, 0, tzinfo=dt.UTC)
TRAFFIC_STEP = dt.timedelta(seconds=17)

SHOP_RULES = {
    "steak-red-wine": 'cart.has_sku("STEAK-01")',
    "wine-cheese-board": 'any item in cart.items: item.category == "wine" and item.price > 30',
    "two-mains-dessert": 'count(item in cart.items: item.category == "main_course") >= 2',
    "big-cart-delivery": "cart.count >= 2 and cart.total > 2400",
    "breakfast-coffee": "local_time.hour between 6 and 11",
    "app-only-vip": 'channel == "in_app" and "VIP" in customer.segments',
    "downtown-stores": 'store.id in ["S1", "S2"] and not cart.has_category("dessert")',
}

SHOP_CARTS: dict[str, dict[str, Any]] = {
    "steak dinner, 10:30 New York (DST day)": {
        "items": [
            {"sku": "STEAK-01", "category": "main_course", "quantity": 2, "price": 1200.0},
        ],
        "store": {"id": "S1", "timezone": "America/New_York"},
        "at": "2026-03-08T14:30:00Z",
    },
    "wine and two mains, 12:30 New York": {
        "items": [
            {"sku": "BURG-02", "category": "main_course", "quantity": 1, "price": 18.5},
            {"sku": "PASTA-07", "category": "main_course", "quantity": 1, "price": 16.0},
            {"sku": "WINE-RIOJA", "category": "wine", "quantity": 1, "price": 42.0},
        ],
        "store": {"id": "S2", "timezone": "America/New_York"},
        "at": "2026-03-09T16:30:00Z",
    },
    "dessert only, 10:30 the day before (EST)": {
        "items": [{"sku": "TIRAMISU", "category": "dessert", "quantity": 1, "price": 7.5}],
        "store": {"id": "S3", "timezone": "America/New_York"},
        "at": "2026-03-07T15:30:00Z",
    },
}


def _mark(value: bool) -> str:
    return "[green]yes[/]" if value else "[dim]no[/]"


def _bank() -> None:
    """The worked example: credit card first, savings second, because of uplift."""
    customer = {
        "id": "c-1",
        "attributes": {"tier": "premium", "tenureMonths": 36, "hasCreditCard": False, "balance": 12000.0},
        "holdings": ["checking"],
    }  # fmt: skip
    request = Request.model_validate(
        {"customer": customer, "channel": "email", "at": "2026-03-08T14:30:00Z"}
    )
    out.print("\n[bold]Bank cross-sell[/]: a 36-month premium customer without a credit card")
    with_uplift = decide(build_snapshot(bank_snapshot()), request)
    out.print(decision_table(with_uplift, "PRIE with uplift weight Wu = 0.2"))
    plain = decide(build_snapshot(bank_snapshot(uplift_weight=0.0)), request)
    out.print(decision_table(plain, "the same customer with Wu = 0: savings ranks first"))
    history = [
        {"offer": "savings-account", "channel": "email", "outcome": "shown",
         "at": f"2026-03-0{day}T09:00:00Z"}
        for day in (1, 3, 5, 7)
    ]  # fmt: skip
    capped = decide(
        build_snapshot(bank_snapshot()),
        request,
        CustomerState.model_validate({"history": history}),
    )
    out.print("after 4 contacts this month, a fifth is stopped:")
    print_trace(capped)


def _checkout() -> None:
    snapshot = build_snapshot(checkout_snapshot())
    base = {
        "customer": {"id": "guest-7"},
        "cart": {"items": [{"sku": "STEAK-01", "category": "main_course", "quantity": 2, "price": 1200.0}]},
        "channel": "pos",
        "store": {"id": "S1", "timezone": "America/New_York"},
        "session_id": "s-1",
        "at": "2026-03-08T22:30:00Z",
    }  # fmt: skip
    out.print("\n[bold]Checkout upsell[/]: two steaks on the POS, ranked by expected value")
    first = decide(snapshot, Request.model_validate(base))
    out.print(
        decision_table(first, "steak -> red wine (the premium bottle is over 35% of the cart)")
    )
    print_trace(first)
    declines = [
        {"offer": offer, "channel": "pos", "outcome": outcome, "session_id": "s-1",
         "at": f"2026-03-08T22:2{i}:00Z"}
        for i, offer in enumerate(["RED-WINE-01", "RED-WINE-02", "DESSERT-01"])
        for outcome in ("shown", "declined")
    ]  # fmt: skip
    later = decide(
        snapshot, Request.model_validate(base), CustomerState.model_validate({"history": declines})
    )
    out.print("after three declines in the session, nothing more is pitched:")
    print_trace(later)


def _shop() -> None:
    env = Environment(offer_names=False)
    rules: list[tuple[str, CompiledCondition]] = [
        (rule_id, env.compile(text)) for rule_id, text in SHOP_RULES.items()
    ]
    index = TriggerIndex(rules)
    table = Table(title="Checkout upsell: triggers that fire (through the trigger index)")
    table.add_column("cart")
    table.add_column("local time")
    table.add_column("rules that fire")
    for label, spec in SHOP_CARTS.items():
        request = Request.model_validate(
            {
                "customer": {"id": "shop-guest", "segments": ["VIP"]},
                "cart": {"items": spec["items"]},
                "channel": "in_app",
                "store": spec["store"],
                "session_id": "demo-session",
                "at": spec["at"],
            }
        )
        ctx = build_context(request)
        local = f"{ctx['local_time.hour']:02d}:{ctx['local_time.minute']:02d}"
        fired = index.match(ctx)
        table.add_row(label, local, ", ".join(fired) or "[dim]none[/]")
    out.print(table)
    out.print(
        f"{len(index)} rules indexed; {index.always_checked} checked for every request, "
        "the rest only when the cart or request holds what they need."
    )


def _errors() -> None:
    env = Environment(customer=CustomerSchema.model_validate({"attributes": BANK_SCHEMA}))
    mistyped = 'customer.tenureMonth >= 36 and customer.tier == "premium"'
    out.print("\nA mistyped condition is rejected before anything runs:")
    try:
        env.compile(mistyped)
    except RuleError as exc:
        out.print(str(exc), markup=False)


def _tour() -> None:
    out.rule("[bold]the engine, in process[/]")
    _bank()
    _checkout()
    _shop()
    _errors()


def _fresh_default_database(reset: bool) -> None:
    """The demo starts from a fresh SQLite file unless a database is configured. An existing
    ``./nextoffer.db`` (with its approvals, keys and ledger) is replaced only with ``--reset``."""
    if (
        os.environ.get("NEXTOFFER_DATABASE_URL")
        or Path(os.environ.get("NEXTOFFER_CONFIG", "nextoffer.toml")).is_file()
    ):
        if reset:
            fail(
                "--reset: a configured database is never deleted by the demo; it only"
                " replaces the default ./nextoffer.db"
            )
        return
    if not Path("nextoffer.db").is_file():
        return
    if not reset:
        fail(
            "./nextoffer.db exists: the demo would replace it, and its approvals, keys and"
            " ledger with it. Run `nextoffer demo --reset` to start over, or `nextoffer serve`"
            " to serve it as it is"
        )
    for suffix in ("", "-wal", "-shm"):
        Path(f"nextoffer.db{suffix}").unlink(missing_ok=True)
    out.print("--reset: removed the existing ./nextoffer.db (its approvals, keys and ledger)")


def _outcomes(
    rng: random.Random,
    snapshot: Any,
    result: Mapping[str, Any],
    body: dict[str, Any],
    customer: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """What the simulated customer does after a decision: impressions, accepts and converts
    (the bank's from the simulator's true base rate and effect), declines, the checkout."""
    events: list[dict[str, Any]] = []
    customer_id = body["customer"]["id"]
    offers = [s["offer"] for p in result["placements"] for s in p["offers"]]
    for offer_id in offers:
        offer = snapshot.offers[offer_id]
        common = {"customer_id": customer_id, "offer_id": offer_id, "decision_id": result["id"],
                  "channel": result["channel"], "session_id": result["session_id"]}  # fmt: skip
        key = f"{result['id']}:{offer_id}"
        events.append({**common, "type": "impression", "idempotency_key": f"{key}:imp"})
        if customer is not None:  # a bank customer: the untreated rate plus the true effect
            base, tau = true_effect(customer, offer_id)
            p = base + tau
        else:  # the shop: the upsell's true rate, whoever the guest is
            p = SHOP_TRUTH[offer_id]
        if rng.random() < p:
            events.append({**common, "type": "accept", "idempotency_key": f"{key}:acc"})
            events.append({**common, "type": "convert", "value": offer.margin,
                           "idempotency_key": f"{key}:conv"})  # fmt: skip
        elif rng.random() < 0.5:
            events.append({**common, "type": "decline", "idempotency_key": f"{key}:dec"})
    if "cart" in body:  # the shop's checkout: the cart and the upsells taken, as one basket
        taken = [e["offer_id"] for e in events if e["type"] == "accept"]
        cart = body["cart"]["items"]
        events.append({"type": "convert", "customer_id": customer_id,
                       "session_id": result["session_id"], "decision_id": result["id"],
                       "value": sum(it["price"] * it["quantity"] for it in cart)
                       + sum(snapshot.offers[o].price or 0 for o in taken),
                       "payload": {"items": [it["sku"] for it in cart]
                                   + [snapshot.offers[o].sku or o for o in taken]},
                       "idempotency_key": f"{result['id']}:checkout"})  # fmt: skip
    if result["control"] and customer is not None:  # unprompted, at the true base rate
        for offer_id in [s["offer"] for p in result["counterfactual"] for s in p["offers"]]:
            if rng.random() < true_effect(customer, offer_id)[0]:
                events.append({"type": "convert", "customer_id": customer_id, "offer_id": offer_id,
                               "decision_id": result["id"], "value": snapshot.offers[offer_id].margin,
                               "idempotency_key": f"{result['id']}:{offer_id}:ctl"})  # fmt: skip
    return events


def _at(instant: dt.datetime) -> Callable[[], dt.datetime]:
    """A clock that says ``instant``: a simulated decision's time."""
    return lambda: instant


def _demo_id(rng: random.Random) -> str:
    """A decision id drawn from the simulation's seeded generator: the ids seed the exploring
    strategies, so every run of the demo makes the same choices (the API's ids are random)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _load(db: Database, progress: Progress, decisions: int, bank_size: int) -> dict[str, Any]:
    rng = random.Random(2026)
    task = progress.add_task("catalog and customers", total=None)
    with db.transaction() as session:
        load_spec(session, demo_snapshot(exploring=True))
        published = snapshots.publish(
            session, None if snapshots.published_any(session) else "demo-1"
        )
        schema = CustomerSchema.model_validate(demo_snapshot()["customer_schema"])
        bank: dict[str, dict[str, Any]] = {}
        for c in bank_customers(rng, bank_size):
            profile = {k: c[k] for k in ("attributes", "holdings", "segments")}
            customers.upsert(session, c["id"], CustomerIn.model_validate(profile), schema)
            bank[c["id"]] = c
        customers.put_personal(session, "demo-premium-36",
                               PersonalDataIn(name="Dana Demo", email="dana@example.com"), 365)  # fmt: skip
    progress.update(task, total=1, completed=1)
    cache = SnapshotCache(db)
    snapshot = cache.get()
    # the worked example is kept out of the traffic: the tour starts with its first contact
    targets = [cid for cid in bank if cid != WORKED_EXAMPLE["id"]]
    counts: dict[str, Any] = {"decisions": 0, "shown": 0, "events": 0, "control": 0}
    campaign = [{"customer": {"id": cid}, "channel": "email", "session_id": f"campaign-{cid}"}
                for cid in targets]  # fmt: skip
    traffic_rng = random.Random(2027)  # the campaign's outcomes do not depend on --decisions
    shop = shop_requests(traffic_rng, decisions)
    traffic = [
        next(shop) if i % 2 else {"customer": {"id": traffic_rng.choice(targets)},
                                  "channel": traffic_rng.choice(BANK_CHANNELS[1:]),
                                  "session_id": f"bank-s-{i}"}
        for i in range(decisions)
    ]  # fmt: skip

    ids = random.Random(2028)  # the decisions' ids, apart from the outcomes' generators

    def simulate(bodies: list[dict[str, Any]], r: random.Random, label: str, start: int) -> None:
        task = progress.add_task(label, total=len(bodies))
        for i, body in enumerate(bodies, start=start):
            # each decision at its simulated instant, the request saying so (a replay, such
            # as the off-policy evaluation's, decides it at the same local time)
            at = TRAFFIC_START + i * TRAFFIC_STEP
            body = {**body, "at": at.isoformat()}
            with db.transaction() as session:
                result = decisions_service.decide(
                    session, cache, Request.model_validate(body),
                    ledger.IdempotencyKey("", f"demo-decision-{i}"), models,
                    decisions_service.LiveClock(_at(at)), decision_id=_demo_id(ids),
                )  # fmt: skip
                events = _outcomes(r, snapshot, result, body, bank.get(body["customer"]["id"]))
                if events:
                    ledger.ingest(session, {"events": events})
            counts["decisions"] += 1
            counts["control"] += result["control"]
            counts["shown"] += sum(len(p["offers"]) for p in result["placements"])
            counts["events"] += len(events)
            progress.advance(task)

    models = ModelCache(db, poll=0)
    simulate(campaign, rng, "the bank's e-mail campaign", 0)
    task = progress.add_task("uplift models from the campaign", total=None)
    # learned once; the traffic that follows uses them
    counts["uplift"] = uplift.train(db, method="x-learner", n_bootstrap=10)
    progress.update(task, total=1, completed=1)
    simulate(traffic, traffic_rng, "more traffic: the app, the branch, the shop", len(campaign))
    counts["journey"] = _journey(db, progress, bank, ("demo author", "demo approver"))
    counts["evaluation"] = _evaluate_drafts(db, progress, snapshot)
    task = progress.add_task("attach rates and mined rules", total=None)
    with db.transaction() as session:
        refreshed = attach.refresh(session)
        counts["mined"] = _mine_the_ledger(session)
    progress.update(task, total=1, completed=1)
    return {**counts, "snapshot": refreshed["snapshot"] or published["version"]}


def _journey(
    db: Database, progress: Progress, bank: Mapping[str, dict[str, Any]], keys: tuple[str, str]
) -> dict[str, Any]:
    """The bank's mortgage journey: proposed by the demo's author, published by its approver,
    then ``MORTGAGE_TRUTH.days`` simulated days from ``JOURNEY_START``: the scheduler enters
    the segment and sends the leads, customers click (or not), come to the branch (or not)
    and take a mortgage at the simulator's rates. Returns the journey's report and the
    simulator's truth."""
    truth, rng = MORTGAGE_TRUTH, random.Random(2028)
    definition = mortgage_journey()
    entry = definition["entry"]  # the worked example is kept out, as out of the traffic
    segment = f'{entry["segment"]} and customer.id != "{WORKED_EXAMPLE["id"]}"'
    definition["entry"] = {**entry, "segment": segment}
    with db.transaction() as session:
        proposal = journeys.propose(session, keys[0], definition, "the mortgage program")
        journeys.approve(session, keys[1], proposal["id"], "four eyes: looks right")
    day = dt.timedelta(days=1)
    clock = {"now": JOURNEY_START}
    cache = SnapshotCache(db)
    runner = Runner(db, cache, ModelCache(db, poll=0), clock=lambda: clock["now"])
    live = decisions_service.LiveClock(lambda: clock["now"])
    plans: dict[int, list[tuple[str, str]]] = {}  # day → (customer, what they do)
    clicked: set[str] = set()
    handled: set[tuple[str, str | None, dt.datetime]] = set()
    shown: set[str] = set()  # shown the appointment
    converted: set[str] = set()
    task = progress.add_task("the mortgage journey, day by day", total=truth.days)
    for d in range(truth.days):
        clock["now"] = JOURNEY_START + d * day
        if d == 0:
            runner.enter_segment("mortgage")
        while runner.tick(limit=5_000).transitions:
            pass
        with db.read() as session:
            states = journeys.enrollments(session, "mortgage")
        if d == 0:  # who takes a mortgage unprompted, and when: entrants and holdout alike
            for customer in states:
                if rng.random() < truth.base:
                    plans.setdefault(rng.randrange(1, truth.days), []).append((customer, "convert"))
        for customer, e in states.items():  # each arrival at a step, once
            if e.step not in ("wait_lead", "appointment") or e.status != "active":
                continue
            if (customer, e.step, e.step_entered_at) in handled:
                continue
            handled.add((customer, e.step, e.step_entered_at))
            if e.step == "wait_lead" and customer not in clicked and rng.random() < truth.click:
                clicked.add(customer)  # a response to the lead (or to the reminder)
                plans.setdefault(d + rng.randint(1, truth.click_days), []).append(
                    (customer, "click")
                )
            elif e.step == "appointment" and rng.random() < truth.visit:
                plans.setdefault(d + rng.randint(1, truth.visit_days), []).append(
                    (customer, "visit")
                )
        for customer, act in plans.pop(d, []):
            with db.transaction() as session:
                if act == "visit":
                    result = decisions_service.decide(
                        session, cache, Request.model_validate({"customer": {"id": customer},
                                                                "channel": "branch"}),
                        None, None, live, runner,
                    )  # fmt: skip
                    if "mortgage-appointment" in [s["offer"] for p in result["placements"]
                                                  for s in p["offers"]]:  # fmt: skip
                        shown.add(customer)
                        if customer not in converted and rng.random() < truth.effect:
                            plans.setdefault(d + rng.randint(1, 14), []).append(
                                (customer, "convert")
                            )
                    continue
                if act == "convert":
                    if customer in converted:
                        continue
                    converted.add(customer)
                    event = {"type": "convert", "offer_id": "mortgage", "value": 900.0}
                    profile = bank[customer]
                    holdings = sorted({*profile["holdings"], "mortgage"})
                    customers.upsert(session, customer, CustomerIn.model_validate(
                        {**{k: profile[k] for k in ("attributes", "segments")}, "holdings": holdings}
                    ), cache.get().spec.customer_schema)  # fmt: skip
                else:
                    event = {"type": "click", "offer_id": "mortgage-lead"}
                new: list[Any] = []
                ledger.ingest(session, {**event, "customer_id": customer,
                                        "idempotency_key": f"journey-{customer}-{act}"},
                              new=new)  # fmt: skip
                runner.on_events(session, [Arrival(e["customer_id"], e["type"], clock["now"],
                                                   e["offer_id"], e["value"]) for e in new])  # fmt: skip
        progress.advance(task)
    with db.read() as session:
        report = journeys.report(session, "mortgage")
        states = journeys.enrollments(session, "mortgage")
    treated = [c for c, e in states.items() if not e.holdout]
    true_lift = truth.effect * len(shown & set(treated)) / max(len(treated), 1)
    return {"report": report, "true_lift": true_lift, "truth": truth}


# the drafts the demo evaluates on the shop's logged decisions (the point of sale, where the
# upsell explores epsilon-greedy): PRIE ranking (the bank's weights, without uplift) instead
# of expected value, the exploration as it is; and expected value without exploration (what
# exploring costs). Each is the live snapshot with the shop's channels changed.
SHOP_CHANNELS = ("pos", "kiosk")
EVALUATED_CHANNEL = "pos"
DRAFTS: dict[str, dict[str, Any]] = {
    "PRIE instead of EV": {"scoring": {
        "strategy": "prie",
        "weights": {"propensity": 0.4, "relevance": 0.1, "impact": 0.3, "emphasis": 0.2},
    }},
    "EV without exploration": {"exploration": {"kind": "greedy"}},
}  # fmt: skip


def _true_value(done: Replay, simulated: Any) -> dict[str, float]:
    """What the target of ``done`` truly earns on its logged rows, by the simulator's rates:
    per row, the target's probability of each offer times the offer's true acceptance
    (``SHOP_TRUTH``) and, for revenue, times what an accept converts for (the offer's
    margin in the simulated snapshot); acceptance per offer shown, revenue per decision."""
    data = done.data["acceptance"]
    assert data is not None
    accepted = revenue = 0.0
    for row, offers in zip(data.target, done.offers, strict=False):
        for probability, offer in zip(row, offers, strict=False):
            if offer == NOTHING or probability == 0:
                continue
            accepted += probability * SHOP_TRUTH[offer]
            revenue += probability * SHOP_TRUTH[offer] * simulated.offers[offer].margin
    return {"acceptance": accepted / data.rows, "revenue": revenue / done.decisions}


def _evaluate_drafts(db: Database, progress: Progress, simulated: Any) -> dict[str, Any]:
    """Off-policy evaluation of each of ``DRAFTS`` on the point of sale's logged decisions,
    next to the truth the simulator knows for the draft and for the live strategy."""
    task = progress.add_task("off-policy evaluation of two drafts for the shop", total=None)
    results: dict[str, Any] = {}
    channel = EVALUATED_CHANNEL
    with db.read() as session:
        live = snapshots.live_spec(session)
        assert live is not None
        now = evaluation.ledger_now(session)
        _, logged = evaluation.replayed(session, evaluation.live_target(session), days=1,
                                        channel=channel, now=now)  # fmt: skip
        live_truth = _true_value(logged, simulated) if logged.decisions else None
        for i, (name, change) in enumerate(DRAFTS.items(), start=1):
            draft = {**live, "version": f"draft-{i}", "channels": [
                {**c, **change} if c["id"] in SHOP_CHANNELS else c for c in live["channels"]
            ]}  # fmt: skip
            target = evaluation.draft_target(session, draft)
            rows, done = evaluation.replayed(session, target, days=1, channel=channel, now=now)
            found = evaluation.summary(target, rows, done, days=1, channel=channel, now=now,
                                       target_kind="draft")  # fmt: skip
            truth = _true_value(done, simulated) if done.decisions else None
            results[name] = {"evaluation": found, "truth": truth, "live_truth": live_truth}
    progress.update(task, total=1, completed=1)
    return results


def _print_evaluation(results: Mapping[str, Any]) -> None:
    """Each draft's estimates, with intervals, next to its truth and the live strategy's."""
    for name, r in results.items():
        found = r["evaluation"]
        if r["truth"] is None:
            out.print(f"{name}: {found['message']}", markup=False)
            continue
        table = Table(title=f"draft '{name}' on the shop's point of sale: estimated from "
                            f"{found['decisions_used']} logged decisions "
                            f"(nextoffer evaluate --draft FILE --channel {found['channel']})")  # fmt: skip
        for column in ("estimator", "accepted/shown", "95% interval", "revenue/decision",
                       "95% interval ", "ESS"):  # fmt: skip
            table.add_column(column, justify="left" if column == "estimator" else "right")
        acceptance, revenue = found["metrics"]["acceptance"], found["metrics"]["revenue"]
        for a, v in zip(acceptance["estimates"], revenue["estimates"], strict=True):
            table.add_row(a["estimator"], f"{a['value']:.3f}", f"[{a['low']:.3f}, {a['high']:.3f}]",
                          f"{v['value']:.1f}", f"[{v['low']:.1f}, {v['high']:.1f}]",
                          f"{a['effective_sample_size']:.0f}")  # fmt: skip
        table.add_row("the draft's truth", f"{r['truth']['acceptance']:.3f}", "",
                      f"{r['truth']['revenue']:.1f}", "", "", style="bold")  # fmt: skip
        table.add_row("live, observed", f"{acceptance['observed']:.3f}", "",
                      f"{revenue['observed']:.1f}", "", "")  # fmt: skip
        table.add_row("live, truth", f"{r['live_truth']['acceptance']:.3f}", "",
                      f"{r['live_truth']['revenue']:.1f}", "", "")  # fmt: skip
        out.print(table)
        support = found["support"]
        if support and support["max_weight"] == 1.0 and support["zero_weight_rows"] == 0:
            out.print("  note: on every logged slot the draft would choose as the live strategy "
                      "did, with the same probabilities (here PRIE ranks the shop's offers as "
                      "EV does, within each rule's priority): its estimates are the observed "
                      "values", markup=False)  # fmt: skip
        for warning in found["warnings"]:
            out.print(f"  note: {warning}", markup=False)


def _print_journey(result: Mapping[str, Any]) -> None:
    """The journey's funnel and exits, and its holdout comparison next to the truth."""
    report, truth = result["report"], result["truth"]
    table = Table(
        title="the mortgage journey: customers per step (nextoffer journeys report mortgage)"
    )
    for column in ("step", "entered", "waiting", "advanced", "exited", "median days"):
        table.add_column(column, justify="left" if column in ("step", "exited") else "right")
    for s in report["steps"]:
        exits = ", ".join(f"{r} {n}" for r, n in sorted(s["exited"].items()))
        median = "" if s["median_hours"] is None else f"{s['median_hours'] / 24:.1f}"
        table.add_row(s["step"], str(s["entered"]), str(s["waiting"]), str(s["advanced"]),
                      exits, median)  # fmt: skip
    out.print(table)
    c = report["comparison"]
    t, k = c["treatment"], c["control"]
    low, high = c["lift_interval"]
    out.print(
        f"entrants {t['customers']} converted {t['rate']:.1%}, holdout {k['customers']} "
        f"converted {k['rate']:.1%}: measured lift {c['absolute_lift']:+.1%} "
        f"(95% interval {low:+.1%} to {high:+.1%}, p = {c['p_value']:.3f}); "
        f"the simulator's truth: {result['true_lift']:+.1%} per entrant (the appointment adds "
        f"{truth.effect:.0%} to the {truth.base:.0%} who take a mortgage anyway)",
        markup=False,
    )


def _print_uplift(trained: dict[str, Any], learned: dict[str, Any]) -> None:
    """The uplift models learned from the simulated ledger, and the worked example's τ."""
    table = Table(title="uplift models learned from the simulated ledger (X-learner)")
    for column in ("offer", "treated", "control", "Qini (held-out 30%)", "mean τ", "note"):
        table.add_column(column)
    for m in trained["models"]:
        qini = m.get("qini")
        table.add_row(
            m["offer"], str(m["treated"]), str(m["control"]),
            "" if qini is None else f"{qini:+.3f}",
            f"{m['mean_tau']:+.3f}" if m.get("trained") else "",
            "" if m.get("trained") else m["reason"],
        )  # fmt: skip
    out.print(table)
    if not learned:
        return
    table = Table(title=f"{WORKED_EXAMPLE['id']}: learned τ against the simulator's truth")
    for column in ("offer", "learned τ", "interval", "segment", "true τ"):
        table.add_column(column)
    for offer_id, r in sorted(learned.items()):
        interval = "" if r.lower is None else f"[{r.lower:+.3f}, {r.upper:+.3f}]"
        table.add_row(offer_id, f"{r.tau:+.3f}", interval, r.segment,
                      f"{true_effect(WORKED_EXAMPLE, offer_id)[1]:+.3f}")  # fmt: skip
    out.print(table)


def _mine_the_ledger(session: Any) -> dict[str, int]:
    """The shop's checkouts in the ledger, mined; significant rules become proposals."""
    data = ledger_transactions(session)
    support, confidence = "0.02", "0.2"
    result = mine(data.baskets, min_support=support, min_confidence=confidence)
    significance = holdout_test(data.baskets, min_support=support, min_confidence=confidence)
    done = propose_rules(session, "demo-miner", data, result, significance)
    return {"baskets": result.n, "rules": len(result.rules), **done}


def demo(
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API after loading.")
    ] = True,
    port: Annotated[int, typer.Option(help="Port for the API.")] = 8000,
    decisions: Annotated[
        int, typer.Option(min=10, max=1_000_000, help="Simulated decisions.")
    ] = 2000,
    customers: Annotated[
        int,
        typer.Option(
            "--customers",
            min=10,
            max=1_000_000,
            help="Bank customers; each gets the e-mail campaign (an uplift model needs "
            "at least 50 per arm, and the control group is 10%).",
        ),
    ] = 3000,
    tour: Annotated[
        bool, typer.Option("--tour/--no-tour", help="Show the engine tour first.")
    ] = True,
    reset: Annotated[
        bool,
        typer.Option(
            "--reset",
            help="Replace an existing ./nextoffer.db (its approvals, keys and ledger are lost).",
        ),
    ] = False,
) -> None:
    """Load both scenarios into a new ./nextoffer.db (or the configured database), simulate
    traffic, then serve the API. An existing ./nextoffer.db is replaced only with --reset."""
    _fresh_default_database(reset)
    out.rule("[bold]nextoffer demo[/]")
    if tour:
        _tour()
    settings = load_settings()
    db = Database(settings.database_url)
    upgrade(db)
    out.rule("[bold]the service[/]")
    with progress(transient=False) as bar:
        counts = _load(db, bar, decisions, customers)
    with db.transaction() as session:
        admin = create_key(session, "admin", "demo admin")
        client = create_key(session, "client", "demo client")
        author = create_key(session, "author", "demo author")
        approver = create_key(session, "approver", "demo approver")
    # a preview of the worked example: decided as the API would, then rolled back, so the
    # tour's first request is this customer's first contact
    with db.sessions() as session:
        session.begin()
        example = decisions_service.decide(
            session,
            SnapshotCache(db),
            Request.model_validate({"customer": {"id": "demo-premium-36"}, "channel": "email"}),
            None,
            ModelCache(db),
            decision_id=_demo_id(random.Random(36)),  # the e-mail explores: one seed, one preview
        )
        learned = {r.offer_id: r for r in uplift_estimates(session, "demo-premium-36")}
        session.rollback()
    out.print(
        f"database {db.engine.url.render_as_string(hide_password=True)}: snapshot {counts['snapshot']}, "
        f"{counts['decisions']} decisions ({counts['control']} in the control group), "
        f"{counts['shown']} offers shown, {counts['events']} events"
    )
    mined = counts["mined"]
    out.print(
        f"mined {mined['baskets']} checkouts from the ledger: {mined['rules']} rules, "
        f"{mined['significant']} significant (FDR 5%), {mined['created']} new proposals for "
        "review (nextoffer rules list --key …)"
    )
    _print_uplift(counts["uplift"], learned)
    _print_journey(counts["journey"])
    _print_evaluation(counts["evaluation"])
    got = [f"{p['placement']}: {', '.join(s['offer'] for s in p['offers']) or 'nothing'}"
           for p in example["placements"]]  # fmt: skip
    out.print(f"demo-premium-36 on email gets {'; '.join(got)} (a preview, not recorded)")
    db.dispose()
    base = f"http://127.0.0.1:{port}"
    out.print(
        f"\nadmin key:    {admin}\nclient key:   {client}\nauthor key:   {author}\n"
        f"approver key: {approver}",
        markup=False,
    )
    out.print(
        f"\ndashboard: {base}/dashboard (sign in with the author or approver key)\n"
        f"API docs: {base}/docs\n"
        f"try: curl -s -X POST {base}/v1/decisions -H 'Authorization: Bearer {client}' "
        "-H 'Content-Type: application/json' "
        """-d '{"customer": {"id": "demo-premium-36"}, "channel": "email", "placements": ["email-hero"]}'""",
        markup=False,
    )
    if serve:
        import uvicorn

        from ..service import background
        from ..service.app import create_app
        from ..service.limits import uvicorn_options

        out.print(f"serving on {base} (Ctrl-C stops)")
        with background.running(settings):
            uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                        **uvicorn_options(settings))  # fmt: skip
