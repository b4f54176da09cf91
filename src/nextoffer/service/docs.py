"""The API's documentation page, ``/docs`` (Swagger UI), with its script and styles served by
the service itself from the ``fastapi-offline`` package: it works with no internet
(FastAPI's default loads them from a CDN, and the page stays blank offline). It has its own
content security policy: scripts from this service only (and the one inline script that
starts Swagger UI, by its hash), never framed. ReDoc is off (it loads its logo from the
internet); the OpenAPI document itself is at ``/openapi.json``."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "install"]

ASSETS = "/docs/assets"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _policy(html: str) -> str:
    """A CSP for ``html``: its own inline scripts (by hash) and this service's files only.
    Inline styles are allowed: Swagger UI sets them as it renders."""
    scripts = ["'self'"] + [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    ]
    return (
        f"default-src 'self'; script-src {' '.join(scripts)}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def _page(response: HTMLResponse) -> tuple[str, dict[str, str]]:
    html = bytes(response.body).decode()
    return html, {
        "Content-Security-Policy": _policy(html),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def install(app: FastAPI) -> None:
    """Serve ``/docs`` for ``app`` (made with ``docs_url=None, redoc_url=None``) from the
    packaged assets."""
    openapi = app.openapi_url or "/openapi.json"
    app.mount(
        ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets"
    )
    swagger = _page(
        get_swagger_ui_html(
            openapi_url=openapi,
            title=f"{app.title} · API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )
    )

    @app.get("/docs", include_in_schema=False)
    def _swagger() -> HTMLResponse:
        return HTMLResponse(swagger[0], headers=swagger[1])
