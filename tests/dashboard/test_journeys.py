"""Journeys in the dashboard, in headless Chromium: the bank's mortgage journey with customers
moved through it at the suite's fixed instants (entered, clicked, declined, converted, the
week's wait run out), drawn as its graph of steps with the customers at and through each
step, its funnel, its exits by reason and its comparison with the holdout; a customer's
journeys on the decision pages; an unknown journey and a client's key refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
from selenium.webdriver.common.by import By

from nextoffer.scenarios import bank_snapshot, mortgage_journey
from nextoffer.service.db import Database
from nextoffer.service.journeys import service as journeys
from nextoffer.service.journeys.runner import Arrival, Runner
from nextoffer.service.ledger.service import ingest
from nextoffer.service.migrate import upgrade
from nextoffer.service.snapshots.cache import SnapshotCache
from nextoffer.service.snapshots.loader import load_spec
from nextoffer.service.snapshots.service import publish
from nextoffer.service.tables import customers, enrollments

from ..clock import NOW
from ..service.server import Server
from .conftest import Browser, record_csp_violations
from .signin import signed_in

DAY = dt.timedelta(days=1)
CUSTOMERS = 800  # every tenth of them basic tier: out of the journey
PILOT = "mortgage_pilot"  # the same journey for the richest few, with no holdout
# the scheduler stays off: the customers move only at the instants the test sets
SERVER_ENV = {"NEXTOFFER_ATTACH_REFRESH_SECONDS": "0", "NEXTOFFER_JOURNEY_TICK_SECONDS": "0"}


def _customer(i: int) -> dict[str, Any]:
    return {"id": f"c-{i:03d}", "attributes": {"tier": "basic" if i % 10 == 9 else "premium",
            "tenureMonths": 36, "hasCreditCard": False,
            "balance": 95000.0 if i < 12 else 20000.0},
            "holdings": ["checking"], "segments": [], "updated_at": NOW}  # fmt: skip


def _pilot() -> dict[str, Any]:
    definition = mortgage_journey()
    entry = {**definition["entry"], "segment": "customer.balance >= 90000"}
    return {**definition, "id": PILOT, "name": "Mortgage pilot", "entry": entry,
            "holdout_share": 0.0}  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    clicked: list[str]  # clicked the lead a day in: offered the appointment at the branch
    declined: list[str]
    converted: list[str]
    holdout_converted: list[str]
    timed_out: list[str]  # no response in the week: through the branch to the reminder
    outside: str  # a customer in no journey


def _steps(db: Database, journey: str) -> dict[str, tuple[str | None, str]]:
    """Each customer's (step, status) in ``journey``."""
    with db.read() as session:
        rows = session.execute(
            sa.select(enrollments.c.customer_id, enrollments.c.step, enrollments.c.status)
            .where(enrollments.c.journey_id == journey)
        ).all()  # fmt: skip
    return {r.customer_id: (r.step, r.status) for r in rows}


@pytest.fixture(scope="module")
def journeys_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Scenario]]:
    """The bank's catalog and customers, the mortgage journey and its pilot published, the
    customers moved through them at fixed instants, then a real ``nextoffer serve``."""
    url = f"sqlite:///{tmp_path_factory.mktemp('journeys') / 'journeys.db'}"
    db = Database(url)
    upgrade(db)
    with db.transaction() as session:
        load_spec(session, bank_snapshot())
        publish(session, "bank-1")
        session.execute(sa.insert(customers), [_customer(i) for i in range(CUSTOMERS)])
        for definition in (mortgage_journey(), _pilot()):
            proposal = journeys.propose(session, "ann", definition, "the mortgage program")
            journeys.approve(session, "bob", proposal["id"], "looks right")
    runner = Runner(db, SnapshotCache(db), None, clock=lambda: NOW)
    runner.enter_segment("mortgage", now=NOW)
    runner.enter_segment(PILOT, now=NOW)
    at = _steps(db, "mortgage")
    waiting = sorted(c for c, (step, _) in at.items() if step == "wait_lead")
    holdout = sorted(c for c, (_, status) in at.items() if status == "holdout")
    clicked, declined, converted = waiting[0::4], waiting[1::4], waiting[2::8]
    holdout_converted = holdout[2::16]
    arrivals = [Arrival(c, "click", NOW + DAY, "mortgage-lead") for c in clicked]
    arrivals += [Arrival(c, "decline", NOW + DAY, "mortgage-lead") for c in declined]
    arrivals += [Arrival(c, "convert", NOW + 2 * DAY, "mortgage", 1400.0)
                 for c in converted + holdout_converted]  # fmt: skip
    with db.transaction() as session:  # as POST /v1/events does: stored, then the journeys
        ingest(session, [{"type": a.type, "customer_id": a.customer, "offer_id": a.offer,
                          "idempotency_key": f"{a.type}-{a.customer}",
                          **({"value": a.value} if a.value is not None else {})}
                         for a in arrivals])  # fmt: skip
        runner.on_events(session, arrivals)
    runner.tick(now=NOW + 8 * DAY)  # the week is up: the others get their reminder
    timed_out = sorted(set(waiting) - set(clicked + declined + converted))
    db.dispose()
    server = Server(url, env=SERVER_ENV).start()
    yield server, Scenario(clicked, declined, converted, holdout_converted, timed_out, "c-009")
    server.stop()


