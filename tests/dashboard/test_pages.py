"""The dashboard in headless Chromium: sign in, review proposals, look after rules, edit the
catalog, explore decisions and read the results, as a manager would."""

from __future__ import annotations

import time
from contextlib import closing
from typing import Any
from urllib.parse import urlparse

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from ..service.server import Server
from .conftest import Browser, record_csp_violations
from .signin import signed_in


def click(driver: Any, css: str) -> None:
    driver.find_element(By.CSS_SELECTOR, css).click()


def fill(driver: Any, element_id: str, value: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def wait_for(driver: Any, condition: Any, timeout: float = 15) -> Any:
    return WebDriverWait(driver, timeout).until(condition)


def steak_request(customer: str, session: str) -> dict[str, Any]:
    return {"customer": {"id": customer}, "channel": "pos", "session_id": session,
            "cart": {"items": [{"sku": "STEAK-01", "category": "main_course", "price": 1200.0,
                                "quantity": 2}]},
            "store": {"id": "S1", "timezone": "America/New_York"}}  # fmt: skip


def test_sign_in_takes_a_key_whose_role_may_use_the_dashboard(browser: Browser) -> None:
    d = browser.open("")  # not signed in: sent to the sign-in page
    assert urlparse(d.current_url).path == "/dashboard/sign-in"
    fill(d, "key", "nxo_nobody_wrong")
    browser.submit("main form button[type=submit]")
    assert "invalid API key" in browser.errors()
    assert d.find_element(By.ID, "key").get_attribute("aria-invalid") == "true"
    browser.shoot("wrong-key")
    fill(d, "key", browser.server.keys["client"])  # a machine's key cannot sign in
    browser.submit("main form button[type=submit]")
    assert "role author or approver" in browser.errors()
    browser.sign_in("author")
    assert d.title.startswith("Overview")
    assert "Signed in as" in browser.text("header")
    assert "author" in browser.text("header")
    browser.submit("header form.who button")  # sign out
    assert "signed out" in browser.text()
    browser.open("/rules")
    assert urlparse(d.current_url).path == "/dashboard/sign-in"


def test_every_page_renders_with_its_own_assets_only(browser: Browser, demo_server: Server) -> None:
    browser.sign_in("approver")
    d = browser.driver
    with demo_server.client("approver") as api:
        proposal = api.get("/v1/proposals").json()[0]["id"]
        rule = api.get("/v1/rules").json()[0]["id"]
        experiment = api.get("/v1/experiments").json()[0]["experiment"]
    with demo_server.client("client") as api:
        api.post("/v1/decisions", json=steak_request("guest-tour", "sess-tour")).raise_for_status()
    pages = ["", "?window=1h", "/proposals", f"/proposals/{proposal}", "/rules", f"/rules/{rule}",
             "/rules/new", f"/rules/{rule}/edit", "/catalog", "/catalog/offer/credit-card",
             "/catalog/product/new", "/catalog/settings/default", "/decisions",
             "/decisions?customer=guest-tour", "/results", f"/experiments/{experiment}"]  # fmt: skip
    record_csp_violations(d)
    for path in pages:
        browser.open(path)
        assert "nextoffer" in d.title, path
        # the content security policy blocks nothing of the dashboard's own
        assert d.execute_script("return window.__csp") == [], path
        # every form that changes something carries the session's CSRF token
        tokens = d.execute_script(
            "return [...document.querySelectorAll('form[method=post]')]"
            ".map(f => f.elements.csrf_token ? f.elements.csrf_token.value : '')"
        )
        assert tokens, path  # at least the sign-out form
        assert all(len(t) == 64 for t in tokens), (path, tokens)
        assert not browser.errors(), (path, browser.errors())
        assert d.find_element(By.TAG_NAME, "h1").text, path
        # every asset comes from the app itself (or is inline): it works with no internet
        urls = d.execute_script(
            "return [...document.querySelectorAll('link[href]')].map(e => e.href)"
            ".concat([...document.querySelectorAll('script[src], img')].map(e => e.src))"
        )
        assert urls, path
        for url in urls:
            assert url.startswith((demo_server.url, "data:")), (path, url)
        # every form control has a label a screen reader reads out
        unlabelled = d.execute_script(
            "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
            ".filter(e => !(e.labels && e.labels.length)).map(e => e.name)"
        )
        assert unlabelled == [], (path, unlabelled)
    browser.open("/decisions?customer=guest-tour")
    browser.submit("main table tbody a")  # the decision itself
    assert d.title.startswith("Decision")
    browser.shoot()
    # the overview's charts are there, with text alternatives
    browser.open("")
    images = d.execute_script(
        "return [...document.querySelectorAll('main figure img')].map(i => [i.alt, i.naturalWidth])"
    )
    assert len(images) >= 3
    assert all(alt and width > 0 for alt, width in images)


def test_the_dashboard_works_from_the_keyboard(browser: Browser) -> None:
    d = browser.open("/sign-in")
    # the key field has the focus; type the key and press Enter
    d.switch_to.active_element.send_keys(browser.server.keys["approver"], Keys.ENTER)
    wait_for(d, lambda _: d.title.startswith("Overview"))
    body = d.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)  # the first stop is the skip link
    assert d.switch_to.active_element.text == "Skip to content"
    d.switch_to.active_element.send_keys(Keys.TAB)  # then the brand, then the menu
    d.switch_to.active_element.send_keys(Keys.TAB)
    d.switch_to.active_element.send_keys(Keys.TAB)
    assert d.switch_to.active_element.text == "Proposals"
    d.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(d, lambda _: d.title.startswith("Proposals"))
    # the focus is visible: the outline of the focused element is not 'none'
    d.switch_to.active_element.send_keys(Keys.TAB)
    style = d.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
    assert style != "none"
    browser.shoot("keyboard")


