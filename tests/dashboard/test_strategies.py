"""Strategy experiments in the dashboard, in headless Chromium: the list, an experiment's
report per arm with its charts (the numbers the API's report gives), and the approver's
start, stop and promote buttons, with four eyes (the proposer is refused) and an author
who sees no button."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from nextoffer.scenarios.demo import WORKED_EXAMPLE

from ..service.server import Server, load_catalog
from .conftest import Browser, record_csp_violations

NO_UPLIFT = {"strategy": "prie", "weights": {"propensity": 0.4, "relevance": 0.1, "impact": 0.3,
                                             "emphasis": 0.2, "uplift": 0.0}}  # fmt: skip


def definition(experiment: str, channel: str) -> dict[str, Any]:
    return {"id": experiment, "channels": [channel],
            "arms": [{"name": "champion", "share": 0.5, "snapshot": "live"},
                     {"name": "no-uplift", "share": 0.5,
                      "strategy": {"scoring": copy.deepcopy(NO_UPLIFT)}}]}  # fmt: skip


@pytest.fixture(scope="module")
def strategies_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo's catalog and rules served; an author's experiment on email with 80
    customers decided and some outcomes; an approver's own experiment on branch."""
    url = f"sqlite:///{tmp_path_factory.mktemp('strategies') / 'strategies.db'}"
    server = Server(url).start()
    load_catalog(server)
    with server.client("author") as author:
        r = author.post("/v1/strategy-experiments",
                        json={"definition": definition("email-uplift", "email"),
                              "reason": "is the uplift weight worth it?"})  # fmt: skip
        assert r.status_code == 201, r.text
    with server.client("approver") as approver:
        r = approver.post("/v1/strategy-experiments",
                          json={"definition": definition("approvers-own", "branch")})  # fmt: skip
        assert r.status_code == 201, r.text
    yield server
    server.stop()


@pytest.fixture
def strategies_browser(
    chrome: Any, strategies_server: Server, request: pytest.FixtureRequest
) -> Browser:
    chrome.delete_all_cookies()
    return Browser(chrome, strategies_server, request.node.name.removeprefix("test_")[:40])


def _traffic(server: Server) -> None:
    """80 customers decided on email; every third accepts, every fifth converts."""
    attributes = {k: WORKED_EXAMPLE[k] for k in ("attributes", "holdings")}
    with server.client("client") as client:
        for i in range(80):
            body = {"customer": {"id": f"dash-{i}", **attributes}, "channel": "email"}
            decided = client.post("/v1/decisions", json=body).json()
            shown = decided["placements"][0]["offers"] if not decided["control"] else []
            if not shown:
                continue
            event = {"customer_id": f"dash-{i}", "offer_id": shown[0]["offer"],
                     "channel": "email", "decision_id": decided["id"]}  # fmt: skip
            if i % 3 == 0:
                r = client.post("/v1/events", json={**event, "type": "accept"},
                                headers={"Idempotency-Key": f"acc-{i}"})  # fmt: skip
                assert r.status_code == 201, r.text
            if i % 5 == 0:
                r = client.post("/v1/events", json={**event, "type": "convert", "value": 50.0},
                                headers={"Idempotency-Key": f"conv-{i}"})  # fmt: skip
                assert r.status_code == 201, r.text


def test_an_approver_starts_reads_the_report_per_arm_and_promotes_the_winner(
    strategies_browser: Browser, strategies_server: Server
) -> None:
    b = strategies_browser
    b.sign_in("approver")
    record_csp_violations(b.driver)
    b.open("/strategies")
    rows = b.text("#strategy-experiments")
    assert "email-uplift" in rows
    assert "proposed" in rows
    b.submit("a[href$='/strategies/email-uplift']")
    assert b.text("#status") == "proposed"
    b.driver.find_element(By.ID, "start-reason").send_keys("let us see")
    b.submit("#start")
    assert b.text("#status") == "running"
    assert "started email-uplift" in b.text(".notice")

    _traffic(strategies_server)
    b.open("/strategies/email-uplift?min_per_arm=10")
    with strategies_server.client("author") as author:
        report = author.get("/v1/strategy-experiments/email-uplift/report",
                            params={"min_per_arm": 10}).json()  # fmt: skip
    for arm in report["arms"]:
        assert arm["decisions"] > 0
        cells = b.driver.find_elements(By.CSS_SELECTOR, f"#arm-{arm['arm']} td")
        assert cells[0].text == str(arm["decisions"])
        assert cells[1].text == str(arm["customers"])
        assert cells[3].text.startswith(f"{100 * arm['conversion']:.1f}%")
    assert report["control"] is not None
    assert b.driver.find_elements(By.ID, "arm-control")
    for chart in ("conversion-chart", "acceptance-chart"):
        src = b.driver.find_element(By.CSS_SELECTOR, f"#{chart} img").get_attribute("src")
        assert src.startswith("data:image/svg+xml")
    assert b.driver.execute_script("return window.__csp") == []

    Select(b.driver.find_element(By.ID, "promote-arm")).select_by_value("no-uplift")
    b.driver.find_element(By.ID, "promote-reason").send_keys("savings first sells more")
    b.submit("#promote")
    assert b.text("#status") == "promoted"
    assert "promoted no-uplift: live in snapshot" in b.text(".notice")
    assert not b.driver.find_elements(By.ID, "promote")  # it is over
    assert "(“savings first sells more”)" in b.text("#promotion")
    with strategies_server.client("author") as author:
        done = author.get("/v1/strategy-experiments/email-uplift").json()
        assert done["promoted_arm"] == "no-uplift"
        assert author.get("/v1/snapshots").json()[0]["version"] == done["promoted_version"]


def test_four_eyes_the_proposer_cannot_start_and_an_author_sees_no_button(
    strategies_browser: Browser,
) -> None:
    b = strategies_browser
    b.sign_in("approver")
    b.open("/strategies/approvers-own")
    assert "Four eyes: you proposed this experiment" in b.text()
    b.submit("#start")
    assert "four eyes" in b.errors()
    b.open("/strategies/approvers-own")
    assert b.text("#status") == "proposed"
    b.sign_in("author")
    b.open("/strategies/approvers-own")
    assert not b.driver.find_elements(By.ID, "start")
    assert not b.driver.find_elements(By.ID, "promote")