@pytest.fixture
def journey_browser(chrome: Any, journeys_server: tuple[Server, Scenario],
                    request: pytest.FixtureRequest) -> Browser:  # fmt: skip
    chrome.delete_all_cookies()
    return Browser(chrome, journeys_server[0], request.node.name.removeprefix("test_")[:40])


def _report(server: Server, journey: str = "mortgage") -> dict[str, Any]:
    with server.client("approver") as api:
        answer = api.get(f"/v1/journeys/{journey}/report")
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


def _nodes(d: Any) -> dict[str, dict[str, Any]]:
    """The graph's boxes: per step, its type, its counts and its visible text."""
    found = d.execute_script(
        "return [...document.querySelectorAll('#journey-graph g.step')].map(g => ["
        "g.dataset.step, g.dataset.type, +g.dataset.waiting, +g.dataset.entered, "
        "g.querySelector('text.counts').textContent, g.getBoundingClientRect().width])"
    )
    return {step: {"type": kind, "waiting": waiting, "entered": entered, "text": text,
                   "width": width} for step, kind, waiting, entered, text, width in found}  # fmt: skip


def test_the_journey_page_draws_the_steps_with_the_customers_at_and_through_each(
    journey_browser: Browser, journeys_server: tuple[Server, Scenario]
) -> None:
    server, moved = journeys_server
    report = _report(server)
    journey_browser.sign_in("author")
    record_csp_violations(journey_browser.driver)
    d = journey_browser.open("/journeys/mortgage")
    assert d.title.startswith("Journey mortgage")
    assert d.execute_script("return window.__csp") == []
    nodes = _nodes(d)
    definition = mortgage_journey()
    # one box per step of the definition, of its type, visible
    assert {s: n["type"] for s, n in nodes.items()} == {s["id"]: s["type"]
                                                       for s in definition["steps"]}  # fmt: skip
    assert all(n["width"] > 0 for n in nodes.values())
    # each box counts the customers at the step now and through it, as the report does
    for row in report["steps"]:
        node = nodes[row["step"]]
        assert (node["waiting"], node["entered"]) == (row["waiting"], row["entered"]), row
        assert node["text"] == f"{row['waiting']:,} here now · {row['entered']:,} through"
    # and as the customers were moved: the clickers went through the branch step to the
    # appointment and wait there; the others' week ran out, and the branch sent them to
    # the reminder (those it reached wait again)
    assert nodes["appointment"]["waiting"] == nodes["appointment"]["entered"] == len(moved.clicked)
    assert nodes["responded"]["entered"] == len(moved.clicked) + len(moved.timed_out)
    assert nodes["responded"]["waiting"] == 0  # a branch is passed at once
    assert nodes["reminder"]["entered"] == len(moved.timed_out) > 0
    assert nodes["wait_lead"]["waiting"] > 0
    assert nodes["lead"]["entered"] == report["entered"]  # every entrant outside the holdout
    # an arrow for every way out of a step: next, branches, timeouts, expiries, blocks
    edges = d.execute_script(
        "return [...document.querySelectorAll('#journey-graph g.edge')].map(g => "
        "[g.dataset.from, g.dataset.to, g.dataset.kinds])"
    )
    arrows = {(s, t): set(kinds.split()) for s, t, kinds in edges}
    assert arrows[("lead", "wait_lead")] == {"next"}
    assert arrows[("lead", "lead")] == {"blocked"}  # retried after two days
    assert arrows[("wait_lead", "responded")] == {"next", "timeout"}
    assert arrows[("responded", "appointment")] == {"branch"}
    assert arrows[("responded", "no_response")] == {"branch"}
    assert arrows[("responded", "reminder")] == {"otherwise"}
    assert arrows[("reminder", "wait_lead")] == {"next"}
    assert arrows[("reminder", "")] == {"blocked"}  # blocked: out of the journey
    assert arrows[("appointment", "appointment_app")] == {"expired"}
    assert arrows[("appointment_app", "not_taken")] == {"expired"}
    assert arrows[("follow_up", "offered")] == {"next"}
    assert len(arrows) == len(edges)  # one arrow per pair of steps
    # the steps in words, with the same numbers
    table = journey_browser.text("#step-table")
    assert "offer mortgage-appointment on branch, inbound, for 14d" in table
    journey_browser.shoot("graph")