def mined_stats(support: float, confidence: float, lift: float, q_value: float) -> dict[str, Any]:
    return {"support": support, "confidence": confidence, "lift": lift, "q_value": q_value,
            "p_value": q_value, "count": 20, "baskets": 651, "source": "ledger"}  # fmt: skip


def test_the_inbox_sorts_and_filters_by_the_rule_statistics(
    browser: Browser, demo_server: Server
) -> None:
    # statistics of our own beside whatever the demo mined, so the order is known to differ
    # by lift, by confidence and by significance
    inbox = {"dessert-after-coffee": ("COFFEE-01", "DESSERT-01", mined_stats(0.05, 0.30, 1.8, 0.02)),
             "croissant-with-wine": ("RED-WINE-02", "CROISSANT-01", mined_stats(0.03, 0.12, 2.6, 0.004)),
             "wine-with-dessert": ("DESSERT-01", "PREMIUM-WINE-01", mined_stats(0.04, 0.45, 1.2, 0.3))}  # fmt: skip
    with demo_server.client("author") as api:
        for rule_id, (sku, offer, stats) in inbox.items():
            made = api.post("/v1/proposals", json={"rule_id": rule_id, "offers": [offer],
                            "trigger": f'cart.has_sku("{sku}") and cart.count >= 2', "stats": stats})  # fmt: skip
            assert made.status_code == 201, made.text
    browser.sign_in("approver")
    d = browser.open("/proposals?sort=lift&order=desc")

    def column(name: str) -> list[float]:
        headers = [h.text for h in d.find_elements(By.CSS_SELECTOR, "main table thead th")]
        i = headers.index(name)
        cells = d.find_elements(By.CSS_SELECTOR, f"main table tbody tr td:nth-child({i + 1})")
        return [float(c.text.rstrip("%").replace(",", "")) for c in cells if c.text != "–"]

    lifts = column("Lift")
    assert len(lifts) >= 3
    assert lifts == sorted(lifts, reverse=True)
    Select(d.find_element(By.ID, "sort")).select_by_value("expected_value")
    Select(d.find_element(By.ID, "order")).select_by_value("asc")
    fill(d, "min_confidence", "0.25")
    browser.submit("form.filters button")
    browser.shoot("filtered")
    assert "sort=expected_value" in d.current_url
    values = column("EV")
    assert len(values) >= 2
    assert values == sorted(values)
    confidences = column("Confidence")
    assert all(c >= 25 for c in confidences)
    assert "croissant-with-wine" not in browser.text("main table")  # confidence 12% is out
    browser.open("/proposals?sort=significance")  # most significant (smallest q) first
    qs = column("q-value")
    assert len(qs) >= 3
    assert qs == sorted(qs)
    browser.open("/proposals?min_lift=abc")
    assert "min_lift" in browser.errors()
    assert "expected a number" in browser.errors()


