"""The dashboard's pages, under ``/dashboard``: server-rendered HTML forms over the same
services the API calls (so every check, including four-eyes, is the API's), with charts
drawn on the server and one small script for the rule editor's live validation.

The pages live in ``pages`` (one module per section); this module puts them under the
dashboard's prefix behind the CSRF guard, and ``install`` serves them with the security
headers, the static files and the sign-in redirect."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from .pages import ROUTERS
from .views import HERE, PREFIX, SecurityHeaders, SignInRequired, guard, sign_in_redirect

__all__ = ["install", "router"]

# every unsafe request passes the guard (this site's page, the session's CSRF token)
router = APIRouter(include_in_schema=False, dependencies=[Depends(guard)])
for _pages in ROUTERS:
    router.include_router(_pages, prefix=PREFIX)


def install(app: FastAPI) -> None:
    """Serve the dashboard from ``app`` (its pages, its static files, its error pages)."""
    app.include_router(router)
    app.add_middleware(SecurityHeaders)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        return sign_in_redirect(request)

    @app.get("/", include_in_schema=False)
    def _home() -> Response:
        return RedirectResponse(PREFIX, status_code=307)
