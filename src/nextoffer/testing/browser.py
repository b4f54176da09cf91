"""Headless Chromium for the dashboard's tests, driven through ChromeDriver (Selenium).

``ensure_chromium()`` finds Debian's ``chromium`` and ``chromium-driver`` and installs them
with apt-get when they are absent (as ``postgres.install_server`` does for PostgreSQL).
``headless_chrome()`` starts the browser with no network beyond loopback: every other
address goes to a proxy that is not there (loopback is never proxied) and every host name
but 127.0.0.1 fails to resolve, so a page that needs the internet fails as it would
offline; no background connections, no component updates, a fresh profile, and no Selenium
Manager download (the driver's path is given).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..jobs.packages import can_install, install_packages

__all__ = ["BrowserUnavailable", "Chromium", "ensure_chromium", "headless_chrome"]

_PACKAGES = ("chromium", "chromium-driver")


class BrowserUnavailable(RuntimeError):
    """Chromium or ChromeDriver could not be found or installed."""


@dataclass(frozen=True)
class Chromium:
    browser: Path
    driver: Path


def _find() -> Chromium | None:
    browser = os.environ.get("NEXTOFFER_CHROMIUM") or shutil.which("chromium")
    driver = os.environ.get("NEXTOFFER_CHROMEDRIVER") or shutil.which("chromedriver")
    if browser and driver:
        return Chromium(Path(browser), Path(driver))
    return None


def ensure_chromium() -> Chromium:
    """Chromium and ChromeDriver, installing Debian's packages when they are absent."""
    found = _find()
    if found is not None:
        return found
    if not can_install():
        raise BrowserUnavailable(
            "chromium and chromedriver not found; install Debian's 'chromium' and "
            "'chromium-driver' packages, or set NEXTOFFER_CHROMIUM and NEXTOFFER_CHROMEDRIVER "
            "(automatic install needs root and apt-get)"
        )
    failed = install_packages(_PACKAGES)
    if failed is not None:
        raise BrowserUnavailable(failed)
    found = _find()
    if found is None:
        raise BrowserUnavailable(f"installed {' '.join(_PACKAGES)} but found no binaries")
    return found


def headless_chrome(chromium: Chromium, width: int = 1366, height: int = 900) -> Any:
    """A Selenium WebDriver for headless Chromium at a laptop's screen size."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium.browser)
    profile = tempfile.mkdtemp(prefix="nextoffer-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--proxy-server=http://127.0.0.1:9",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                 f"--user-data-dir={profile}", f"--window-size={width},{height}"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=str(chromium.driver)))