def test_an_approved_proposal_fires_in_the_next_decision(
    browser: Browser, demo_server: Server
) -> None:
    browser.sign_in("approver")
    d = browser.open("/proposals?q=STEAK-01&sort=lift")
    links = d.find_elements(By.CSS_SELECTOR, "main table tbody td:first-child a")
    assert links, "the demo mined a proposal for steak"
    rule_id = links[0].text
    browser.submit("main table tbody td:first-child a")
    assert "STEAK-01" in browser.text(".card")
    wait_for(d, lambda _: "✓ valid" in browser.text("#trigger-check"))  # checked as loaded
    browser.submit("form[action$='/backtest'] button")  # what it would have done last month
    assert "requests replayed" in browser.text("main")
    browser.shoot("backtest")
    fill(d, "approve-reason", "steak sells wine")
    browser.submit("form[action$='/approve'] button[type=submit]")
    assert "approved" in browser.text(".notice")
    assert f"Rule {rule_id}" in d.title
    browser.shoot()
    # the next decision for a steak cart fires the rule (every worker swaps within a second)
    with demo_server.client("client") as api:
        for attempt in range(20):
            body = steak_request("guest-approval", f"sess-approval-{attempt}")
            fired = api.post("/v1/decisions", json=body).json()["rules_fired"]
            if any(f["id"] == rule_id for f in fired):
                break
            time.sleep(0.25)
        else:
            raise AssertionError(f"{rule_id} never fired")
    browser.open("/decisions")
    fill(d, "customer", "guest-approval")
    browser.submit("form[role=search] button")
    assert rule_id in browser.text("main table")
    browser.submit("main table tbody tr:first-child td:first-child a")
    assert f"{rule_id} v1" in browser.text(".card")
    browser.shoot()


def test_edit_then_approve_with_live_validation_and_four_eyes(
    browser: Browser, demo_server: Server
) -> None:
    browser.sign_in("admin")  # an admin may propose and approve, but not their own proposal
    d = browser.open("/rules/new")
    trigger = d.find_element(By.ID, "trigger")
    trigger.send_keys('cart.has_sku("DESSERT-01") and customer.tierr == "gold"')
    fill(d, "offers", "COFFEE-01")
    wait_for(d, lambda _: "line 1" in browser.text("#trigger-check"))
    check = browser.text("#trigger-check")
    assert "customer.tierr" in check
    assert "did you mean" in check
    assert "^" in check  # the caret under the offending text
    assert trigger.get_attribute("aria-invalid") == "true"
    browser.shoot("invalid")
    click(d, "#trigger-check button.diagnostic")  # selects the offending text
    selected = d.execute_script(
        "const t = document.activeElement; return t.value.slice(t.selectionStart, t.selectionEnd)"
    )
    assert "tierr" in selected
    fill(d, "trigger", 'cart.has_sku("DESSERT-01") and not cart.has_sku("COFFEE-01")')
    wait_for(d, lambda _: "✓ valid" in browser.text("#trigger-check"))
    fill(d, "rule_id", "dessert-coffee-dashboard")
    browser.submit("main form button[type=submit]")
    assert "proposed" in browser.text(".notice")
    assert "Four eyes" in browser.text("main")
    proposal_url = d.current_url
    browser.submit("form[action$='/approve'] button[type=submit]")
    assert "four eyes" in browser.errors()
    browser.shoot("four-eyes")
    # another person (an approver) edits the priority: a new proposal of theirs, which they
    # may not approve; someone else (the admin) approves it
    browser.sign_in("approver")
    d.get(proposal_url)
    fill(d, "priority", "70")
    browser.submit("form[action$='/approve'] button[type=submit]")
    assert "are a new proposal" in browser.text(".notice")
    assert "Four eyes" in browser.text("main")
    edited_url = d.current_url
    assert edited_url != proposal_url
    browser.sign_in("admin")
    d.get(edited_url)
    browser.submit("form[action$='/approve'] button[type=submit]")
    assert "is live" in browser.text(".notice")
    with demo_server.client("approver") as api:
        rule = next(r for r in api.get("/v1/rules").json() if r["id"] == "dessert-coffee-dashboard")
    assert rule["priority"] == 70
    assert rule["live_revision"] == 1