def test_the_funnel_and_the_exits_are_charts(
    journey_browser: Browser, journeys_server: tuple[Server, Scenario]
) -> None:
    server, moved = journeys_server
    report = _report(server)
    assert report["exits"]["declined"] == len(moved.declined)
    # the holdout's enrollments end on a conversion as well
    converted = len(moved.converted) + len(moved.holdout_converted)
    assert report["exits"]["converted"] == converted
    journey_browser.sign_in("approver")
    d = journey_browser.open("/journeys/mortgage")
    images = d.execute_script(
        "return [...document.querySelectorAll('#funnel-chart img, #exits-chart img')]"
        ".map(i => [i.closest('figure').id, i.alt, i.naturalWidth, i.src.slice(0, 26)])"
    )
    assert [i[0] for i in images] == ["funnel-chart", "exits-chart"]
    for _, alt, width, src in images:
        assert alt
        assert width > 0  # drawn, inline, from nothing but the page
        assert src == "data:image/svg+xml;base64,"
    exits_alt = images[1][1]
    assert f"declined {len(moved.declined)}" in exits_alt
    assert f"converted {converted}" in exits_alt


def test_the_holdout_comparison_shows_both_arms_the_lift_and_the_p_value(
    journey_browser: Browser, journeys_server: tuple[Server, Scenario]
) -> None:
    server, moved = journeys_server
    c = _report(server)["comparison"]
    treated, control = c["treatment"], c["control"]
    assert treated["conversions"] == len(moved.converted)
    assert control["conversions"] == len(moved.holdout_converted)
    assert not c["insufficient_data"]  # enough customers in both arms
    journey_browser.sign_in("author")
    d = journey_browser.open("/journeys/mortgage#holdout")
    rows = journey_browser.text("#comparison tbody")
    assert f"Entered (treated) {treated['customers']:,} {treated['conversions']:,}" in rows
    assert f"Holdout (control) {control['customers']:,} {control['conversions']:,}" in rows
    low, high = treated["interval"]
    assert f"{100 * treated['rate']:.2f}% ({100 * low:.1f}% to {100 * high:.1f}%)" in rows
    lift = journey_browser.text("#lift")
    a_low, a_high = c["lift_interval"]
    assert (f"{100 * c['absolute_lift']:.2f} pp ({100 * a_low:.2f} pp to {100 * a_high:.2f} pp)"
            in lift)  # fmt: skip
    assert f"{c['p_value']:.3g}" in lift
    assert "enough" in lift
    assert not d.find_elements(By.ID, "insufficient")
    assert d.execute_script("return document.querySelector('#comparison-chart img').naturalWidth")
    journey_browser.shoot("holdout")
    # the pilot has no holdout: its comparison says the data is insufficient
    d = journey_browser.open(f"/journeys/{PILOT}")
    assert "Insufficient data" in journey_browser.text("#insufficient")
    assert "insufficient" in journey_browser.text("#lift")
    assert not d.find_elements(By.ID, "comparison-chart")  # no control arm to draw


def test_the_list_shows_each_journey_with_its_customers_and_proposals(
    journey_browser: Browser, journeys_server: tuple[Server, Scenario]
) -> None:
    server, _ = journeys_server
    with server.client("author") as api:  # an open proposal of a new version
        proposed = api.post("/v1/journeys/proposals", json={
            "definition": {**_pilot(), "max_duration": "60d"}, "reason": "shorter"})  # fmt: skip
        assert proposed.status_code == 201, proposed.text
        listed = {j["id"]: j for j in api.get("/v1/journeys").json()}
    journey_browser.sign_in("approver")
    record_csp_violations(journey_browser.driver)
    d = journey_browser.open("/journeys")
    assert d.title.startswith("Journeys")
    assert d.execute_script("return window.__csp") == []
    current = d.find_element(By.CSS_SELECTOR, "nav a[aria-current=page]").text
    assert current == "Journeys"
    rows = {r.find_element(By.CSS_SELECTOR, "td").text: r.text
            for r in d.find_elements(By.CSS_SELECTOR, "main table tbody tr")}  # fmt: skip
    assert set(rows) == {"mortgage", PILOT}
    for journey, row in rows.items():
        j = listed[journey]
        assert row.endswith(f"v1 {j['versions']} {j['active']:,} {j['open_proposals']}"), row
    assert listed[PILOT]["open_proposals"] == 1
    assert listed["mortgage"]["active"] > 0
    journey_browser.submit(f"main table a[href$='/journeys/{PILOT}']")
    assert d.title.startswith(f"Journey {PILOT}")
    assert "shorter" in journey_browser.text("#versions ~ ul")


