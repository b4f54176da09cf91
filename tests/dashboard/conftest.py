"""The dashboard under test: the demo's database served by a real ``nextoffer serve``, driven
in headless Chromium (installed from Debian's packages when absent). Every page a test
visits is saved as a screenshot under ``build/screenshots`` (or ``$NEXTOFFER_SCREENSHOTS``)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nextoffer.testing.browser import ensure_chromium, headless_chrome

from ..service.server import NEXTOFFER, Server

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("NEXTOFFER_SCREENSHOTS", ROOT / "build" / "screenshots"))


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo loaded with enough bank customers for both uplift models, then served."""
    where = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{where / 'demo.db'}"
    env = {**os.environ, "NEXTOFFER_DATABASE_URL": url}
    done = subprocess.run(
        [
            str(NEXTOFFER),
            "demo",
            "--no-serve",
            "--no-tour",
            "--customers",
            "1500",
            "--decisions",
            "300",
        ],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    server = Server(url).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chrome() -> Iterator[Any]:
    shutil.rmtree(SHOTS, ignore_errors=True)  # this run's screenshots only
    SHOTS.mkdir(parents=True)
    driver = headless_chrome(ensure_chromium())
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


class Browser:
    """A signed-in (or not) browser on the dashboard that screenshots every page it opens."""

    def __init__(self, driver: Any, server: Server, name: str) -> None:
        self.driver, self.server, self.name = driver, server, name
        self.shots = 0

    @property
    def base(self) -> str:
        return f"{self.server.url}/dashboard"

    def open(self, path: str = "") -> Any:
        self.driver.get(self.base + path)
        self.shoot()
        return self.driver

    def shoot(self, label: str = "") -> Path:
        """A screenshot of the whole page (beyond the 1366 × 900 window, through DevTools)."""
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {
            "x": 0,
            "y": 0,
            "width": size["width"],
            "height": min(size["height"], 8000),
            "scale": 1,
        }
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        self.shots += 1
        page = re.sub(r"[^A-Za-z0-9]+", "-", self.driver.title.split(" · ")[0]).strip("-").lower()
        path = SHOTS / f"{self.name}-{self.shots:02d}-{page}{'-' + label if label else ''}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def submit(self, css: str) -> None:
        """Click a button (or link) and wait until the next page has loaded."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        old = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.find_element(By.CSS_SELECTOR, css).click()

        def replaced(_: Any) -> bool:
            # the old page is gone: its node is stale, or (mid-navigation) Chromium reports
            # it as not belonging to the document, a plain WebDriverException
            try:
                old.is_enabled()
            except WebDriverException:
                return True
            return False

        WebDriverWait(self.driver, 30).until(replaced)
        WebDriverWait(self.driver, 30).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )

    def sign_in(self, role: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.delete_all_cookies()
        self.driver.get(f"{self.base}/sign-in")
        self.driver.find_element(By.ID, "key").send_keys(self.server.keys[role])
        self.submit("main form button[type=submit]")

    def text(self, css: str = "main") -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.CSS_SELECTOR, css).text)

    def errors(self) -> str:
        from selenium.webdriver.common.by import By

        found = self.driver.find_elements(By.CSS_SELECTOR, ".errors")
        return str(found[0].text) if found else ""


@pytest.fixture
def browser(chrome: Any, demo_server: Server, request: pytest.FixtureRequest) -> Browser:
    chrome.delete_all_cookies()
    return Browser(chrome, demo_server, request.node.name.removeprefix("test_")[:40])


def record_csp_violations(driver: Any) -> None:
    """From the next page on, every content-security-policy violation is kept in
    ``window.__csp`` (as "directive: blocked URI")."""
    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "window.__csp = []; document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ': ' + e.blockedURI));"
        },
    )