def test_a_rejection_needs_a_reason_and_is_recorded(browser: Browser, demo_server: Server) -> None:
    with demo_server.client("author") as api:
        made = api.post("/v1/proposals", json={"rule_id": "to-reject", "offers": ["CROISSANT-01"],
                                               "trigger": 'cart.has_sku("COFFEE-01") and cart.count >= 3'})  # fmt: skip
        assert made.status_code == 201, made.text
    browser.sign_in("approver")
    d = browser.open(f"/proposals/{made.json()['id']}")
    # the browser insists on a reason (required); the server too, when a script skips that
    d.execute_script("document.getElementById('reject-reason').removeAttribute('required')")
    browser.submit("form[action$='/reject'] button")
    assert "a rejection needs a reason" in browser.errors()
    fill(d, "reject-reason", "croissants are for mornings")
    browser.submit("form[action$='/reject'] button")
    assert "rejected the proposal: croissants are for mornings" in browser.text(".notice")
    browser.open("/proposals?status=rejected&q=to-reject")
    assert "to-reject" in browser.text("main table")


def test_restore_an_old_revision_and_see_the_diff(browser: Browser, demo_server: Server) -> None:
    browser.sign_in("author")
    d = browser.open("/rules/breakfast/edit")
    fill(d, "priority", "20")
    fill(d, "description", "lower priority, for a trial")
    browser.submit("main form button[type=submit]")
    assert "proposed" in browser.text(".notice")
    proposal_url = d.current_url
    browser.sign_in("approver")
    d.get(proposal_url)
    browser.submit("form[action$='/approve'] button[type=submit]")
    assert "breakfast v2 is live" in browser.text(".notice")
    # v2 shows what changed from v1
    summary = d.find_element(By.CSS_SELECTOR, "#v2 details summary")
    summary.click()
    diff = browser.text("#v2 pre.diff")
    assert "-priority: " in diff
    assert "+priority: 20" in diff
    browser.shoot("diff")
    fill(d, "reason-1", "the trial is over")
    browser.submit("#v1 form[action$='/restore'] button")
    assert "restored v1" in browser.text(".notice")
    assert "live" in browser.text("#v3")
    assert "restored from v1" in browser.text("#v3")
    browser.shoot("restored")
    with demo_server.client("approver") as api:
        history = api.get("/v1/rules/breakfast/history").json()
    assert history["live_revision"] == 3
    assert history["revisions"][2]["priority"] == history["revisions"][0]["priority"]
    # deactivate, then activate again, from the same page
    browser.submit("form[action$='/deactivate'] button")
    assert "inactive" in browser.text("main")
    browser.submit("form[action$='/activate'] button")
    assert "live: v3" in browser.text("main")
    # a backtest of a revision, on the same page
    browser.submit("#v1 form[action$='/backtest'] button")
    assert "requests replayed" in browser.text("main")
    browser.shoot("backtest")