def test_a_customers_journeys_are_on_the_decision_pages(
    journey_browser: Browser, journeys_server: tuple[Server, Scenario]
) -> None:
    server, moved = journeys_server
    customer = moved.clicked[0]
    with server.client("author") as api:
        theirs = api.get(f"/v1/customers/{customer}/journeys").json()["journeys"]
    path = next(e["path"] for e in theirs if e["journey_id"] == "mortgage")
    journey_browser.sign_in("author")
    record_csp_violations(journey_browser.driver)
    d = journey_browser.open(f"/decisions?customer={customer}")
    assert d.execute_script("return window.__csp") == []
    panel = journey_browser.text("#journeys-of-customer")
    rows = {r.get_attribute("data-journey"): r
            for r in d.find_elements(By.CSS_SELECTOR, "#journeys-of-customer tbody tr")}  # fmt: skip
    assert set(rows) == {e["journey_id"] for e in theirs}, panel
    mortgage = rows["mortgage"]
    assert mortgage.find_element(By.CSS_SELECTOR, "td.step").text == "appointment"
    assert "v1" in mortgage.text
    assert "active" in mortgage.text
    assert "lead → wait_lead → responded → appointment" in mortgage.text
    mortgage.find_element(By.CSS_SELECTOR, "summary").click()
    items = mortgage.find_elements(By.CSS_SELECTOR, "ol.transitions li")
    assert len(items) == len(path)
    journey_browser.shoot("customer")
    # the lead's decision is linked from the path, and its page lists the journeys too
    journey_browser.submit("#journeys-of-customer tr[data-journey=mortgage] ol a")
    assert d.title.startswith("Decision")
    assert "mortgage v1 · lead" in journey_browser.text("#journey-steps")
    assert "appointment" in journey_browser.text("#journeys-of-customer")
    # one who converted has left, and says why; one outside every journey has none
    journey_browser.open(f"/decisions?customer={moved.converted[0]}")
    assert "left: converted" in journey_browser.text("#journeys-of-customer")
    journey_browser.open(f"/decisions?customer={moved.outside}")
    assert "has not entered any journey" in journey_browser.text("#journeys-of-customer")


def test_an_unknown_journey_is_a_not_found_page(journey_browser: Browser) -> None:
    journey_browser.sign_in("author")
    d = journey_browser.open("/journeys/no-such-journey")
    assert d.title.startswith("Not found")
    assert "no journey 'no-such-journey'" in journey_browser.errors()
    assert "Traceback" not in d.page_source
    d = journey_browser.open("/journeys/mortgage?version=9")
    assert d.title.startswith("Not found")
    assert "has no version 9" in journey_browser.errors()


def test_a_client_key_cannot_see_the_journeys(
    journey_browser: Browser, journeys_server: tuple[Server, Scenario]
) -> None:
    server, _ = journeys_server
    d = journey_browser.open("/journeys/mortgage")  # not signed in: to the sign-in page
    assert urlparse(d.current_url).path == "/dashboard/sign-in"
    d.find_element(By.ID, "key").send_keys(server.keys["client"])
    journey_browser.submit("main form button[type=submit]")
    assert "role author or approver" in journey_browser.errors()
    assert "mortgage" not in journey_browser.text()
    # nor with the key sent as the API takes it: the dashboard reads only its own session
    with server.client("client") as api:
        for path in ("/dashboard/journeys", "/dashboard/journeys/mortgage"):
            answer = api.get(path, follow_redirects=False)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/dashboard/sign-in"), path
    # an author and an approver may read it
    for role in ("author", "approver"):
        client, _ = signed_in(server.url, server.keys[role])
        with closing(client):
            assert client.get("/dashboard/journeys/mortgage").status_code == 200, role
