"""The API's documentation page works with no internet: Swagger UI comes from the service
itself, under a content security policy of its own, in a browser that reaches nothing
beyond loopback."""

from __future__ import annotations

from typing import Any

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from ..service.server import Server
from .conftest import record_csp_violations

CDN = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"


def test_the_browser_under_test_has_no_internet(chrome: Any, demo_server: Server) -> None:
    # the condition the docs tests rely on: what FastAPI loads by default cannot load here
    chrome.get(f"{demo_server.url}/healthz")
    failed = chrome.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {mode: 'no-cors'}).then(() => done(false), () => done(true));",
        CDN,
    )
    assert failed


def test_swagger_ui_renders_the_operations_offline(chrome: Any, demo_server: Server) -> None:
    record_csp_violations(chrome)
    chrome.get(f"{demo_server.url}/docs")
    WebDriverWait(chrome, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-post .opblock-summary-path")
    )
    operations = chrome.execute_script(
        "return [...document.querySelectorAll('.opblock')].map(b =>"
        " b.querySelector('.opblock-summary-method').textContent + ' '"
        " + b.querySelector('.opblock-summary-path').textContent.replace(/\\u200b/g, ''))"
    )
    assert "POST /v1/decisions" in operations
    assert len(operations) > 20
    # every script and style came from the service itself, and the policy blocked nothing
    urls = chrome.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls
    assert all(u.startswith(demo_server.url) for u in urls), urls
    assert chrome.execute_script("return window.__csp") == []


def test_the_docs_pages_have_a_policy_and_cannot_be_framed(demo_server: Server) -> None:
    page = httpx.get(f"{demo_server.url}/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self' 'sha256-" in policy
    assert page.headers["x-frame-options"] == "DENY"
    asset = httpx.get(f"{demo_server.url}/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert "SwaggerUIBundle" in asset.text[:2000]