def test_catalog_edits_are_validated_then_published(browser: Browser, demo_server: Server) -> None:
    browser.sign_in("author")
    d = browser.open("/catalog/offer/COFFEE-01")
    body = d.find_element(By.ID, "body").get_attribute("value")
    broken = body.replace('"id": "COFFEE-01"', '"id": "COFFEE-01", "priority": 500')
    d.execute_script("document.getElementById('body').value = arguments[0]", broken)
    browser.submit("main form button[type=submit]")
    assert "priority" in browser.errors()
    assert "less than or equal to 100" in browser.errors()
    browser.shoot("invalid")
    fixed = body.replace('"id": "COFFEE-01"', '"id": "COFFEE-01", "priority": 65')
    d.execute_script("document.getElementById('body').value = arguments[0]", fixed)
    browser.submit("main form button[type=submit]")
    assert "saved offer COFFEE-01" in browser.text(".notice")
    browser.open("/catalog")
    assert "not live yet" in browser.text("main")
    assert not d.find_elements(By.CSS_SELECTOR, "form[action$='/publish']")  # authors cannot
    browser.sign_in("approver")
    browser.open("/catalog")
    browser.submit("form[action$='/publish'] button")
    notice = browser.text(".notice")
    assert "published snapshot" in notice
    assert "not live yet" not in browser.text("main")
    published = notice.split("published snapshot ", 1)[1].split(":", 1)[0]
    assert published in browser.text("main")
    # the API's workers swap to it "within a second" (each checks every 0.25 s): wait for
    # that, rather than read the live version the instant the page answered
    deadline = time.monotonic() + 2
    with demo_server.client("approver") as api:
        while (live := api.get("/v1/snapshots/live").json()["version"]) != published:
            assert time.monotonic() < deadline, f"the API still serves {live}, not {published}"
            time.sleep(0.05)


def test_a_decisions_trace_reads_as_a_funnel(browser: Browser, demo_server: Server) -> None:
    with demo_server.client("client") as api:
        made = api.post(
            "/v1/decisions", json={"customer": {"id": "demo-premium-36"}, "channel": "email"}
        )
        assert made.status_code == 200, made.text
    browser.sign_in("approver")
    d = browser.open("/decisions?customer=demo-premium-36")
    browser.submit("main table tbody tr:first-child td:first-child a")
    assert d.title.startswith("Decision")
    stages = d.execute_script(
        "return [...document.querySelectorAll('table.funnel tbody tr')].map(r => r.id)"
    )
    assert stages[:3] == ["stage-candidates", "stage-qualify", "stage-policies"]
    with demo_server.client("approver") as api:
        decision = api.get(f"/v1/decisions/{made.json()['id']}").json()
    for drop in decision["trace"]["drops"]:
        row = browser.text(f"#stage-{drop['stage']}")
        assert f"{drop['offer']}: {drop['reason']}" in row
    assert decision["trace"]["drops"], "the worked example drops the offers it holds or fails"
    shown = [s["offer"] for p in decision["placements"] for s in p["offers"]]
    for offer in shown:
        assert offer in browser.text("main table")
    browser.shoot()


def test_an_experiment_report_with_intervals_and_a_chart(browser: Browser) -> None:
    browser.sign_in("approver")
    d = browser.open("/results")
    alts = d.execute_script("return [...document.images].map(i => i.alt).join(' ')")
    assert "Qini curve" in alts
    assert "mature" in browser.text("#attach ~ table") or "mature" in browser.text("main")
    browser.submit("section[aria-labelledby=experiments] table a")
    assert d.title.startswith("Experiment bank-cross-sell-2026")
    table = browser.text("main table")
    assert "all offers" in table
    assert "credit-card" in table
    assert " to " in table  # intervals
    assert d.execute_script("return document.querySelector('main figure img').naturalWidth") > 0
    browser.shoot()


def test_refusals_are_pages_not_tracebacks(browser: Browser, demo_server: Server) -> None:
    browser.sign_in("author")
    d = browser.open("/proposals/no-such-proposal")
    assert d.title.startswith("Not found")
    assert "no proposal" in browser.errors()
    browser.open("/no/such/page")
    assert d.title.startswith("Not found")
    # an author cannot publish: the page says why (403), nothing changes
    http, csrf = signed_in(demo_server.url, demo_server.keys["author"])
    with closing(http):
        refused = http.post("/dashboard/catalog/publish", data={"csrf_token": csrf})
    assert refused.status_code == 403
    assert "role approver" in refused.text
    assert "<html" in refused.text
