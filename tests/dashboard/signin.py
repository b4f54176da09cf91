"""Signing in to the dashboard as a browser does, for tests that speak HTTP themselves."""

from __future__ import annotations

import re

import httpx

_CSRF = re.compile(r'name="csrf-token" content="([^"]*)"')


def csrf_of(page: str) -> str:
    """The CSRF token a dashboard page gives its forms."""
    found = _CSRF.search(page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def signed_in(base_url: str, key: str) -> tuple[httpx.Client, str]:
    """A client signed in with ``key`` (its cookie jar holds the session) and the session's
    CSRF token, read from a page as a browser would."""
    client = httpx.Client(base_url=base_url, timeout=30)
    form = client.get("/dashboard/sign-in")
    assert form.status_code == 200, form.text
    done = client.post("/dashboard/sign-in", data={"key": key, "csrf_token": csrf_of(form.text)})
    assert done.status_code == 303, done.text
    page = client.get("/dashboard/rules")
    assert page.status_code == 200, page.text
    return client, csrf_of(page.text)
