"""A service configured for HTTPS (behind a TLS proxy, say): the dashboard's cookies are
Secure, and a form posted from the https origin of this host passes the origin check."""

from __future__ import annotations

import httpx

from ..dashboard.signin import csrf_of
from .server import Server

SERVER_ENV = {"NEXTOFFER_ATTACH_REFRESH_SECONDS": "0", "NEXTOFFER_SECURE_COOKIES": "true"}


def test_the_cookies_are_secure_when_configured_for_https(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/dashboard/sign-in")
        assert "secure" in form.headers["set-cookie"].lower()
        host = server.url.removeprefix("http://")
        # what the browser sends back over HTTPS (httpx keeps a Secure cookie off plain HTTP)
        secret = form.cookies["nextoffer_sign_in"]
        done = client.post(
            "/dashboard/sign-in",
            data={"key": server.keys["approver"], "csrf_token": csrf_of(form.text)},
            headers={"Origin": f"https://{host}", "Sec-Fetch-Site": "same-origin",
                     "Cookie": f"nextoffer_sign_in={secret}"},
        )  # fmt: skip
    assert done.status_code == 303, done.text
    cookie = next(
        c for c in done.headers.get_list("set-cookie") if c.startswith("nextoffer_session=")
    )
    assert "; secure" in cookie.lower()
    assert "httponly" in cookie.lower()


def test_behind_a_proxy_the_forms_origin_is_the_public_host(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/dashboard/sign-in")
        secret = form.cookies["nextoffer_sign_in"]
        posted = {"key": server.keys["approver"], "csrf_token": csrf_of(form.text)}
        proxied = {"Origin": "https://nbo.example.com", "X-Forwarded-Host": "nbo.example.com",
                   "Cookie": f"nextoffer_sign_in={secret}"}  # fmt: skip
        assert client.post("/dashboard/sign-in", data=posted, headers=proxied).status_code == 303
        # another site's page is still another origin
        other = {**proxied, "Origin": "https://attacker.example"}
        assert client.post("/dashboard/sign-in", data=posted, headers=other).status_code == 403
