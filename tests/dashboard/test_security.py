"""Another page on the same host, as in the report: a server on another port of 127.0.0.1
(the same site, so SameSite=Strict cookies go along) whose pages auto-submit a dashboard
form and frame the dashboard, visited by a signed-in approver in headless Chromium."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from ..service.server import Server, free_port
from .conftest import Browser


class Attacker:
    """A real HTTP server on another port of 127.0.0.1 serving the pages it is given."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path, "not here").encode()
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.port = free_port()
        self.http = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    evil = Attacker()
    evil.thread.start()
    yield evil
    evil.http.shutdown()
    evil.http.server_close()


def a_live_rule(server: Server) -> str:
    with server.client("approver") as api:
        live = [r["id"] for r in api.get("/v1/rules").json() if r["live_revision"]]
    assert live
    return str(live[0])


def is_live(server: Server, rule_id: str) -> bool:
    with server.client("approver") as api:
        rule = next(r for r in api.get("/v1/rules").json() if r["id"] == rule_id)
    return rule["live_revision"] is not None


def test_a_page_on_another_port_cannot_deactivate_a_rule(
    browser: Browser, demo_server: Server, attacker: Attacker
) -> None:
    rule = a_live_rule(demo_server)
    target = f"{demo_server.url}/dashboard/rules/{rule}/deactivate"
    attacker.pages["/form"] = (
        f'<form method="post" action="{target}"><input type="hidden" name="csrf_token"'
        ' value="guessed"></form><script>document.forms[0].submit()</script>'
    )
    attacker.pages["/fetch"] = (
        f"<script>fetch({target!r}, {{method: 'POST', mode: 'no-cors', credentials: 'include',"
        " body: new URLSearchParams({csrf_token: 'guessed'})})"
        ".finally(() => document.title = 'sent')</script>"
    )
    browser.sign_in("approver")
    d = browser.driver
    d.get(f"{attacker.url}/form")
    WebDriverWait(d, 30).until(lambda _: d.current_url.startswith(demo_server.url))
    WebDriverWait(d, 30).until(
        lambda _: d.execute_script("return document.readyState") == "complete"
    )
    browser.shoot("forged-form")
    assert is_live(demo_server, rule)
    assert urlparse(d.current_url).path.endswith("/deactivate")
    assert d.title.startswith("Not allowed")
    assert "another site" in browser.errors()
    assert "Signed in as" in browser.text("header")  # the cookie went along: the guard held
    assert is_live(demo_server, rule)
    d.get(f"{attacker.url}/fetch")
    WebDriverWait(d, 30).until(lambda _: d.title == "sent")
    assert is_live(demo_server, rule)
    # and the approver's own click on the same button still works
    browser.open(f"/rules/{rule}")
    browser.submit("form[action$='/deactivate'] button")
    assert "deactivated" in browser.text(".notice")
    assert not is_live(demo_server, rule)
    browser.submit("form[action$='/activate'] button")
    assert is_live(demo_server, rule)


def test_the_dashboard_cannot_be_framed(
    browser: Browser, demo_server: Server, attacker: Attacker
) -> None:
    browser.sign_in("approver")
    d = browser.driver
    attacker.pages["/frame"] = (
        f'<iframe id="dashboard" src="{demo_server.url}/dashboard/rules"></iframe>'
        f'<iframe id="control" src="{demo_server.url}/healthz"></iframe>'
    )
    d.get(f"{attacker.url}/frame")
    WebDriverWait(d, 30).until(
        lambda _: d.execute_script("return document.readyState") == "complete"
    )
    browser.shoot("framed")

    def framed_text(frame_id: str) -> str:
        d.switch_to.frame(d.find_element(By.ID, frame_id))
        try:
            WebDriverWait(d, 15).until(
                lambda _: d.execute_script("return document.readyState") == "complete"
            )
            return str(d.execute_script("return document.body ? document.body.innerText : ''"))
        finally:
            d.switch_to.default_content()

    # the check sees a framed page's text when framing is allowed (the JSON health check) ...
    assert '"status":"ready"' in framed_text("control").replace(" ", "")
    # ... and nothing of the dashboard: the browser refused to show it in a frame
    shown = framed_text("dashboard")
    assert "Signed in as" not in shown
    assert "Rules" not in shown


def test_the_browsers_cookie_is_a_session_id_not_the_api_key(
    browser: Browser, demo_server: Server
) -> None:
    browser.sign_in("approver")
    cookies = {c["name"]: c for c in browser.driver.get_cookies()}
    session = cookies["nextoffer_session"]
    key = demo_server.keys["approver"]
    assert session["value"] != key
    assert key.split("_", 2)[2] not in session["value"]  # the secret (it may hold "_" too)
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["path"] == "/dashboard"
    # a script on the page cannot read it
    assert "nextoffer_session" not in browser.driver.execute_script("return document.cookie")
    assert all(key not in c["value"] for c in cookies.values())
