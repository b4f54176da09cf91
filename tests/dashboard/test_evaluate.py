"""The dashboard's Evaluate page in headless Chromium: a stored version and a pasted draft
evaluated on the demo's logged decisions, with the estimates side by side (a chart and a
table), the diagnostics and the live strategy's value; bad input named on the page."""

from __future__ import annotations

import json
from contextlib import closing
from urllib.parse import urlparse

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from nextoffer.scenarios.demo import demo_snapshot

from ..service.server import Server
from .conftest import Browser, record_csp_violations
from .signin import signed_in

ESTIMATORS = ["ips", "snips", "dm", "dr", "switch_dr", "dros"]


def _rows(browser: Browser, metric: str) -> list[list[str]]:
    table = browser.driver.find_element(By.ID, f"estimates-{metric}")
    return [[c.text for c in row.find_elements(By.CSS_SELECTOR, "th, td")]
            for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]  # fmt: skip


def test_a_stored_version_and_a_draft_are_evaluated_side_by_side(browser: Browser) -> None:
    browser.sign_in("author")
    d = browser.driver
    record_csp_violations(d)
    browser.open("/evaluate")
    assert d.title.startswith("Evaluate")
    current = d.find_element(By.CSS_SELECTOR, "header nav a[aria-current=page]")
    assert current.text == "Evaluate"
    unlabelled = d.execute_script(
        "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
        ".filter(e => !(e.labels && e.labels.length)).map(e => e.name)"
    )
    assert unlabelled == []
    versions = [o.get_attribute("value") for o in Select(d.find_element(By.ID, "snapshot")).options]
    stored = [v for v in versions if v]
    assert stored  # the demo published some
    Select(d.find_element(By.ID, "snapshot")).select_by_value(stored[0])
    Select(d.find_element(By.ID, "channel")).select_by_value("pos")
    browser.submit("#evaluate")
    assert not browser.errors(), browser.errors()
    assert f"Estimates for snapshot {stored[0]}" in browser.text()
    assert int(d.find_element(By.ID, "used").text.replace(",", "")) > 0
    for metric in ("acceptance", "revenue"):
        rows = _rows(browser, metric)
        assert [r[0] for r in rows] == [*ESTIMATORS, "Live strategy (observed)"]
        for r in rows[:-1]:
            low, high = (float(x.replace(",", "")) for x in r[2].split(" – "))
            assert low <= float(r[1].replace(",", "")) <= high
    images = d.execute_script(
        "return [...document.querySelectorAll('main figure img')].map(i => [i.alt, i.naturalWidth])"
    )
    assert len(images) == 2
    assert all("live strategy's observed value" in alt and width > 0 for alt, width in images)
    diagnostics = browser.text("#diagnostics")
    assert "Effective sample size" in diagnostics
    assert "Largest weight" in diagnostics
    assert "Logged deterministically (probability 1)" in diagnostics
    browser.shoot("stored")

    # a draft pasted in: the shop explores; on greedy logs it has no support where it differs
    draft = demo_snapshot()
    for channel in draft["channels"]:
        if channel["id"] == "pos":
            channel["exploration"] = {"kind": "epsilon_greedy", "epsilon": 0.5}
    d.execute_script("document.getElementById('draft').value = arguments[0]", json.dumps(draft))
    Select(d.find_element(By.ID, "channel")).select_by_value("pos")
    browser.submit("#evaluate")
    assert not browser.errors(), browser.errors()
    assert "Estimates for draft" in browser.text()
    assert "expected_value+epsilon_greedy(epsilon=0.5,floor=0)" in browser.text()
    warnings = browser.text("#warnings")
    assert "no support" in warnings
    assert "logged deterministically" in warnings
    assert d.execute_script("return window.__csp") == []
    browser.shoot("draft")

    # a draft that does not build: the page names the field
    d.execute_script("document.getElementById('draft').value = arguments[0]",
                     json.dumps({**draft, "channels": [{"id": "pos", "placements": []}]}))  # fmt: skip
    browser.submit("#evaluate")
    assert "draft.channels." in browser.errors()
    assert urlparse(d.current_url).path == "/dashboard/evaluate"
    browser.shoot("bad-draft")


def test_bad_form_input_is_refused_naming_the_field(demo_server: Server) -> None:
    client, csrf = signed_in(demo_server.url, demo_server.keys["author"])
    with closing(client):
        cases = {
            "days": {"days": "0"},
            "snapshot": {"snapshot": "no-such-version"},
            "channel": {"channel": "fax"},
            "draft": {"draft": "{ not json"},
        }
        for field, data in cases.items():
            r = client.post("/dashboard/evaluate", data={"csrf_token": csrf, **data})
            assert r.status_code == 422, (field, r.status_code)
            assert f"<code>{field}</code>" in r.text, (field, r.text[:2000])
        upload = client.post("/dashboard/evaluate", data={"csrf_token": csrf, "channel": "pos"},
                             files={"draft_file": ("draft.yaml", b"offers: [1, 2\n")})  # fmt: skip
        assert upload.status_code == 422
        assert "<code>draft</code>" in upload.text
